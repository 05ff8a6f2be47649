//! Where things live in the cloud: pure functions from ids to object keys and back.
//!
//! ```text
//! {prefix}/blobs/{recordingId}/{contentHash}       audio, immutable: same key, same bytes
//! {prefix}/log/{deviceId}/{seq:020}.json           one device's change log, append-only segments
//! {prefix}/log/{deviceId}.snap-{upto:020}/{part:020}.json
//!                                                  that log compacted: segments 0..upto, in parts
//! ```
//!
//! A snapshot's folder sits next to the device's own folder, so the listing of `log/` that every
//! pull makes anyway shows which snapshots exist (device ids hold no `.`, so a snapshot folder is
//! never taken for a device). Only device `d` writes or deletes `log/d/` and `log/d.snap-*/`.
//!
//! Every object is written once and never overwritten with different bytes, so the layout is correct
//! on a backend without conditional writes (Firebase Storage's web API): a repeated upload after a
//! lost response writes the same bytes again, and no two devices ever write the same key with
//! different content (only device `d` writes `log/d/`, and a blob key names its content). Sequence
//! numbers are zero-padded to 20 digits, the width of `u64::MAX`, so names sort in log order.
//!
//! The HTTP adapters usually apply the app's prefix themselves; then the engine uses
//! [`Layout::default`], whose keys are relative to that prefix.

use std::fmt;

use super::device::DeviceId;
use super::fields::ContentHash;
use super::id::RecordingId;

/// The folder of audio blobs, under the prefix.
pub const BLOBS: &str = "blobs";
/// The folder of device logs, under the prefix.
pub const LOG: &str = "log";
/// Digits in a segment's sequence number.
pub const SEQ_DIGITS: usize = 20;

/// The remote layout under one prefix.
///
/// ```
/// use tapesync::core::{device::DeviceId, fields::ContentHash, id::RecordingId, layout::{Layout, RemoteKey}};
/// let layout = Layout::new("users/u1/tapesync").unwrap();
/// let id = RecordingId::parse("r1").unwrap();
/// let hash = ContentHash::parse(&"a".repeat(64)).unwrap();
/// let key = layout.blob_key(&id, &hash);
/// assert_eq!(key, format!("users/u1/tapesync/blobs/r1/{}", "a".repeat(64)));
/// assert_eq!(layout.parse(&key), Some(RemoteKey::Blob { recording: id, hash }));
/// let dev = DeviceId::parse("d1").unwrap();
/// assert_eq!(layout.segment_key(&dev, 42), "users/u1/tapesync/log/d1/00000000000000000042.json");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    prefix: String,
}

/// Why a prefix is not usable.
///
/// ```
/// use tapesync::core::layout::Layout;
/// assert!(Layout::new("/abs").is_err());
/// assert!(Layout::new("a//b").is_err());
/// assert!(Layout::new("a/../b").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadPrefix(pub String);

impl fmt::Display for BadPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the remote prefix {:?} must be folder names from [A-Za-z0-9_.-] separated by single '/', \
             without a leading or trailing '/' or a '.'/'..' folder",
            self.0
        )
    }
}

impl std::error::Error for BadPrefix {}

/// What a remote key is, once parsed.
///
/// ```
/// use tapesync::core::{device::DeviceId, layout::{Layout, RemoteKey}};
/// let l = Layout::default();
/// assert_eq!(
///     l.parse("log/d1/00000000000000000007.json"),
///     Some(RemoteKey::Segment { device: DeviceId::parse("d1").unwrap(), seq: 7 })
/// );
/// assert_eq!(l.parse("log/d1/7.json"), None); // not the canonical name
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteKey {
    /// An audio blob.
    Blob {
        /// The recording it belongs to.
        recording: RecordingId,
        /// The hash of its bytes.
        hash: ContentHash,
    },
    /// A log segment.
    Segment {
        /// The device that wrote it.
        device: DeviceId,
        /// Its sequence number in that device's log.
        seq: u64,
    },
    /// A part of a snapshot of a device's log.
    SnapshotPart {
        /// The device that wrote it.
        device: DeviceId,
        /// The snapshot covers that device's segments `0..upto`.
        upto: u64,
        /// Which part.
        part: u64,
    },
}

/// What separates a device id from `snap-{upto}` in a snapshot folder's name.
pub const SNAPSHOT_MARK: &str = ".snap-";

impl Layout {
    /// A layout under `prefix` (`""` for keys relative to the remote's own prefix): folders of
    /// letters, digits, `-`, `_`, `.` and `:` (identity providers' user ids, e.g. Cognito's
    /// `eu-west-1:7d3c...`; every backend's keys allow it).
    ///
    /// ```
    /// use tapesync::core::layout::Layout;
    /// assert_eq!(Layout::new("").unwrap(), Layout::default());
    /// assert!(Layout::new("users/eu-west-1:7d3c-42/recordings").is_ok());
    /// assert!(Layout::new("users/../x").is_err());
    /// assert!(Layout::new("users/a b").is_err());
    /// ```
    pub fn new(prefix: &str) -> Result<Self, BadPrefix> {
        if !prefix.is_empty() {
            let ok = prefix.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')
                    })
            });
            if !ok {
                return Err(BadPrefix(prefix.to_owned()));
            }
        }
        Ok(Layout {
            prefix: prefix.to_owned(),
        })
    }

    fn join(&self, rest: &str) -> String {
        if self.prefix.is_empty() {
            rest.to_owned()
        } else {
            format!("{}/{rest}", self.prefix)
        }
    }

    /// The key of a recording's audio with content `hash`.
    ///
    /// ```
    /// use tapesync::core::{fields::ContentHash, id::RecordingId, layout::Layout};
    /// let k = Layout::default().blob_key(&RecordingId::parse("r").unwrap(), &ContentHash::parse(&"0".repeat(64)).unwrap());
    /// assert!(k.starts_with("blobs/r/"));
    /// ```
    pub fn blob_key(&self, recording: &RecordingId, hash: &ContentHash) -> String {
        self.join(&format!("{BLOBS}/{recording}/{hash}"))
    }

    /// The folder holding one folder per device log.
    ///
    /// ```
    /// use tapesync::core::layout::Layout;
    /// assert_eq!(Layout::new("p").unwrap().log_folder(), "p/log");
    /// ```
    pub fn log_folder(&self) -> String {
        self.join(LOG)
    }

    /// The key of segment `seq` of `device`'s log.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, layout::Layout};
    /// let k = Layout::default().segment_key(&DeviceId::parse("d").unwrap(), u64::MAX);
    /// assert_eq!(k, "log/d/18446744073709551615.json");
    /// ```
    pub fn segment_key(&self, device: &DeviceId, seq: u64) -> String {
        self.join(&format!(
            "{LOG}/{device}/{seq:0width$}.json",
            width = SEQ_DIGITS
        ))
    }

    /// The device whose log folder a listing of [`Layout::log_folder`] returned, if the name is one.
    ///
    /// Listings give folder names relative to the folder listed; a full key or a trailing `/` are
    /// accepted too, since backends differ.
    ///
    /// ```
    /// use tapesync::core::layout::Layout;
    /// let l = Layout::new("p").unwrap();
    /// assert_eq!(l.device_folder("d1").unwrap().as_str(), "d1");
    /// assert_eq!(l.device_folder("p/log/d1/").unwrap().as_str(), "d1");
    /// assert!(l.device_folder("d/1").is_none());
    /// ```
    pub fn device_folder(&self, name: &str) -> Option<DeviceId> {
        let folder = self.log_folder();
        let name = name.strip_suffix('/').unwrap_or(name);
        let rel = name
            .strip_prefix(folder.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(name);
        DeviceId::parse(rel).ok()
    }

    /// The folder of the snapshot of `device`'s log that covers its segments `0..upto`.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, layout::Layout};
    /// let f = Layout::new("p").unwrap().snapshot_folder(&DeviceId::parse("d").unwrap(), 64);
    /// assert_eq!(f, "p/log/d.snap-00000000000000000064");
    /// ```
    pub fn snapshot_folder(&self, device: &DeviceId, upto: u64) -> String {
        self.join(&format!(
            "{LOG}/{device}{SNAPSHOT_MARK}{upto:0width$}",
            width = SEQ_DIGITS
        ))
    }

    /// The folder of `device`'s own segments.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, layout::Layout};
    /// assert_eq!(Layout::default().device_log(&DeviceId::parse("d").unwrap()), "log/d");
    /// ```
    pub fn device_log(&self, device: &DeviceId) -> String {
        self.join(&format!("{LOG}/{device}"))
    }

    /// The key of part `part` of that snapshot. Parts are named like segments (20 digits, `.json`),
    /// so bucket rules written for segments accept them.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, layout::{Layout, RemoteKey}};
    /// let (l, d) = (Layout::default(), DeviceId::parse("d").unwrap());
    /// let k = l.snapshot_key(&d, 64, 1);
    /// assert_eq!(k, "log/d.snap-00000000000000000064/00000000000000000001.json");
    /// assert_eq!(l.parse(&k), Some(RemoteKey::SnapshotPart { device: d, upto: 64, part: 1 }));
    /// ```
    pub fn snapshot_key(&self, device: &DeviceId, upto: u64, part: u64) -> String {
        format!(
            "{}/{part:0width$}.json",
            self.snapshot_folder(device, upto),
            width = SEQ_DIGITS
        )
    }

    /// The device and coverage of a snapshot folder a listing of [`Layout::log_folder`] returned,
    /// if the name is one (relative, full or with a trailing `/`, as for [`Layout::device_folder`]).
    ///
    /// ```
    /// use tapesync::core::layout::Layout;
    /// let l = Layout::new("p").unwrap();
    /// let (d, upto) = l.snapshot_of("p/log/d1.snap-00000000000000000064/").unwrap();
    /// assert_eq!((d.as_str(), upto), ("d1", 64));
    /// assert!(l.snapshot_of("d1").is_none());
    /// assert!(l.snapshot_of("d1.snap-64").is_none()); // not 20 digits
    /// ```
    pub fn snapshot_of(&self, name: &str) -> Option<(DeviceId, u64)> {
        let folder = self.log_folder();
        let name = name.strip_suffix('/').unwrap_or(name);
        let rel = name
            .strip_prefix(folder.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(name);
        let (device, digits) = rel.split_once(SNAPSHOT_MARK)?;
        Some((DeviceId::parse(device).ok()?, parse_digits(digits)?))
    }

    /// The number a listing's object name (`{20 digits}.json`, relative or a full key) stands
    /// for: a segment's sequence number in a device's folder, a part's in a snapshot's.
    ///
    /// ```
    /// use tapesync::core::layout::Layout;
    /// assert_eq!(Layout::name_number("log/d/00000000000000000007.json"), Some(7));
    /// assert_eq!(Layout::name_number("7.json"), None);
    /// ```
    pub fn name_number(name: &str) -> Option<u64> {
        let last = name.rsplit('/').next()?;
        parse_digits(last.strip_suffix(".json")?)
    }

    /// Parses a full key of this layout.
    ///
    /// ```
    /// use tapesync::core::layout::Layout;
    /// assert_eq!(Layout::default().parse("blobs/r1/xyz"), None); // not a hash
    /// assert_eq!(Layout::new("p").unwrap().parse("q/log/d/00000000000000000000.json"), None);
    /// ```
    pub fn parse(&self, key: &str) -> Option<RemoteKey> {
        let rest = if self.prefix.is_empty() {
            key
        } else {
            key.strip_prefix(self.prefix.as_str())?.strip_prefix('/')?
        };
        let mut parts = rest.split('/');
        let (kind, a, b) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        match kind {
            BLOBS => Some(RemoteKey::Blob {
                recording: RecordingId::parse(a).ok()?,
                hash: ContentHash::parse(b).ok()?,
            }),
            LOG => {
                let n = parse_digits(b.strip_suffix(".json")?)?;
                if let Some((device, upto)) = a.split_once(SNAPSHOT_MARK) {
                    return Some(RemoteKey::SnapshotPart {
                        device: DeviceId::parse(device).ok()?,
                        upto: parse_digits(upto)?,
                        part: n,
                    });
                }
                Some(RemoteKey::Segment {
                    device: DeviceId::parse(a).ok()?,
                    seq: n,
                })
            }
            _ => None,
        }
    }
}

/// A number written in exactly [`SEQ_DIGITS`] digits.
fn parse_digits(digits: &str) -> Option<u64> {
    if digits.len() != SEQ_DIGITS || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sort_in_log_order() {
        for prefix in ["", "p", "users/u-1/app.v2"] {
            let l = Layout::new(prefix).unwrap();
            let dev = DeviceId::parse("dev_1").unwrap();
            let mut names: Vec<String> = [0u64, 9, 10, 99, 100, 12345, u64::MAX]
                .iter()
                .map(|&s| l.segment_key(&dev, s))
                .collect();
            let sorted = names.clone();
            names.sort();
            assert_eq!(names, sorted);
            for (k, s) in names.iter().zip([0u64, 9, 10, 99, 100, 12345, u64::MAX]) {
                assert_eq!(
                    l.parse(k),
                    Some(RemoteKey::Segment {
                        device: dev.clone(),
                        seq: s
                    })
                );
            }
        }
    }

    #[test]
    fn garbage_keys_parse_to_nothing() {
        let l = Layout::default();
        for k in [
            "",
            "blobs",
            "blobs/r",
            "blobs/r/h/x",
            "log/d/99999999999999999999.json",
            "log/d/0000000000000000000a.json",
            "log/../00000000000000000000.json",
            "other/d/00000000000000000000.json",
        ] {
            assert_eq!(l.parse(k), None, "{k}");
        }
    }

    #[test]
    fn prefixes_are_checked() {
        for bad in ["/", "a/", "/a", "a//b", "..", "a/./b", "a b", "a\\b"] {
            assert!(Layout::new(bad).is_err(), "{bad}");
        }
        assert!(Layout::new("users/abc-1_x.y").is_ok());
    }
}
