//! The change log: what a device publishes, one segment at a time, and how segments are encoded.
//!
//! A segment is a batch of changes, each the set of fields one recording's edit touched, with their
//! stamps. Segments are JSON so that they can be read with any tool while debugging, and they are
//! small (a rename is a few hundred bytes). Decoding never trusts the input: anything that does not
//! parse or breaks a rule (wrong device, foreign stamps, values beyond the limits) is an error value.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::device::DeviceId;
use super::fields::Fields;
use super::id::RecordingId;

/// The segment format this release writes and reads.
pub const FORMAT: u32 = 1;

/// The most changes in one segment and the largest segment read (see [`crate::core::limits`]):
/// writers split segments by both.
pub use super::limits::{MAX_CHANGES, MAX_SEGMENT_BYTES};

/// One recording's change: the fields an edit (or several) touched.
///
/// ```
/// use tapesync::core::{fields::Fields, id::RecordingId, log::Change};
/// let c = Change { id: RecordingId::parse("r1").unwrap(), fields: Fields::default() };
/// assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"id":"r1","fields":{}}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The recording.
    pub id: RecordingId,
    /// The fields written, with their stamps.
    pub fields: Fields,
}

/// A log segment: changes published by one device under one sequence number.
///
/// ```
/// use tapesync::core::{device::DeviceId, log::Segment};
/// let dev = DeviceId::parse("d1").unwrap();
/// let seg = Segment::new(dev.clone(), 0, vec![]);
/// let bytes = seg.encode();
/// assert_eq!(Segment::decode(&bytes, &dev, 0).unwrap(), seg);
/// assert!(Segment::decode(&bytes, &dev, 1).is_err()); // named 1 but says 0
/// assert!(Segment::decode(b"garbage", &dev, 0).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// The format version, [`FORMAT`].
    pub v: u32,
    /// The device that wrote it.
    pub device: DeviceId,
    /// Its place in that device's log.
    pub seq: u64,
    /// The changes.
    pub changes: Vec<Change>,
}

/// Why a segment could not be read.
///
/// ```
/// use tapesync::core::{device::DeviceId, log::{Segment, BadSegment}};
/// let dev = DeviceId::parse("d").unwrap();
/// let e = Segment::decode(br#"{"v":2,"device":"d","seq":0,"changes":[]}"#, &dev, 0).unwrap_err();
/// assert!(matches!(e, BadSegment::NewerFormat(2)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadSegment {
    /// Not JSON of the segment's shape.
    Malformed(String),
    /// Written by a newer release of tapesync: this device must be updated to read it.
    NewerFormat(u32),
    /// Larger than [`MAX_SEGMENT_BYTES`].
    TooLarge(usize),
    /// Its content breaks a rule (wrong device or sequence number, foreign stamps, limits).
    Invalid(String),
}

impl fmt::Display for BadSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadSegment::Malformed(m) => write!(f, "unreadable log segment: {m}"),
            BadSegment::NewerFormat(v) => write!(
                f,
                "log segment format {v} is newer than this release reads ({FORMAT}): update tapesync"
            ),
            BadSegment::TooLarge(n) => write!(f, "log segment of {n} bytes is too large"),
            BadSegment::Invalid(m) => write!(f, "invalid log segment: {m}"),
        }
    }
}

impl std::error::Error for BadSegment {}

impl Segment {
    /// A segment of the current format.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, log::{Segment, FORMAT}};
    /// assert_eq!(Segment::new(DeviceId::parse("d").unwrap(), 3, vec![]).v, FORMAT);
    /// ```
    pub fn new(device: DeviceId, seq: u64, changes: Vec<Change>) -> Self {
        Segment {
            v: FORMAT,
            device,
            seq,
            changes,
        }
    }

    /// The segment as JSON bytes. The same segment always encodes to the same bytes, which is what
    /// makes re-uploading it after a lost response harmless.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, log::Segment};
    /// let s = Segment::new(DeviceId::parse("d").unwrap(), 1, vec![]);
    /// assert_eq!(s.encode(), s.clone().encode());
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain structs, strings, numbers and BTreeMaps cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads the segment stored as `device`'s number `seq`, checking it against every rule.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, log::Segment};
    /// let d = DeviceId::parse("d").unwrap();
    /// let forged = br#"{"v":1,"device":"d","seq":0,"changes":[{"id":"r","fields":{"name":{"v":"x","at":[1,0,"e"]}}}]}"#;
    /// assert!(Segment::decode(forged, &d, 0).is_err()); // an edit stamped by another device
    /// ```
    pub fn decode(bytes: &[u8], device: &DeviceId, seq: u64) -> Result<Segment, BadSegment> {
        check_envelope(bytes, FORMAT)?;
        let mut seg: Segment =
            serde_json::from_slice(bytes).map_err(|e| BadSegment::Malformed(e.to_string()))?;
        if &seg.device != device || seg.seq != seq {
            return Err(BadSegment::Invalid(format!(
                "stored as {device}/{seq} but says {}/{}",
                seg.device, seg.seq
            )));
        }
        if seg.changes.len() > MAX_CHANGES {
            return Err(BadSegment::Invalid(format!(
                "{} changes, at most {MAX_CHANGES}",
                seg.changes.len()
            )));
        }
        check_changes(&mut seg.changes, device)?;
        Ok(seg)
    }
}

/// The checks every object of a log (a segment, a snapshot part) gets before it is parsed: at most
/// [`MAX_SEGMENT_BYTES`], and written in `format` (a newer one is `NewerFormat`: that device waits).
pub(crate) fn check_envelope(bytes: &[u8], format: u32) -> Result<(), BadSegment> {
    if bytes.len() > MAX_SEGMENT_BYTES {
        return Err(BadSegment::TooLarge(bytes.len()));
    }
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    let version: Version =
        serde_json::from_slice(bytes).map_err(|e| BadSegment::Malformed(e.to_string()))?;
    if version.v > format {
        return Err(BadSegment::NewerFormat(version.v));
    }
    if version.v != format {
        return Err(BadSegment::Invalid(format!("unknown format {}", version.v)));
    }
    Ok(())
}

/// Checks changes read from `device`'s log (a segment or a snapshot part) against the readers'
/// rules, and keeps another device's word for a type only if it is audio (see `audio_type`).
pub(crate) fn check_changes(changes: &mut [Change], device: &DeviceId) -> Result<(), BadSegment> {
    for c in changes.iter() {
        c.fields
            .validate(device)
            .map_err(|m| BadSegment::Invalid(format!("recording {}: {m}", c.id)))?;
    }
    for c in changes.iter_mut() {
        if let Some(v) = c.fields.audio.as_mut() {
            let kept = super::audio_type::audio_mime(&v.audio.mime_type);
            if kept != v.audio.mime_type {
                v.audio.mime_type = kept.to_owned();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default)] // tests build fields one by one for clarity
mod tests {
    use super::*;
    use crate::core::fields::{AudioRef, AudioVersion, ContentHash, Lww, Tombstone};
    use crate::core::hlc::Hlc;

    fn seg() -> Segment {
        let d = DeviceId::parse("d").unwrap();
        let at = Hlc::new(1_700_000_000_000, 2, d.clone());
        let mut f = Fields::default();
        f.name = Some(Lww {
            value: "take \"1\" ✓".into(),
            at: at.clone(),
        });
        f.duration_ms = Some(Lww {
            value: Some(1234.5),
            at: at.clone(),
        });
        f.custom.insert(
            "nested".into(),
            Lww {
                value: Some(serde_json::json!({"a": [1, null, "x"]})),
                at: at.clone(),
            },
        );
        f.audio = Some(AudioVersion {
            audio: AudioRef {
                hash: ContentHash::parse(&"f".repeat(64)).unwrap(),
                size: u64::MAX,
                mime_type: "audio/webm;codecs=opus".into(),
            },
            at: at.clone(),
            base: Some(Hlc::new(1, 0, DeviceId::parse("other").unwrap())),
        });
        let mut g = Fields::default();
        g.deleted = Some(Tombstone {
            at,
            seen_audio: Some(Hlc::new(1, 0, DeviceId::parse("other").unwrap())),
        });
        Segment::new(
            d,
            7,
            vec![
                Change {
                    id: RecordingId::parse("r1").unwrap(),
                    fields: f,
                },
                Change {
                    id: RecordingId::parse("r2").unwrap(),
                    fields: g,
                },
            ],
        )
    }

    #[test]
    fn segments_round_trip_byte_for_byte() {
        let s = seg();
        let bytes = s.encode();
        let back = Segment::decode(&bytes, &s.device, 7).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn a_type_that_is_not_audio_is_read_as_octet_stream() {
        let mut s = seg();
        if let Some(v) = s.changes[0].fields.audio.as_mut() {
            v.audio.mime_type = "text/html".into();
        }
        let back = Segment::decode(&s.encode(), &s.device, 7).unwrap();
        let audio = back.changes[0].fields.audio.as_ref().unwrap();
        assert_eq!(audio.audio.mime_type, "application/octet-stream");
        // Audio types and MediaRecorder's containers are kept as given.
        assert_eq!(
            Segment::decode(&seg().encode(), &s.device, 7).unwrap(),
            seg()
        );
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_value() {
        let s = seg();
        let bytes = s.encode();
        for n in 0..bytes.len() {
            assert!(Segment::decode(&bytes[..n], &s.device, 7).is_err());
        }
        // Flip bytes one at a time: decoding must never panic; most flips are errors.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x55;
            let _ = Segment::decode(&b, &s.device, 7);
        }
        let big = vec![b' '; MAX_SEGMENT_BYTES + 1];
        assert!(matches!(
            Segment::decode(&big, &s.device, 7),
            Err(BadSegment::TooLarge(_))
        ));
    }
}
