//! Recording ids: validated app-given ids and time-ordered UUIDv7 ids.

use std::fmt;

/// The longest id accepted. Ids end up in object keys and URLs of every backend, so they stay short.
pub const MAX_ID_LEN: usize = 128;

/// A recording's id: 1 to 128 characters from `[A-Za-z0-9_-]`.
///
/// The alphabet is the intersection of what Firebase Storage, Supabase Storage and S3 accept in an
/// object key without escaping, and it excludes `/` and `.` so that an id can never walk out of its
/// folder (`../x`) or add one (`a/b`).
///
/// ```
/// use tapesync::core::id::RecordingId;
/// assert!(RecordingId::parse("take-1").is_ok());
/// assert!(RecordingId::parse("../x").is_err());
/// let id = RecordingId::new_v7(1_700_000_000_000, [7; 10]);
/// assert_eq!(id.as_str().len(), 36);
/// ```
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct RecordingId(String);

/// Why a string is not a valid [`RecordingId`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidId {
    /// The id is the empty string.
    Empty,
    /// The id is longer than [`MAX_ID_LEN`] characters.
    TooLong(usize),
    /// The id holds a character outside `[A-Za-z0-9_-]`.
    BadChar(char),
}

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidId::Empty => f.write_str("an id must not be empty"),
            InvalidId::TooLong(n) => {
                write!(
                    f,
                    "an id has at most {MAX_ID_LEN} characters, this one has {n}"
                )
            }
            InvalidId::BadChar(c) => write!(
                f,
                "an id may only use letters, digits, '-' and '_', not {c:?}"
            ),
        }
    }
}

impl std::error::Error for InvalidId {}

impl RecordingId {
    /// Checks an app-given id.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        if s.is_empty() {
            return Err(InvalidId::Empty);
        }
        let len = s.chars().count();
        if len > MAX_ID_LEN {
            return Err(InvalidId::TooLong(len));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(InvalidId::BadChar(c));
        }
        Ok(RecordingId(s.to_owned()))
    }

    /// A UUIDv7 (RFC 9562) from a Unix time in milliseconds and 10 random bytes.
    ///
    /// Time and randomness are passed in so that the core stays deterministic. Ids made this way sort
    /// by creation time, which makes the store's primary key a creation order.
    pub fn new_v7(unix_ms: u64, random: [u8; 10]) -> Self {
        let mut b = [0u8; 16];
        b[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
        b[6..].copy_from_slice(&random);
        b[6] = 0x70 | (b[6] & 0x0f); // version 7
        b[8] = 0x80 | (b[8] & 0x3f); // RFC 9562 variant
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        RecordingId(format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        ))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RecordingId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, InvalidId> {
        RecordingId::parse(&s)
    }
}

impl From<RecordingId> for String {
    fn from(id: RecordingId) -> String {
        id.0
    }
}

impl fmt::Display for RecordingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unsafe_ids() {
        assert_eq!(RecordingId::parse(""), Err(InvalidId::Empty));
        assert_eq!(RecordingId::parse("../x"), Err(InvalidId::BadChar('.')));
        assert_eq!(RecordingId::parse("a/b"), Err(InvalidId::BadChar('/')));
        assert_eq!(
            RecordingId::parse(&"a".repeat(300)),
            Err(InvalidId::TooLong(300))
        );
        assert_eq!(RecordingId::parse("é"), Err(InvalidId::BadChar('é')));
        assert!(RecordingId::parse(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn v7_ids_are_versioned_and_time_ordered() {
        let a = RecordingId::new_v7(1_000, [0xff; 10]);
        let b = RecordingId::new_v7(1_001, [0x00; 10]);
        assert!(a < b, "{a} < {b}");
        assert_eq!(&a.as_str()[14..15], "7");
        assert!(matches!(&a.as_str()[19..20], "8" | "9" | "a" | "b"));
        assert!(RecordingId::parse(a.as_str()).is_ok());
    }
}
