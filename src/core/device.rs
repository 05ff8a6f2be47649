//! Device ids: one per local database, the name of that database's folder in the remote change log.

use std::fmt;
use std::sync::Arc;

use super::id::{InvalidId, RecordingId};

/// The longest device id accepted. Device ids appear in every clock stamp and every log key.
pub const MAX_DEVICE_ID_LEN: usize = 64;

/// A device's id: 1 to 64 characters from `[A-Za-z0-9_-]`.
///
/// Every local database is one device (the store makes a UUIDv7 when it creates the database). Only
/// that device writes the log folder named by its id, which is what makes the remote log safe on a
/// backend without conditional writes. Device ids also break ties between clock stamps, so they are
/// compared as plain strings. Every clock stamp holds one, so it is shared, not copied, when
/// cloned.
///
/// ```
/// use tapesync::core::device::DeviceId;
/// let d = DeviceId::parse("laptop-1").unwrap();
/// assert_eq!(d.as_str(), "laptop-1");
/// assert!(DeviceId::parse("a/b").is_err());
/// let v7 = DeviceId::new_v7(1_700_000_000_000, [1; 10]);
/// assert_eq!(v7.as_str().len(), 36);
/// ```
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceId(Arc<str>);

impl DeviceId {
    /// Checks a device id (same alphabet as recording ids, at most [`MAX_DEVICE_ID_LEN`] long).
    ///
    /// ```
    /// use tapesync::core::device::DeviceId;
    /// assert!(DeviceId::parse("").is_err());
    /// assert!(DeviceId::parse(&"x".repeat(65)).is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let len = s.chars().count();
        if len > MAX_DEVICE_ID_LEN {
            return Err(InvalidId::TooLong(len));
        }
        RecordingId::parse(s).map(|id| DeviceId(Arc::from(id.as_str())))
    }

    /// A UUIDv7 device id from a Unix time in milliseconds and 10 random bytes (passed in, so the
    /// core stays deterministic).
    ///
    /// ```
    /// use tapesync::core::device::DeviceId;
    /// assert_ne!(DeviceId::new_v7(1, [0; 10]), DeviceId::new_v7(1, [1; 10]));
    /// ```
    pub fn new_v7(unix_ms: u64, random: [u8; 10]) -> Self {
        DeviceId(Arc::from(RecordingId::new_v7(unix_ms, random).as_str()))
    }

    /// The id as a string slice.
    ///
    /// ```
    /// use tapesync::core::device::DeviceId;
    /// assert_eq!(DeviceId::parse("d").unwrap().as_str(), "d");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DeviceId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, InvalidId> {
        DeviceId::parse(&s)
    }
}

impl From<DeviceId> for String {
    fn from(id: DeviceId) -> String {
        id.0.to_string()
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_use_the_key_alphabet() {
        assert!(DeviceId::parse("../x").is_err());
        assert!(DeviceId::parse("a.b").is_err());
        assert!(DeviceId::parse(&"a".repeat(64)).is_ok());
        assert_eq!(
            DeviceId::parse(&"a".repeat(65)),
            Err(InvalidId::TooLong(65))
        );
        let json = serde_json::to_string(&DeviceId::parse("d1").unwrap()).unwrap();
        assert_eq!(json, "\"d1\"");
        assert!(serde_json::from_str::<DeviceId>("\"a/b\"").is_err());
    }
}
