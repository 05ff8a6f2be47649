//! What the engine asks the driver to do ([`Op`]) and what it hears back ([`Outcome`], [`Failure`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::core::commit::{Commit, CommitOutcome};
use crate::core::entry::LocalEntry;
use crate::core::error_class::{classify, ErrorClass, ErrorCode};
use crate::core::fields::ContentHash;
use crate::core::id::RecordingId;

/// Identifies an operation handed out by [`Engine::poll_op`](super::Engine::poll_op); its outcome goes back with it.
///
/// ```
/// use tapesync::core::engine::OpId;
/// assert_eq!(OpId(3).to_string(), "op#3");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub u64);

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op#{}", self.0)
    }
}

/// The body of a [`Op::Put`].
///
/// ```
/// use tapesync::core::engine::Body;
/// let b = Body::Json(b"{}".to_vec());
/// assert!(matches!(b, Body::Json(_)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// JSON bytes the engine made (a log segment).
    Json(Vec<u8>),
    /// The local audio of `recording`, streamed from the store by the driver. The driver first
    /// checks, in a read transaction, that the entry's `audio_here` is still `hash`; if not, the
    /// outcome is [`Outcome::NotFound`] (the audio changed, and uploading it under `hash` would be wrong).
    LocalAudio {
        /// The recording.
        recording: RecordingId,
        /// The hash the bytes must have.
        hash: ContentHash,
    },
}

/// What the engine asks the driver to do. Each is answered by one [`Outcome`].
///
/// ```
/// use tapesync::core::engine::Op;
/// let op = Op::Get { key: "log/d/00000000000000000000.json".into() };
/// assert!(op.is_remote());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// List one folder, one level deep, one page: answer [`Outcome::Listed`] with names relative to
    /// the folder.
    List {
        /// The folder's key (no trailing `/`).
        folder: String,
        /// The token of the page to read, `None` for the first.
        page_token: Option<String>,
    },
    /// Read a small object (a log segment): [`Outcome::Got`], or [`Outcome::NotFound`].
    Get {
        /// The object's key.
        key: String,
    },
    /// Write an object that must not exist yet (every key is written once): [`Outcome::Done`] (or
    /// [`Outcome::NotFound`] for local audio that changed). A store that refuses to overwrite
    /// answers a failure (Firebase's rules 403, S3 412, Supabase "Duplicate"); the engine then
    /// asks [`Op::Head`] before concluding anything.
    Put {
        /// The object's key.
        key: String,
        /// What to write.
        body: Body,
        /// The `Content-Type` to store.
        content_type: String,
    },
    /// Download audio into the store: fetch `key`, then in one transaction run
    /// [`crate::core::commit::audio_arrived`] on `recording`'s entry and, if it says so, store the
    /// bytes as its audio. [`Outcome::Done`] either way, [`Outcome::NotFound`] if there is no such object.
    GetBlob {
        /// The blob's key.
        key: String,
        /// The recording it is for.
        recording: RecordingId,
        /// The hash of the bytes.
        hash: ContentHash,
    },
    /// Read an object's metadata: [`Outcome::Exists`] with its stored size, or [`Outcome::NotFound`].
    /// Asked before sending a [`Op::Put`] again whose earlier attempt got no answer (or was refused
    /// as if the object existed): an object of the expected size means the earlier write landed.
    Head {
        /// The object's key.
        key: String,
    },
    /// Delete an object: [`Outcome::Done`], also when it did not exist.
    Delete {
        /// The object's key.
        key: String,
    },
    /// Ask the app for a fresh access token: [`Outcome::Done`] once the remote uses it.
    RefreshToken,
    /// Run a local transaction (see [`crate::core::commit`]): [`Outcome::Committed`].
    Commit(Commit),
    /// Read every entry in the store's `work` index: [`Outcome::Scanned`].
    ScanWork,
}

impl Op {
    /// Whether the op talks to the cloud (and counts against `max_in_flight`).
    ///
    /// ```
    /// use tapesync::core::engine::Op;
    /// assert!(!Op::ScanWork.is_remote());
    /// ```
    pub fn is_remote(&self) -> bool {
        !matches!(self, Op::Commit(_) | Op::ScanWork)
    }
}

/// Why an operation failed, as the driver reports it: what to do about it (`class`), what went
/// wrong as data (`code`, `status`) and for people (`message`, which never repeats the status).
///
/// ```
/// use tapesync::core::{engine::Failure, error_class::{ErrorClass, ErrorCode}};
/// let f = Failure::http(503, ErrorCode::Remote, "unavailable").with_retry_after(Some(2_000));
/// assert_eq!((f.class, f.status, f.retry_after_ms), (ErrorClass::Retryable, Some(503), Some(2_000)));
/// assert_eq!(Failure::network("offline").code, ErrorCode::Network);
/// assert_eq!(Failure::local(ErrorCode::QuotaExceeded, "quota").class, ErrorClass::Permanent);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// What to do about it.
    pub class: ErrorClass,
    /// What went wrong.
    pub code: ErrorCode,
    /// The HTTP status, `None` when there was no answer (or for a local failure).
    pub status: Option<u16>,
    /// For people: what went wrong.
    pub message: String,
    /// The server's `Retry-After`, in milliseconds, if it sent one.
    pub retry_after_ms: Option<u64>,
}

impl Failure {
    /// A failure of any class.
    ///
    /// ```
    /// use tapesync::core::{engine::Failure, error_class::{ErrorClass, ErrorCode}};
    /// let f = Failure::new(ErrorClass::Retryable, ErrorCode::Remote, None, "hash mismatch");
    /// assert_eq!(f.status, None);
    /// ```
    pub fn new(
        class: ErrorClass,
        code: ErrorCode,
        status: Option<u16>,
        message: impl Into<String>,
    ) -> Self {
        Failure {
            class,
            code,
            status,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// The server answered `status`: the class follows from it ([`classify`]).
    ///
    /// ```
    /// use tapesync::core::{engine::Failure, error_class::{ErrorClass, ErrorCode}};
    /// let f = Failure::http(401, ErrorCode::Unauthorized, "expired");
    /// assert_eq!(f.class, ErrorClass::NeedsNewToken);
    /// assert_eq!(f.message, "expired"); // the status is data, not part of the message
    /// ```
    pub fn http(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        Failure::new(classify(Some(status)), code, Some(status), message)
    }

    /// No answer at all (offline, connection reset, timeout): retryable, code `Network`.
    ///
    /// ```
    /// use tapesync::core::{engine::Failure, error_class::ErrorClass};
    /// assert_eq!(Failure::network("reset").class, ErrorClass::Retryable);
    /// ```
    pub fn network(message: impl Into<String>) -> Self {
        Failure::new(ErrorClass::Retryable, ErrorCode::Network, None, message)
    }

    /// A failed local transaction (IndexedDB): retrying in the same round does not help.
    ///
    /// ```
    /// use tapesync::core::{engine::Failure, error_class::ErrorCode};
    /// assert_eq!(Failure::local(ErrorCode::StorageUnavailable, "closed").message, "closed");
    /// ```
    pub fn local(code: ErrorCode, message: impl Into<String>) -> Self {
        Failure::new(ErrorClass::Permanent, code, None, message)
    }

    /// The same failure with the server's `Retry-After` (milliseconds).
    ///
    /// ```
    /// use tapesync::core::{engine::Failure, error_class::ErrorCode};
    /// assert_eq!(Failure::http(429, ErrorCode::Remote, "slow down").with_retry_after(Some(5)).retry_after_ms, Some(5));
    /// ```
    pub fn with_retry_after(mut self, retry_after_ms: Option<u64>) -> Self {
        self.retry_after_ms = retry_after_ms;
        self
    }

    /// Whether the refusal of a create-only write may mean the object is already there (a store
    /// that refuses overwrites): then the engine asks [`Op::Head`] before concluding.
    pub(super) fn may_mean_exists(&self) -> bool {
        self.class == ErrorClass::Permanent
            && self.status.is_some()
            && (matches!(self.status, Some(403 | 409 | 412))
                || matches!(self.code, ErrorCode::Forbidden | ErrorCode::Conflict))
    }
}

/// The answer to an [`Op`].
///
/// ```
/// use tapesync::core::engine::Outcome;
/// let o = Outcome::Listed { names: vec![], folders: vec!["d1".into()], next_page_token: None };
/// assert!(matches!(o, Outcome::Listed { .. }));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// [`Op::List`]: object and sub-folder names relative to the folder, and the next page's token.
    Listed {
        /// Objects directly in the folder.
        names: Vec<String>,
        /// Sub-folders directly in the folder.
        folders: Vec<String>,
        /// The next page, `None` on the last.
        next_page_token: Option<String>,
    },
    /// [`Op::Get`]: the bytes.
    Got(Vec<u8>),
    /// The op succeeded.
    Done,
    /// No such object (or, for a local-audio [`Op::Put`], the local audio changed).
    NotFound,
    /// [`Op::Head`]: the object exists and holds `size` bytes.
    Exists {
        /// Its stored size in bytes.
        size: u64,
    },
    /// [`Op::Commit`]: the transaction committed; what [`Commit::run`] returned.
    Committed(CommitOutcome),
    /// [`Op::ScanWork`]: the entries with work.
    Scanned(Vec<LocalEntry>),
    /// The op failed.
    Failed(Failure),
}
