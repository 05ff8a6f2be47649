//! What to do about a failed request: retry it, get a fresh token, or give up.
//!
//! The HTTP adapters map every failure onto one of three classes; the engine only ever looks at the
//! class. Keeping the table here, in one pure function, makes the three backends behave the same.

use serde::{Deserialize, Serialize};

/// How the engine reacts to a failed request.
///
/// ```
/// use tapesync::core::error_class::{classify, ErrorClass};
/// assert_eq!(classify(Some(503)), ErrorClass::Retryable);
/// assert_eq!(classify(None), ErrorClass::Retryable); // network failure
/// assert_eq!(classify(Some(401)), ErrorClass::NeedsNewToken);
/// assert_eq!(classify(Some(403)), ErrorClass::Permanent);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorClass {
    /// Try again later, with backoff: the server or the network had a bad moment.
    Retryable,
    /// The access token expired or was revoked: ask the app for a fresh one, once, then retry.
    NeedsNewToken,
    /// Retrying will not help (bad request, forbidden, gone): report it and stop trying.
    Permanent,
}

/// The class of a failed request: `status` is the HTTP status, `None` for a network failure or a
/// stalled transfer (no answer at all).
///
/// 5xx, 408 (request timeout) and 429 (too many requests) are the server asking to come back later;
/// 401 is an expired token; everything else in 4xx (400, 403, 404, 409, 413 ...) describes the
/// request itself, so sending it again gives the same answer. Statuses outside 400..=599 are not
/// failures the server meant; they are treated as permanent so that a confused proxy cannot cause
/// a retry storm.
///
/// ```
/// use tapesync::core::error_class::{classify, ErrorClass};
/// for s in [500, 502, 504, 408, 429] { assert_eq!(classify(Some(s)), ErrorClass::Retryable); }
/// for s in [400, 403, 404, 409, 413, 302] { assert_eq!(classify(Some(s)), ErrorClass::Permanent); }
/// ```
pub fn classify(status: Option<u16>) -> ErrorClass {
    match status {
        None => ErrorClass::Retryable,
        Some(408 | 429) => ErrorClass::Retryable,
        Some(401) => ErrorClass::NeedsNewToken,
        Some(500..=599) => ErrorClass::Retryable,
        Some(_) => ErrorClass::Permanent,
    }
}

/// What went wrong, as a stable code apps can branch on (`failed[].code`, `error.code`). It is
/// data carried from the HTTP layer up, never parsed back out of a message.
///
/// ```
/// use tapesync::core::error_class::ErrorCode;
/// assert_eq!(ErrorCode::Forbidden.as_str(), "Forbidden");
/// assert_eq!(serde_json::to_string(&ErrorCode::QuotaExceeded).unwrap(), r#""QuotaExceeded""#);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// No answer: offline, connection reset, timeout, a stalled transfer.
    Network,
    /// The token was refused (401), also after a fresh one.
    Unauthorized,
    /// The bucket's rules refused the request (403).
    Forbidden,
    /// No such object or folder.
    NotFound,
    /// The request broke a rule of the store or of tapesync (400, 413, a limit).
    InvalidArgument,
    /// The object exists with other content (a create-only write that cannot be done).
    Conflict,
    /// A storage quota is full (the bucket's, or the browser's).
    QuotaExceeded,
    /// Local storage is unavailable (IndexedDB closed, blocked or gone).
    StorageUnavailable,
    /// The server failed (5xx) or answered something unusable.
    Remote,
    /// A bug: the driver and the engine disagree.
    Internal,
}

impl ErrorCode {
    /// The code's name, as JS sees it.
    ///
    /// ```
    /// use tapesync::core::error_class::ErrorCode;
    /// assert_eq!(ErrorCode::Network.as_str(), "Network");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Network => "Network",
            ErrorCode::Unauthorized => "Unauthorized",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::NotFound => "NotFound",
            ErrorCode::InvalidArgument => "InvalidArgument",
            ErrorCode::Conflict => "Conflict",
            ErrorCode::QuotaExceeded => "QuotaExceeded",
            ErrorCode::StorageUnavailable => "StorageUnavailable",
            ErrorCode::Remote => "Remote",
            ErrorCode::Internal => "Internal",
        }
    }

    /// A backend-neutral code for an HTTP status (a backend module may refine it from the body).
    ///
    /// ```
    /// use tapesync::core::error_class::ErrorCode;
    /// assert_eq!(ErrorCode::for_status(403), ErrorCode::Forbidden);
    /// assert_eq!(ErrorCode::for_status(412), ErrorCode::Conflict);
    /// assert_eq!(ErrorCode::for_status(503), ErrorCode::Remote);
    /// ```
    pub fn for_status(status: u16) -> ErrorCode {
        match status {
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            409 | 412 => ErrorCode::Conflict,
            400 | 411 | 413 | 414 | 415 | 422 => ErrorCode::InvalidArgument,
            _ => ErrorCode::Remote,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_class() {
        for s in 0..=u16::MAX {
            let c = classify(Some(s));
            let expected = match s {
                401 => ErrorClass::NeedsNewToken,
                408 | 429 | 500..=599 => ErrorClass::Retryable,
                _ => ErrorClass::Permanent,
            };
            assert_eq!(c, expected, "{s}");
        }
    }

    #[test]
    fn codes_serialise_as_their_names() {
        use ErrorCode::*;
        for c in [
            Network,
            Unauthorized,
            Forbidden,
            NotFound,
            InvalidArgument,
            Conflict,
            QuotaExceeded,
            StorageUnavailable,
            Remote,
            Internal,
        ] {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), c);
        }
    }
}
