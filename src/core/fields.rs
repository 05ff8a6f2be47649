//! A recording's synced fields, each with the clock stamp of the edit that wrote it.
//!
//! Every field is a last-writer-wins register: merging two versions keeps, field by field, the value
//! with the larger stamp. Merging is commutative, associative and idempotent, so devices that have
//! seen the same edits hold the same fields whatever order the edits arrived in.
//!
//! Custom fields are one register per key rather than one for the whole map: apps store unrelated
//! things there (a transcript, a rating, a folder), and two devices setting two different keys must
//! both be kept. A removed key is a register holding `None`, so a removal wins over older sets.
//! Tags are one register for the whole list: apps edit them as a list, and merging lists element by
//! element would resurrect tags a user removed.
//!
//! The audio (content hash, size and MIME type together) is a register too, with one addition: each
//! audio version names the version it replaced (`base`). That is how a device tells a deliberate
//! re-recording (made after seeing the old audio) from a concurrent one, which must not silently
//! drop audio. Deletion is a tombstone that names the audio the deleting user saw.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::device::DeviceId;
use super::hlc::Hlc;

/// The per-field limits, checked on local edits and on remote input alike (moved to
/// [`crate::core::limits`], which also holds the encoded-size limits writers enforce).
pub use super::limits;

/// A SHA-256 content hash in lowercase hex: 64 characters from `[0-9a-f]`.
///
/// It ends up in blob keys, so it is validated like an id.
///
/// ```
/// use tapesync::core::fields::ContentHash;
/// let h = ContentHash::parse(&"ab".repeat(32)).unwrap();
/// assert_eq!(h.as_str().len(), 64);
/// assert!(ContentHash::parse("AB").is_err());
/// assert!(ContentHash::parse(&"../".repeat(22)[..64]).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContentHash(String);

/// Why a string is not a [`ContentHash`].
///
/// ```
/// use tapesync::core::fields::{ContentHash, BadHash};
/// assert_eq!(ContentHash::parse("x"), Err(BadHash));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadHash;

impl fmt::Display for BadHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a content hash is 64 lowercase hex digits (SHA-256)")
    }
}

impl std::error::Error for BadHash {}

impl ContentHash {
    /// Checks a hash string.
    ///
    /// ```
    /// use tapesync::core::fields::ContentHash;
    /// assert!(ContentHash::parse(&"0".repeat(64)).is_ok());
    /// ```
    pub fn parse(s: &str) -> Result<Self, BadHash> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(ContentHash(s.to_owned()))
        } else {
            Err(BadHash)
        }
    }

    /// The hash as a string slice.
    ///
    /// ```
    /// use tapesync::core::fields::ContentHash;
    /// assert_eq!(ContentHash::parse(&"1".repeat(64)).unwrap().as_str(), "1".repeat(64));
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ContentHash {
    type Error = BadHash;
    fn try_from(s: String) -> Result<Self, BadHash> {
        ContentHash::parse(&s)
    }
}

impl From<ContentHash> for String {
    fn from(h: ContentHash) -> String {
        h.0
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A value with the stamp of the edit that wrote it. In JSON: `{"v": value, "at": stamp}`.
///
/// ```
/// use tapesync::core::{device::DeviceId, fields::Lww, hlc::Hlc};
/// let r = Lww { value: "take 1".to_string(), at: Hlc::new(1, 0, DeviceId::parse("a").unwrap()) };
/// assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"v":"take 1","at":[1,0,"a"]}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lww<T> {
    /// The value.
    #[serde(rename = "v")]
    pub value: T,
    /// When it was written.
    pub at: Hlc,
}

impl<T: Serialize> Lww<T> {
    /// Whether `self` wins over `other`: the larger stamp, and on equal stamps (which only garbage
    /// input produces) the larger JSON text, so that every device picks the same one.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, fields::Lww, hlc::Hlc};
    /// let d = DeviceId::parse("a").unwrap();
    /// let old = Lww { value: 1, at: Hlc::new(1, 0, d.clone()) };
    /// let new = Lww { value: 0, at: Hlc::new(2, 0, d) };
    /// assert!(new.beats(&old) && !old.beats(&new));
    /// ```
    pub fn beats(&self, other: &Lww<T>) -> bool {
        beats(&self.at, &self.value, &other.at, &other.value)
    }
}

fn beats<T: Serialize>(a_at: &Hlc, a: &T, b_at: &Hlc, b: &T) -> bool {
    match a_at.cmp(b_at) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => {
            let ja = serde_json::to_string(a).unwrap_or_default();
            let jb = serde_json::to_string(b).unwrap_or_default();
            ja > jb
        }
    }
}

/// The audio of a recording as the cloud knows it: which bytes (by hash), how many, what type.
///
/// ```
/// use tapesync::core::fields::{AudioRef, ContentHash};
/// let a = AudioRef { hash: ContentHash::parse(&"a".repeat(64)).unwrap(), size: 3, mime_type: "audio/webm".into() };
/// assert_eq!(a.size, 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioRef {
    /// SHA-256 of the bytes.
    pub hash: ContentHash,
    /// Size in bytes.
    pub size: u64,
    /// MIME type, e.g. `audio/webm;codecs=opus`.
    pub mime_type: String,
}

/// One version of a recording's audio: the audio, when it was recorded, and which version the
/// recording device had before (`base`, `None` for the first audio).
///
/// ```
/// use tapesync::core::{device::DeviceId, fields::{AudioRef, AudioVersion, ContentHash}, hlc::Hlc};
/// let d = DeviceId::parse("a").unwrap();
/// let v1 = AudioVersion {
///     audio: AudioRef { hash: ContentHash::parse(&"1".repeat(64)).unwrap(), size: 1, mime_type: "audio/ogg".into() },
///     at: Hlc::new(1, 0, d.clone()),
///     base: None,
/// };
/// let mut v2 = v1.clone();
/// v2.at = Hlc::new(2, 0, d);
/// v2.base = Some(v1.at.clone());
/// assert!(v2.replaced(&v1)); // re-recorded after seeing v1
/// assert!(!v1.replaced(&v2));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioVersion {
    /// The audio.
    #[serde(flatten)]
    pub audio: AudioRef,
    /// When it was recorded (and by which device: `at.device()`).
    pub at: Hlc,
    /// The version the recording device replaced, as it saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Hlc>,
}

impl AudioVersion {
    /// Whether this version was recorded by someone who had `other` in front of them: a deliberate
    /// replacement rather than a concurrent one.
    ///
    /// ```
    /// # use tapesync::core::{device::DeviceId, fields::{AudioRef, AudioVersion, ContentHash}, hlc::Hlc};
    /// # let d = DeviceId::parse("a").unwrap();
    /// # let a = AudioRef { hash: ContentHash::parse(&"1".repeat(64)).unwrap(), size: 1, mime_type: "audio/ogg".into() };
    /// let x = AudioVersion { audio: a.clone(), at: Hlc::new(1, 0, d.clone()), base: None };
    /// let y = AudioVersion { audio: a, at: Hlc::new(2, 0, d), base: None };
    /// assert!(!y.replaced(&x)); // concurrent: y's author never saw x
    /// ```
    pub fn replaced(&self, other: &AudioVersion) -> bool {
        self.base.as_ref() == Some(&other.at)
    }

    fn beats(&self, other: &AudioVersion) -> bool {
        beats(&self.at, &self.audio, &other.at, &other.audio)
    }
}

/// A deletion: when, and which audio version the deleting user saw (their recording as they knew it).
///
/// Deletes are final: once a tombstone is known, the recording id stays deleted everywhere. Audio the
/// deleting user never saw is not lost for that: its author keeps it as a conflict copy.
///
/// ```
/// use tapesync::core::{device::DeviceId, fields::Tombstone, hlc::Hlc};
/// let t = Tombstone { at: Hlc::new(5, 0, DeviceId::parse("a").unwrap()), seen_audio: None };
/// assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"at":[5,0,"a"]}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tombstone {
    /// When the recording was deleted.
    pub at: Hlc,
    /// The stamp of the audio version the deleting device had when its user deleted the recording.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_audio: Option<Hlc>,
}

impl Tombstone {
    fn beats(&self, other: &Tombstone) -> bool {
        beats(&self.at, &self.seen_audio, &other.at, &other.seen_audio)
    }
}

/// One synced field of a recording, for reporting what changed or conflicted.
///
/// ```
/// use tapesync::core::fields::Field;
/// assert_eq!(Field::Custom("rating".into()).to_string(), "custom.rating");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Field {
    /// `createdAt`.
    CreatedAt,
    /// `name`.
    Name,
    /// `tags`.
    Tags,
    /// `durationMs`.
    DurationMs,
    /// One key of `custom`.
    Custom(String),
    /// The audio: content hash, size and MIME type.
    Audio,
    /// The recording's deletion.
    Deleted,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::CreatedAt => f.write_str("createdAt"),
            Field::Name => f.write_str("name"),
            Field::Tags => f.write_str("tags"),
            Field::DurationMs => f.write_str("durationMs"),
            Field::Custom(k) => write!(f, "custom.{k}"),
            Field::Audio => f.write_str("audio"),
            Field::Deleted => f.write_str("deleted"),
        }
    }
}

/// A set of stamped fields of one recording: what a log entry carries, what a device knows of the
/// cloud's version, or a device's unpublished local edits. Absent fields were never written.
///
/// ```
/// use tapesync::core::{device::DeviceId, fields::{Fields, Lww}, hlc::Hlc};
/// let d = DeviceId::parse("a").unwrap();
/// let mut cloud = Fields::default();
/// cloud.name = Some(Lww { value: "old".into(), at: Hlc::new(1, 0, d.clone()) });
/// let mut edit = Fields::default();
/// edit.name = Some(Lww { value: "new".into(), at: Hlc::new(2, 0, d) });
/// let changed = cloud.merge(&edit);
/// assert_eq!(cloud.name.unwrap().value, "new");
/// assert_eq!(changed.len(), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fields {
    /// When the recording was made (milliseconds since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Lww<f64>>,
    /// The name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Lww<String>>,
    /// The tags, as one list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Lww<Vec<String>>>,
    /// The duration in milliseconds, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<Lww<Option<f64>>>,
    /// Custom fields, one register per key; `None` is a removed key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, Lww<Option<serde_json::Value>>>,
    /// The audio version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioVersion>,
    /// The deletion, if the recording is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Tombstone>,
}

fn merge_reg<T: Serialize + Clone>(
    mine: &mut Option<Lww<T>>,
    theirs: &Option<Lww<T>>,
    field: Field,
    changed: &mut Vec<Field>,
) {
    if let Some(t) = theirs {
        let take = match mine {
            None => true,
            Some(m) => t.beats(m),
        };
        if take {
            *mine = Some(t.clone());
            changed.push(field);
        }
    }
}

impl Fields {
    /// Whether no field is set.
    ///
    /// ```
    /// use tapesync::core::fields::Fields;
    /// assert!(Fields::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.created_at.is_none()
            && self.name.is_none()
            && self.tags.is_none()
            && self.duration_ms.is_none()
            && self.custom.is_empty()
            && self.audio.is_none()
            && self.deleted.is_none()
    }

    /// Merges `other` in, field by field, keeping the winner of each; returns the fields whose
    /// value changed here.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, fields::{Fields, Lww}, hlc::Hlc};
    /// let mut a = Fields::default();
    /// a.name = Some(Lww { value: "x".into(), at: Hlc::new(1, 0, DeviceId::parse("a").unwrap()) });
    /// let b = a.clone();
    /// assert!(a.merge(&b).is_empty()); // idempotent
    /// ```
    pub fn merge(&mut self, other: &Fields) -> Vec<Field> {
        let mut changed = Vec::new();
        merge_reg(
            &mut self.created_at,
            &other.created_at,
            Field::CreatedAt,
            &mut changed,
        );
        merge_reg(&mut self.name, &other.name, Field::Name, &mut changed);
        merge_reg(&mut self.tags, &other.tags, Field::Tags, &mut changed);
        merge_reg(
            &mut self.duration_ms,
            &other.duration_ms,
            Field::DurationMs,
            &mut changed,
        );
        for (k, theirs) in &other.custom {
            let take = match self.custom.get(k) {
                None => true,
                Some(m) => theirs.beats(m),
            };
            if take {
                self.custom.insert(k.clone(), theirs.clone());
                changed.push(Field::Custom(k.clone()));
            }
        }
        if let Some(t) = &other.audio {
            if self.audio.as_ref().map_or(true, |m| t.beats(m)) {
                self.audio = Some(t.clone());
                changed.push(Field::Audio);
            }
        }
        if let Some(t) = &other.deleted {
            if self.deleted.as_ref().map_or(true, |m| t.beats(m)) {
                self.deleted = Some(t.clone());
                changed.push(Field::Deleted);
            }
        }
        changed
    }

    /// These fields with `local`'s set fields laid over them: what a device shows while it has
    /// unpublished edits.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, fields::{Fields, Lww}, hlc::Hlc};
    /// let d = DeviceId::parse("a").unwrap();
    /// let mut cloud = Fields::default();
    /// cloud.name = Some(Lww { value: "cloud".into(), at: Hlc::new(9, 0, d.clone()) });
    /// let mut local = Fields::default();
    /// local.name = Some(Lww { value: "mine".into(), at: Hlc::new(1, 0, d) });
    /// assert_eq!(cloud.overlay(&local).name.unwrap().value, "mine");
    /// ```
    pub fn overlay(&self, local: &Fields) -> Fields {
        let mut out = self.clone();
        if local.created_at.is_some() {
            out.created_at = local.created_at.clone();
        }
        if local.name.is_some() {
            out.name = local.name.clone();
        }
        if local.tags.is_some() {
            out.tags = local.tags.clone();
        }
        if local.duration_ms.is_some() {
            out.duration_ms = local.duration_ms.clone();
        }
        for (k, v) in &local.custom {
            out.custom.insert(k.clone(), v.clone());
        }
        if local.audio.is_some() {
            out.audio = local.audio.clone();
        }
        if local.deleted.is_some() {
            out.deleted = local.deleted.clone();
        }
        out
    }

    /// Every stamp of an edit carried here (not the `base` and `seen_audio` references).
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, fields::{Fields, Lww}, hlc::Hlc};
    /// let mut f = Fields::default();
    /// f.name = Some(Lww { value: "x".into(), at: Hlc::new(3, 0, DeviceId::parse("a").unwrap()) });
    /// assert_eq!(f.stamps().count(), 1);
    /// ```
    pub fn stamps(&self) -> impl Iterator<Item = &Hlc> {
        self.created_at
            .iter()
            .map(|r| &r.at)
            .chain(self.name.iter().map(|r| &r.at))
            .chain(self.tags.iter().map(|r| &r.at))
            .chain(self.duration_ms.iter().map(|r| &r.at))
            .chain(self.custom.values().map(|r| &r.at))
            .chain(self.audio.iter().map(|a| &a.at))
            .chain(self.deleted.iter().map(|t| &t.at))
    }

    /// Every stamp referenced here, including `base` and `seen_audio`: what a device must observe
    /// so that its later edits are ordered after everything it has seen.
    ///
    /// ```
    /// use tapesync::core::fields::Fields;
    /// assert_eq!(Fields::default().all_stamps().count(), 0);
    /// ```
    pub fn all_stamps(&self) -> impl Iterator<Item = &Hlc> {
        self.stamps()
            .chain(self.audio.iter().filter_map(|a| a.base.as_ref()))
            .chain(self.deleted.iter().filter_map(|t| t.seen_audio.as_ref()))
    }

    /// Checks these fields as they arrive from device `author`'s log: every edit stamp is that
    /// device's (a device only publishes its own edits) and every value is within [`limits`].
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, fields::{Fields, Lww}, hlc::Hlc};
    /// let mut f = Fields::default();
    /// f.name = Some(Lww { value: "x".into(), at: Hlc::new(3, 0, DeviceId::parse("a").unwrap()) });
    /// assert!(f.validate(&DeviceId::parse("a").unwrap()).is_ok());
    /// assert!(f.validate(&DeviceId::parse("b").unwrap()).is_err());
    /// ```
    pub fn validate(&self, author: &DeviceId) -> Result<(), String> {
        if let Some(s) = self.stamps().find(|s| s.device() != author) {
            return Err(format!("stamp {s} is not from the log's device {author}"));
        }
        self.check_limits()
    }

    /// Checks that every value is within [`limits`] and every number is finite.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, fields::{Fields, Lww}, hlc::Hlc};
    /// let mut f = Fields::default();
    /// f.duration_ms = Some(Lww { value: Some(f64::NAN), at: Hlc::new(3, 0, DeviceId::parse("a").unwrap()) });
    /// assert!(f.check_limits().is_err());
    /// ```
    pub fn check_limits(&self) -> Result<(), String> {
        if let Some(c) = &self.created_at {
            if !c.value.is_finite() {
                return Err("createdAt is not a finite number".into());
            }
        }
        if let Some(Lww { value: Some(d), .. }) = &self.duration_ms {
            if !d.is_finite() {
                return Err("durationMs is not a finite number".into());
            }
        }
        if let Some(n) = &self.name {
            if n.value.chars().count() > limits::NAME_CHARS {
                return Err(format!(
                    "a name has at most {} characters",
                    limits::NAME_CHARS
                ));
            }
        }
        if let Some(t) = &self.tags {
            if t.value.len() > limits::TAGS {
                return Err(format!("at most {} tags", limits::TAGS));
            }
            if t.value
                .iter()
                .any(|t| t.chars().count() > limits::TAG_CHARS)
            {
                return Err(format!(
                    "a tag has at most {} characters",
                    limits::TAG_CHARS
                ));
            }
        }
        if self.custom.len() > limits::CUSTOM_KEYS {
            return Err(format!("at most {} custom keys", limits::CUSTOM_KEYS));
        }
        if self
            .custom
            .keys()
            .any(|k| k.chars().count() > limits::CUSTOM_KEY_CHARS)
        {
            return Err(format!(
                "a custom key has at most {} characters",
                limits::CUSTOM_KEY_CHARS
            ));
        }
        if let Some(a) = &self.audio {
            let m = &a.audio.mime_type;
            if m.chars().count() > limits::MIME_CHARS || m.chars().any(|c| c.is_control()) {
                return Err("the MIME type is too long or holds control characters".into());
            }
        }
        Ok(())
    }

    /// The latest edit time among these fields, for the app's `updatedAt`.
    ///
    /// ```
    /// use tapesync::core::fields::Fields;
    /// assert_eq!(Fields::default().latest_wall_ms(), None);
    /// ```
    pub fn latest_wall_ms(&self) -> Option<u64> {
        self.stamps().map(|s| s.wall_ms()).max()
    }

    /// Whether a deletion is recorded.
    ///
    /// ```
    /// use tapesync::core::fields::Fields;
    /// assert!(!Fields::default().is_deleted());
    /// ```
    pub fn is_deleted(&self) -> bool {
        self.deleted.is_some()
    }
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default)] // tests build fields one by one for clarity
mod tests {
    use super::*;

    fn d(s: &str) -> DeviceId {
        DeviceId::parse(s).unwrap()
    }

    fn h(w: u64, dev: &str) -> Hlc {
        Hlc::new(w, 0, d(dev))
    }

    fn audio(n: u8, at: Hlc, base: Option<Hlc>) -> AudioVersion {
        AudioVersion {
            audio: AudioRef {
                hash: ContentHash::parse(&format!("{n:02x}").repeat(32)).unwrap(),
                size: n as u64,
                mime_type: "audio/webm".into(),
            },
            at,
            base,
        }
    }

    fn sample(seed: u64) -> Fields {
        let mut f = Fields::default();
        let dev = ["a", "b", "c"][(seed % 3) as usize];
        let w = seed / 3 % 4;
        f.name = Some(Lww {
            value: format!("n{seed}"),
            at: h(w, dev),
        });
        if seed % 2 == 0 {
            f.custom.insert(
                format!("k{}", seed % 3),
                Lww {
                    value: Some(serde_json::json!(seed)),
                    at: h(w + 1, dev),
                },
            );
        }
        if seed % 5 < 2 {
            f.audio = Some(audio(seed as u8, h(w, dev), None));
        }
        if seed % 7 == 0 {
            f.deleted = Some(Tombstone {
                at: h(w + 2, dev),
                seen_audio: None,
            });
        }
        f
    }

    #[test]
    fn merge_is_a_join() {
        // Commutative, associative, idempotent over a spread of inputs, including equal stamps
        // with different values (the JSON tie-break keeps it deterministic).
        for x in 0..20 {
            for y in 0..20 {
                let (a, b) = (sample(x), sample(y));
                let mut ab = a.clone();
                ab.merge(&b);
                let mut ba = b.clone();
                ba.merge(&a);
                assert_eq!(ab, ba, "{x} {y}");
                let mut again = ab.clone();
                assert!(again.merge(&b).is_empty());
                assert!(again.merge(&a).is_empty());
                for z in 0..5 {
                    let c = sample(z * 7 + 1);
                    let mut l = ab.clone();
                    l.merge(&c);
                    let mut bc = b.clone();
                    bc.merge(&c);
                    let mut r = a.clone();
                    r.merge(&bc);
                    assert_eq!(l, r);
                }
            }
        }
    }

    #[test]
    fn custom_keys_merge_independently() {
        let mut a = Fields::default();
        a.custom.insert(
            "rating".into(),
            Lww {
                value: Some(5.into()),
                at: h(1, "a"),
            },
        );
        let mut b = Fields::default();
        b.custom.insert(
            "folder".into(),
            Lww {
                value: Some("x".into()),
                at: h(2, "b"),
            },
        );
        b.custom.insert(
            "rating".into(),
            Lww {
                value: None,
                at: h(0, "b"),
            },
        );
        a.merge(&b);
        assert_eq!(a.custom.len(), 2);
        assert_eq!(a.custom["rating"].value, Some(5.into()));
    }

    #[test]
    fn json_shape_is_compact_and_strict() {
        let mut f = Fields::default();
        f.audio = Some(audio(1, h(1, "a"), Some(h(0, "b"))));
        let s = serde_json::to_string(&f).unwrap();
        assert!(s.contains("\"hash\"") && s.contains("\"base\""), "{s}");
        assert_eq!(serde_json::from_str::<Fields>(&s).unwrap(), f);
        assert!(serde_json::from_str::<Fields>(
            r#"{"audio":{"hash":"x","size":1,"mimeType":"a","at":[1,0,"a"]}}"#
        )
        .is_err());
        assert!(serde_json::from_str::<Fields>(r#"{"name":{"v":1,"at":[1,0,"a"]}}"#).is_err());
        assert!(serde_json::from_str::<Fields>(r#"{"name":{"v":"x"}}"#).is_err());
    }

    #[test]
    fn limits_are_checked() {
        let mut f = Fields::default();
        f.tags = Some(Lww {
            value: vec!["t".into(); limits::TAGS + 1],
            at: h(1, "a"),
        });
        assert!(f.check_limits().is_err());
        f.tags = None;
        f.name = Some(Lww {
            value: "n".repeat(limits::NAME_CHARS + 1),
            at: h(1, "a"),
        });
        assert!(f.check_limits().is_err());
        f.name = None;
        f.audio = Some(audio(1, h(1, "a"), None));
        f.audio.as_mut().unwrap().audio.mime_type = "a\nb".into();
        assert!(f.check_limits().is_err());
    }
}
