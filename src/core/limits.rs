//! Every limit on what a recording's metadata and a log segment may hold, in one place.
//!
//! Two sets of rules use them, on purpose not the same:
//!
//! - **Writers** (the API on save and update, [`crate::core::entry`] on local edits, sealing in
//!   [`crate::core::commit`]) enforce everything here, including the encoded sizes
//!   ([`CUSTOM_VALUE_BYTES`], [`METADATA_BYTES`], [`CHANGE_BYTES`]) and split segments so that
//!   none is larger than [`MAX_SEGMENT_BYTES`]. Nothing is accepted that sync cannot carry.
//! - **Readers** ([`crate::core::log::Segment::decode`]) accept everything the per-field limits
//!   and [`MAX_SEGMENT_BYTES`] allow, and no more, so segments written by older releases (which
//!   had no encoded-size limits) stay readable.
//!
//! ```
//! use tapesync::core::limits::{self, check_metadata};
//! let mut custom = serde_json::Map::new();
//! custom.insert("rating".into(), serde_json::json!(5));
//! assert!(check_metadata("Standup", &["work".into()], &custom).is_ok());
//! custom.insert("transcript".into(), serde_json::json!("x".repeat(limits::CUSTOM_VALUE_BYTES)));
//! let err = check_metadata("Standup", &[], &custom).unwrap_err();
//! assert!(err.contains("32768 bytes"), "{err}");
//! ```

use serde::Serialize;

/// Longest name, in characters.
pub const NAME_CHARS: usize = 4_096;
/// Most tags per recording.
pub const TAGS: usize = 256;
/// Longest tag, in characters.
pub const TAG_CHARS: usize = 256;
/// Most custom keys per recording.
pub const CUSTOM_KEYS: usize = 256;
/// Longest custom key, in characters.
pub const CUSTOM_KEY_CHARS: usize = 256;
/// Longest MIME type, in characters.
pub const MIME_CHARS: usize = 255;
/// Largest custom value, JSON-encoded, in bytes (writers only).
pub const CUSTOM_VALUE_BYTES: usize = 32 * 1024;
/// Largest metadata of one recording (name, tags and custom values, JSON-encoded as
/// `{"name":..,"tags":..,"custom":..}`), in bytes (writers only).
pub const METADATA_BYTES: usize = 64 * 1024;
/// Largest change a writer seals into a segment, JSON-encoded with its stamps, in bytes. Metadata
/// within [`METADATA_BYTES`] and the other limits stays well under it; it bounds what an entry
/// written by an older release (without encoded-size limits) may publish.
pub const CHANGE_BYTES: usize = 256 * 1024;
/// The most changes a segment may hold (readers only: segments of older releases hold up to this).
pub const MAX_CHANGES: usize = 500;
/// The most changes a writer seals into one segment, and a reader applies in one local commit.
///
/// A commit reads, merges and writes this many entries in one IndexedDB transaction; the decoding
/// of what it reads and its merge run in one task of the page. At 500 that task took 100–250 ms in
/// Chromium on a loaded desktop, at 100 it stays under the 50 ms of a long task (BENCHMARKS.md,
/// "Scale"). A bulk push of 10,000 recordings makes 100 segment uploads instead of 20.
///
/// ```
/// use tapesync::core::limits::{COMMIT_CHANGES, MAX_CHANGES};
/// assert!(COMMIT_CHANGES <= MAX_CHANGES);
/// ```
pub const COMMIT_CHANGES: usize = 100;
/// The largest segment accepted when reading, in bytes; writers split segments to stay under it.
pub const MAX_SEGMENT_BYTES: usize = 16 * 1024 * 1024;

/// The JSON-encoded size of `value`, in bytes.
///
/// ```
/// assert_eq!(tapesync::core::limits::encoded_len(&"ab"), 4);
/// ```
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> usize {
    // Plain data (strings, numbers, maps with string keys) always serialises.
    serde_json::to_vec(value).map_or(usize::MAX, |v| v.len())
}

/// The encoded size [`METADATA_BYTES`] limits: `{"name":..,"tags":[..],"custom":{..}}` with the
/// custom keys whose value is not `null`.
///
/// ```
/// use tapesync::core::limits::metadata_len;
/// assert_eq!(metadata_len("", &[], &serde_json::Map::new()), r#"{"name":"","tags":[],"custom":{}}"#.len());
/// ```
pub fn metadata_len(
    name: &str,
    tags: &[String],
    custom: &serde_json::Map<String, serde_json::Value>,
) -> usize {
    #[derive(Serialize)]
    struct Meta<'a> {
        name: &'a str,
        tags: &'a [String],
        custom: std::collections::BTreeMap<&'a str, &'a serde_json::Value>,
    }
    let custom = custom
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    encoded_len(&Meta { name, tags, custom })
}

/// Checks a recording's metadata as the API receives it (on save, or the result of an update):
/// every limit above. `null` custom values stand for removed keys and are not counted. The error
/// names the limit broken.
///
/// ```
/// use tapesync::core::limits::{check_metadata, NAME_CHARS, TAGS};
/// let none = serde_json::Map::new();
/// assert!(check_metadata(&"n".repeat(NAME_CHARS), &[], &none).is_ok());
/// assert!(check_metadata(&"n".repeat(NAME_CHARS + 1), &[], &none).unwrap_err().contains("4096"));
/// assert!(check_metadata("", &vec!["t".into(); TAGS + 1], &none).is_err());
/// ```
pub fn check_metadata(
    name: &str,
    tags: &[String],
    custom: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), String> {
    if name.chars().count() > NAME_CHARS {
        return Err(format!("a name has at most {NAME_CHARS} characters"));
    }
    if tags.len() > TAGS {
        return Err(format!("at most {TAGS} tags"));
    }
    if tags.iter().any(|t| t.chars().count() > TAG_CHARS) {
        return Err(format!("a tag has at most {TAG_CHARS} characters"));
    }
    let live = custom.values().filter(|v| !v.is_null()).count();
    if live > CUSTOM_KEYS {
        return Err(format!("at most {CUSTOM_KEYS} custom keys"));
    }
    for (k, v) in custom {
        if k.chars().count() > CUSTOM_KEY_CHARS {
            return Err(format!(
                "a custom key has at most {CUSTOM_KEY_CHARS} characters"
            ));
        }
        let len = if v.is_null() { 0 } else { encoded_len(v) };
        if len > CUSTOM_VALUE_BYTES {
            return Err(format!(
                "custom.{k} is {len} bytes encoded, at most {CUSTOM_VALUE_BYTES} bytes"
            ));
        }
    }
    let total = metadata_len(name, tags, custom);
    if total > METADATA_BYTES {
        return Err(format!(
            "a recording's metadata (name, tags, custom) is {total} bytes encoded, at most {METADATA_BYTES} bytes"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_is_enforced_at_its_edge() {
        let none = serde_json::Map::new();
        let tag = "t".repeat(TAG_CHARS);
        assert!(check_metadata("", &vec!["t".into(); TAGS], &none).is_ok());
        assert!(check_metadata("", &vec![tag.clone(); 200], &none).is_ok());
        // Each tag within its limit, all of them together over the total.
        assert!(check_metadata("", &vec![tag.clone(); TAGS], &none)
            .unwrap_err()
            .contains("metadata"));
        assert!(check_metadata("", &[format!("{tag}x")], &none).is_err());
        let mut many = serde_json::Map::new();
        for i in 0..CUSTOM_KEYS {
            many.insert(format!("k{i}"), serde_json::json!(i));
        }
        assert!(check_metadata("", &[], &many).is_ok());
        many.insert("removed".into(), serde_json::Value::Null); // a removal is not a key
        assert!(check_metadata("", &[], &many).is_ok());
        many.insert("one-more".into(), serde_json::json!(1));
        assert!(check_metadata("", &[], &many)
            .unwrap_err()
            .contains("256 custom keys"));
        let mut long_key = serde_json::Map::new();
        long_key.insert("k".repeat(CUSTOM_KEY_CHARS + 1), serde_json::json!(1));
        assert!(check_metadata("", &[], &long_key).is_err());
        // A value exactly at the limit (the quotes count) passes; one byte more does not.
        let mut value = serde_json::Map::new();
        value.insert(
            "v".into(),
            serde_json::json!("x".repeat(CUSTOM_VALUE_BYTES - 2)),
        );
        assert!(check_metadata("", &[], &value).is_ok());
        value.insert(
            "v".into(),
            serde_json::json!("x".repeat(CUSTOM_VALUE_BYTES - 1)),
        );
        assert!(check_metadata("", &[], &value).is_err());
        // Escaping counts: a control character takes six bytes encoded.
        value.insert(
            "v".into(),
            serde_json::json!("\u{1}".repeat(CUSTOM_VALUE_BYTES / 6 + 1)),
        );
        assert!(check_metadata("", &[], &value).is_err());
        // Three values each within their limit, together over the total.
        let mut total = serde_json::Map::new();
        for k in ["a", "b", "c"] {
            total.insert(
                k.into(),
                serde_json::json!("x".repeat(CUSTOM_VALUE_BYTES - 100)),
            );
        }
        let err = check_metadata("", &[], &total).unwrap_err();
        assert!(err.contains("65536 bytes"), "{err}");
    }
}
