//! What to do about a failed request: retry it, get a fresh token, or give up.
//!
//! The HTTP adapters map every failure onto one of three classes; the engine only ever looks at the
//! class. Keeping the table here, in one pure function, makes the three backends behave the same.

use serde::{Deserialize, Serialize};

/// What kind of failure it was, for the app (stable names; serialised as these names).
///
/// LOCAL STAND-IN on the wire branch, to compile against the shared contract: the core helper's
/// version replaces it.
///
/// ```
/// use tapesync::core::error_class::ErrorCode;
/// assert_eq!(ErrorCode::Forbidden.as_str(), "Forbidden");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// No answer: offline, connection dropped, timed out.
    Network,
    /// 401: the token was refused.
    Unauthorized,
    /// 403: the rules refused.
    Forbidden,
    /// 404.
    NotFound,
    /// 400, 413, 422: the request itself is wrong.
    InvalidArgument,
    /// 409, 412.
    Conflict,
    /// Local storage is full.
    QuotaExceeded,
    /// Local storage cannot be used.
    StorageUnavailable,
    /// Any other failure of the cloud (5xx, other 4xx, an answer that does not hold up).
    Remote,
    /// A bug.
    Internal,
}

impl ErrorCode {
    /// The code's name.
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
}

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
}
