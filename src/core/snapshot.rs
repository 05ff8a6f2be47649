//! Snapshots: a device's log compacted, so that the log does not grow without end.
//!
//! A device compacts **its own** log: the snapshot holding its segments `0..upto` is the merge of
//! what those segments say, recording by recording, and nothing else. It keeps the rule every
//! segment keeps (every edit stamp is the writing device's own), so readers check it exactly like a
//! segment, and reading a snapshot instead of the segments it covers leaves a reader in the same
//! state: fields are last-writer-wins registers, whose merge does not depend on order or grouping.
//!
//! One thing a reader learns from the order of segments is not a register: which take replaced
//! which (an audio version names the one its author saw, `base`). A device that recorded take A,
//! then saw the writer re-record it as B and B as C, must see B to know that C replaced its A
//! knowingly (no conflict copy). So a snapshot keeps every take of its writer, oldest first, each
//! as a change of its own, before the recording's merged change. A deleted recording keeps only its
//! takes and its tombstone: deletes are final, its other fields can never show again.
//!
//! A snapshot is split into parts of at most [`PART_CHANGES`] changes and under the readers'
//! [`MAX_SEGMENT_BYTES`]; readers apply a part in commits of at most
//! [`COMMIT_CHANGES`](super::limits::COMMIT_CHANGES), and move
//! their checkpoint to `upto` only once the last part is applied. The same log always compacts to
//! the same bytes, so a compaction redone after a crash writes what the first one did.
//!
//! ```
//! use tapesync::core::{device::DeviceId, fields::{Fields, Lww}, hlc::Hlc, id::RecordingId,
//!     log::Change, snapshot::{Compactor, SnapshotPart}};
//! let d = DeviceId::parse("d").unwrap();
//! let id = RecordingId::parse("r").unwrap();
//! let named = |v: &str, w| {
//!     let mut f = Fields::default();
//!     f.name = Some(Lww { value: v.into(), at: Hlc::new(w, 0, d.clone()) });
//!     Change { id: id.clone(), fields: f }
//! };
//! let mut c = Compactor::new(d.clone(), 2);
//! c.add(&[named("second", 2)]); // segment 1, read first
//! c.add(&[named("first", 1)]); // segment 0
//! let parts = c.parts();
//! assert_eq!(parts.len(), 1);
//! let back = SnapshotPart::decode(&parts[0].encode(), &d, 2, 0).unwrap();
//! assert_eq!(back.changes[0].fields.name.as_ref().unwrap().value, "second");
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::device::DeviceId;
use super::fields::{AudioVersion, Fields};
use super::id::RecordingId;
use super::limits::{self, MAX_CHANGES, MAX_SEGMENT_BYTES};
use super::log::{check_changes, check_envelope, BadSegment, Change};

/// The snapshot format this release writes and reads.
pub const FORMAT: u32 = 1;
/// The most changes in one part.
pub const PART_CHANGES: usize = 4 * MAX_CHANGES;
/// The most parts a snapshot may have (a reader refuses more: 2 million changes).
pub const MAX_PARTS: u32 = 1_000;
/// Custom keys per change of a snapshot: a recording whose merged fields hold more (keys set and
/// removed over time) is carried by several changes.
const CUSTOM_PER_CHANGE: usize = 128;

/// One part of a snapshot of `device`'s log covering its segments `0..upto`. In JSON:
/// `{"v":1,"device":"d","upto":64,"part":0,"parts":3,"changes":[...]}`.
///
/// ```
/// use tapesync::core::{device::DeviceId, snapshot::SnapshotPart};
/// let d = DeviceId::parse("d").unwrap();
/// let p = SnapshotPart::new(d.clone(), 64, 0, 1, vec![]);
/// assert_eq!(String::from_utf8(p.encode()).unwrap(), r#"{"v":1,"device":"d","upto":64,"part":0,"parts":1,"changes":[]}"#);
/// assert!(SnapshotPart::decode(&p.encode(), &d, 63, 0).is_err()); // stored under another name
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotPart {
    /// The format version, [`FORMAT`].
    pub v: u32,
    /// The device whose log this is.
    pub device: DeviceId,
    /// The snapshot covers the device's segments `0..upto`.
    pub upto: u64,
    /// This part's number, `0..parts`.
    pub part: u32,
    /// How many parts the snapshot has.
    pub parts: u32,
    /// The changes, applied in order.
    pub changes: Vec<Change>,
}

impl SnapshotPart {
    /// A part of the current format.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, snapshot::{SnapshotPart, FORMAT}};
    /// assert_eq!(SnapshotPart::new(DeviceId::parse("d").unwrap(), 1, 0, 1, vec![]).v, FORMAT);
    /// ```
    pub fn new(device: DeviceId, upto: u64, part: u32, parts: u32, changes: Vec<Change>) -> Self {
        SnapshotPart {
            v: FORMAT,
            device,
            upto,
            part,
            parts,
            changes,
        }
    }

    /// The part as JSON bytes, the same bytes for the same part.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, snapshot::SnapshotPart};
    /// let p = SnapshotPart::new(DeviceId::parse("d").unwrap(), 1, 0, 1, vec![]);
    /// assert_eq!(p.encode(), p.clone().encode());
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        // Plain structs, strings, numbers and BTreeMaps always serialise.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads part `part` of `device`'s snapshot up to `upto`, checking it like a segment: its
    /// size, format, name, counts, and that every stamp is `device`'s.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, snapshot::SnapshotPart};
    /// let d = DeviceId::parse("d").unwrap();
    /// let forged = br#"{"v":1,"device":"d","upto":1,"part":0,"parts":1,"changes":[{"id":"r","fields":{"name":{"v":"x","at":[1,0,"e"]}}}]}"#;
    /// assert!(SnapshotPart::decode(forged, &d, 1, 0).is_err()); // another device's stamp
    /// let bad = br#"{"v":1,"device":"d","upto":1,"part":2,"parts":2,"changes":[]}"#;
    /// assert!(SnapshotPart::decode(bad, &d, 1, 2).is_err()); // part beyond the count
    /// ```
    pub fn decode(
        bytes: &[u8],
        device: &DeviceId,
        upto: u64,
        part: u32,
    ) -> Result<SnapshotPart, BadSegment> {
        check_envelope(bytes, FORMAT)?;
        let mut p: SnapshotPart =
            serde_json::from_slice(bytes).map_err(|e| BadSegment::Malformed(e.to_string()))?;
        if &p.device != device || p.upto != upto || p.part != part {
            return Err(BadSegment::Invalid(format!(
                "stored as snapshot {device}/{upto} part {part} but says {}/{} part {}",
                p.device, p.upto, p.part
            )));
        }
        if p.parts == 0 || p.part >= p.parts || p.parts > MAX_PARTS {
            return Err(BadSegment::Invalid(format!(
                "part {} of {} (at most {MAX_PARTS})",
                p.part, p.parts
            )));
        }
        if p.changes.len() > PART_CHANGES {
            return Err(BadSegment::Invalid(format!(
                "{} changes, at most {PART_CHANGES}",
                p.changes.len()
            )));
        }
        check_changes(&mut p.changes, device)?;
        Ok(p)
    }
}

#[derive(Clone, Debug, Default)]
struct Acc {
    fields: Fields,
    /// Every take of the writer seen, by stamp.
    takes: BTreeMap<super::hlc::Hlc, AudioVersion>,
}

/// Builds a snapshot of `device`'s log from what it held: the previous snapshot's parts and the
/// segments after it, added in any order (the result does not depend on it).
///
/// ```
/// use tapesync::core::{device::DeviceId, snapshot::Compactor};
/// let parts = Compactor::new(DeviceId::parse("d").unwrap(), 0).parts();
/// assert_eq!((parts.len(), parts[0].parts, parts[0].changes.len()), (1, 1, 0));
/// ```
#[derive(Clone, Debug)]
pub struct Compactor {
    device: DeviceId,
    upto: u64,
    per: BTreeMap<RecordingId, Acc>,
}

impl Compactor {
    /// A snapshot of `device`'s segments `0..upto`, empty so far.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, snapshot::Compactor};
    /// assert!(Compactor::new(DeviceId::parse("d").unwrap(), 4).is_empty());
    /// ```
    pub fn new(device: DeviceId, upto: u64) -> Self {
        Compactor {
            device,
            upto,
            per: BTreeMap::new(),
        }
    }

    /// Adds changes of the log (from a segment or a part of an earlier snapshot).
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, fields::Fields, id::RecordingId, log::Change, snapshot::Compactor};
    /// let mut c = Compactor::new(DeviceId::parse("d").unwrap(), 1);
    /// c.add(&[Change { id: RecordingId::parse("r").unwrap(), fields: Fields::default() }]);
    /// assert_eq!(c.len(), 1);
    /// c.clear();
    /// assert!(c.is_empty());
    /// ```
    pub fn add(&mut self, changes: &[Change]) {
        for c in changes {
            let acc = self.per.entry(c.id.clone()).or_default();
            acc.fields.merge(&c.fields);
            if let Some(a) = &c.fields.audio {
                acc.takes.insert(a.at.clone(), a.clone());
            }
        }
    }

    /// Forgets what was added (once the parts are built, to free the memory).
    pub fn clear(&mut self) {
        self.per.clear();
    }

    /// How many recordings it holds.
    pub fn len(&self) -> usize {
        self.per.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.per.is_empty()
    }

    /// The snapshot's parts, in order (at least one, so that readers find part 0).
    pub fn parts(&self) -> Vec<SnapshotPart> {
        let mut changes = Vec::new();
        for (id, acc) in &self.per {
            changes.extend(recording_changes(id, acc));
        }
        // Pack in order, by count and by encoded size (with room for the part's own fields).
        let overhead =
            SnapshotPart::new(self.device.clone(), self.upto, u32::MAX, u32::MAX, vec![])
                .encode()
                .len();
        let mut parts: Vec<Vec<Change>> = vec![Vec::new()];
        let mut bytes = overhead;
        for c in changes {
            let len = limits::encoded_len(&c) + 1;
            let cur = parts.len() - 1;
            if !parts[cur].is_empty()
                && (parts[cur].len() >= PART_CHANGES || bytes + len > MAX_SEGMENT_BYTES)
            {
                parts.push(Vec::new());
                bytes = overhead;
            }
            bytes += len;
            let cur = parts.len() - 1;
            parts[cur].push(c);
        }
        let n = parts.len() as u32;
        parts
            .into_iter()
            .enumerate()
            .map(|(i, changes)| {
                SnapshotPart::new(self.device.clone(), self.upto, i as u32, n, changes)
            })
            .collect()
    }
}

/// One recording's changes in a snapshot: the writer's earlier takes, oldest first, then the
/// merged fields (split when they hold many custom keys).
fn recording_changes(id: &RecordingId, acc: &Acc) -> Vec<Change> {
    let mut out = Vec::new();
    let winner = acc.fields.audio.as_ref().map(|a| &a.at);
    for (at, take) in &acc.takes {
        if Some(at) != winner {
            out.push(Change {
                id: id.clone(),
                fields: Fields {
                    audio: Some(take.clone()),
                    ..Fields::default()
                },
            });
        }
    }
    let f = &acc.fields;
    if f.deleted.is_some() {
        out.push(Change {
            id: id.clone(),
            fields: Fields {
                audio: f.audio.clone(),
                deleted: f.deleted.clone(),
                ..Fields::default()
            },
        });
        return out;
    }
    let mut first = f.clone();
    let mut custom = std::mem::take(&mut first.custom).into_iter().peekable();
    first.custom = custom.by_ref().take(CUSTOM_PER_CHANGE).collect();
    out.push(Change {
        id: id.clone(),
        fields: first,
    });
    while custom.peek().is_some() {
        out.push(Change {
            id: id.clone(),
            fields: Fields {
                custom: custom.by_ref().take(CUSTOM_PER_CHANGE).collect(),
                ..Fields::default()
            },
        });
    }
    out
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default)]
mod tests {
    use super::*;
    use crate::core::fields::{AudioRef, ContentHash, Lww, Tombstone};
    use crate::core::hlc::Hlc;

    fn d() -> DeviceId {
        DeviceId::parse("d").unwrap()
    }

    fn take(n: u8, w: u64, base: Option<Hlc>) -> AudioVersion {
        AudioVersion {
            audio: AudioRef {
                hash: ContentHash::parse(&format!("{n:02x}").repeat(32)).unwrap(),
                size: 1,
                mime_type: "audio/ogg".into(),
            },
            at: Hlc::new(w, 0, d()),
            base,
        }
    }

    #[test]
    fn takes_are_kept_oldest_first_and_deleted_recordings_lose_their_metadata() {
        let id = RecordingId::parse("r").unwrap();
        let mut c = Compactor::new(d(), 3);
        let t1 = take(1, 10, None);
        let t2 = take(2, 20, Some(t1.at.clone()));
        let mut f = Fields::default();
        f.audio = Some(t2.clone());
        f.name = Some(Lww {
            value: "x".into(),
            at: Hlc::new(20, 0, d()),
        });
        c.add(&[Change {
            id: id.clone(),
            fields: f,
        }]);
        let mut g = Fields::default();
        g.audio = Some(t1.clone());
        c.add(&[Change {
            id: id.clone(),
            fields: g,
        }]);
        let parts = c.parts();
        let ch = &parts[0].changes;
        assert_eq!(ch.len(), 2);
        assert_eq!(ch[0].fields.audio.as_ref(), Some(&t1));
        assert_eq!(ch[1].fields.audio.as_ref(), Some(&t2));
        let mut del = Fields::default();
        del.deleted = Some(Tombstone {
            at: Hlc::new(30, 0, d()),
            seen_audio: Some(t2.at.clone()),
        });
        c.add(&[Change {
            id: id.clone(),
            fields: del,
        }]);
        let parts = c.parts();
        let last = parts[0].changes.last().unwrap();
        assert!(last.fields.deleted.is_some() && last.fields.name.is_none());
    }

    #[test]
    fn parts_stay_under_the_caps_and_round_trip() {
        let mut c = Compactor::new(d(), 9);
        for i in 0..(PART_CHANGES * 2 + 7) {
            let mut f = Fields::default();
            f.name = Some(Lww {
                value: "n".repeat(100),
                at: Hlc::new(i as u64, 0, d()),
            });
            for k in 0..3 {
                f.custom.insert(
                    format!("k{k}"),
                    Lww {
                        value: Some(serde_json::json!(i)),
                        at: Hlc::new(i as u64, 0, d()),
                    },
                );
            }
            c.add(&[Change {
                id: RecordingId::parse(&format!("r{i:06}")).unwrap(),
                fields: f,
            }]);
        }
        let parts = c.parts();
        assert_eq!(parts.len(), 3);
        for p in &parts {
            let bytes = p.encode();
            assert!(bytes.len() <= MAX_SEGMENT_BYTES);
            assert_eq!(SnapshotPart::decode(&bytes, &d(), 9, p.part).unwrap(), *p);
        }
        // Many custom keys: split over changes the readers accept.
        let mut c = Compactor::new(d(), 1);
        let mut f = Fields::default();
        for k in 0..(limits::CUSTOM_KEYS * 2) {
            f.custom.insert(
                format!("k{k}"),
                Lww {
                    value: None,
                    at: Hlc::new(1, 0, d()),
                },
            );
        }
        c.add(&[Change {
            id: RecordingId::parse("r").unwrap(),
            fields: f,
        }]);
        let p = &c.parts()[0];
        assert_eq!(p.changes.len(), 4);
        SnapshotPart::decode(&p.encode(), &d(), 1, 0).unwrap();
    }

    #[test]
    fn corrupt_parts_are_error_values() {
        let p = SnapshotPart::new(d(), 5, 0, 1, vec![]);
        let bytes = p.encode();
        for n in 0..bytes.len() {
            assert!(SnapshotPart::decode(&bytes[..n], &d(), 5, 0).is_err());
        }
        assert!(matches!(
            SnapshotPart::decode(br#"{"v":2}"#, &d(), 5, 0),
            Err(BadSegment::NewerFormat(2))
        ));
    }
}
