//! The browser layer's one error type: a stable code and a message that says what to do.

use std::fmt;

use wasm_bindgen::{JsCast, JsValue};

/// The stable codes apps branch on. They reach JS as `error.code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// A call was made with a value it cannot take.
    InvalidArgument,
    /// The recording or capture does not exist.
    NotFound,
    /// A recording with this id exists already.
    Conflict,
    /// The browser refused to store more (the DOM's `QuotaExceededError`).
    QuotaExceeded,
    /// IndexedDB is missing, blocked or failed to open (private mode, disabled storage).
    StorageUnavailable,
    /// The store was closed, by the app or because another tab upgraded or deleted the database.
    Closed,
    /// The operation was cancelled.
    Aborted,
    /// The network is down (or the app said so with `setOnline(false)`).
    Network,
    /// The cloud refused the credentials, even fresh ones: the user must sign in again.
    Unauthorized,
    /// The cloud refused access to these objects.
    Forbidden,
    /// The cloud failed in a way retrying did not fix.
    Remote,
    /// Something failed that is none of the above; the message carries the browser's words.
    Internal,
    /// The recording's audio is in the cloud only and there is no way to fetch it now: no
    /// running `autoSync` (or its `audio` is `"none"`) and no remote given.
    AudioNotHere,
    /// The audio is in the cloud only and the network is down (or `setOnline(false)`).
    Offline,
}

impl Code {
    /// The code's name as JS sees it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgument => "InvalidArgument",
            Code::NotFound => "NotFound",
            Code::Conflict => "Conflict",
            Code::QuotaExceeded => "QuotaExceeded",
            Code::StorageUnavailable => "StorageUnavailable",
            Code::Closed => "Closed",
            Code::Aborted => "Aborted",
            Code::Network => "Network",
            Code::Unauthorized => "Unauthorized",
            Code::Forbidden => "Forbidden",
            Code::Remote => "Remote",
            Code::Internal => "Internal",
            Code::AudioNotHere => "AudioNotHere",
            Code::Offline => "Offline",
        }
    }

    /// The sync core's code for this failure (a closed store or a cancelled step is
    /// `StorageUnavailable` / `Internal` there: the core has no such states).
    pub fn to_core(self) -> ErrorCode {
        match self {
            Code::InvalidArgument => ErrorCode::InvalidArgument,
            Code::NotFound | Code::AudioNotHere => ErrorCode::NotFound,
            Code::Conflict => ErrorCode::Conflict,
            Code::QuotaExceeded => ErrorCode::QuotaExceeded,
            Code::StorageUnavailable | Code::Closed => ErrorCode::StorageUnavailable,
            Code::Network | Code::Offline => ErrorCode::Network,
            Code::Unauthorized => ErrorCode::Unauthorized,
            Code::Forbidden => ErrorCode::Forbidden,
            Code::Remote => ErrorCode::Remote,
            Code::Aborted | Code::Internal => ErrorCode::Internal,
        }
    }
}

use crate::core::error_class::ErrorCode;

/// An error of the browser layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// What kind of failure this is.
    pub code: Code,
    /// What happened and, where it helps, what to do about it.
    pub message: String,
}

/// The browser layer's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with this code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// Shorthand for [`Code::InvalidArgument`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(Code::InvalidArgument, message)
    }

    /// The sync core's code as this layer's (the two share every name the core has).
    pub fn from_core(code: ErrorCode, message: impl Into<String>) -> Self {
        let code = match code {
            ErrorCode::Network => Code::Network,
            ErrorCode::Unauthorized => Code::Unauthorized,
            ErrorCode::Forbidden => Code::Forbidden,
            ErrorCode::NotFound => Code::NotFound,
            ErrorCode::InvalidArgument => Code::InvalidArgument,
            ErrorCode::Conflict => Code::Conflict,
            ErrorCode::QuotaExceeded => Code::QuotaExceeded,
            ErrorCode::StorageUnavailable => Code::StorageUnavailable,
            ErrorCode::Remote => Code::Remote,
            ErrorCode::Internal => Code::Internal,
        };
        Error::new(code, message)
    }

    /// Turns whatever a browser API threw or rejected with into an error, in one place.
    ///
    /// `context` says what was being done, e.g. "saving the recording". Only the DOM's
    /// `QuotaExceededError` is a quota error: Chromium reports other storage failures as
    /// `UnknownError` or `AbortError`, and calling those "quota" would send users to delete data
    /// for nothing.
    pub fn from_js(context: &str, value: &JsValue) -> Self {
        let name = js_sys::Reflect::get(value, &"name".into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default();
        let detail = value
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| value.as_string())
            .unwrap_or_else(|| format!("{value:?}"));
        let code = match name.as_str() {
            "QuotaExceededError" => Code::QuotaExceeded,
            "ConstraintError" => Code::Conflict,
            "AbortError" => Code::Aborted,
            "InvalidStateError" | "TransactionInactiveError" => Code::Closed,
            "DataCloneError" | "DataError" => Code::InvalidArgument,
            _ => Code::Internal,
        };
        let hint = match code {
            Code::QuotaExceeded => {
                " The browser's storage quota for this site is used up: delete recordings or ask for \
                 persistent storage (store.persist())."
            }
            Code::Closed => " The store is closed: open it again.",
            _ => "",
        };
        let sep = if name.is_empty() { "" } else { ": " };
        Error::new(
            code,
            format!("{context} failed ({name}{sep}{detail}).{hint}"),
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}
