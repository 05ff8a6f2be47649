//! What the engine tells the app: progress, events, and the report of a round with how it ended.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::io::Failure;
use crate::core::device::DeviceId;
use crate::core::error_class::ErrorCode;
use crate::core::id::RecordingId;
use crate::core::merge::Conflict;

/// A stage of a sync round, for progress reports.
///
/// ```
/// use tapesync::core::engine::Stage;
/// assert_eq!(serde_json::to_string(&Stage::Pull).unwrap(), r#""pull""#);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// Uploading segments sealed earlier, deleting garbage blobs.
    Flush,
    /// Reading other devices' logs.
    Pull,
    /// Finding local work.
    Scan,
    /// Downloading and uploading audio.
    Transfer,
    /// Sealing local edits into a segment.
    Seal,
}

/// How far a round got.
///
/// ```
/// use tapesync::core::engine::{Progress, Stage};
/// let p = Progress { stage: Stage::Transfer, done: 1, total: 3 };
/// assert_eq!(p.total - p.done, 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// The stage.
    pub stage: Stage,
    /// Steps of the stage done.
    pub done: u64,
    /// Steps of the stage known so far.
    pub total: u64,
}

/// Why a round did not finish: the failure that ended it, typed.
///
/// ```
/// use tapesync::core::{engine::{SyncError, SyncErrorKind}, error_class::ErrorCode};
/// let e = SyncError { kind: SyncErrorKind::Forbidden, code: ErrorCode::Forbidden, status: Some(403), message: "denied".into() };
/// assert_eq!(e.to_string(), "forbidden (403): denied");
/// assert_eq!(
///     serde_json::to_value(&e).unwrap(),
///     serde_json::json!({ "kind": "forbidden", "code": "Forbidden", "status": 403, "message": "denied" })
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncError {
    /// What kind of failure.
    pub kind: SyncErrorKind,
    /// What went wrong, as the failing request reported it.
    pub code: ErrorCode,
    /// The HTTP status, if the server answered.
    pub status: Option<u16>,
    /// For people.
    pub message: String,
}

impl SyncError {
    /// The error of kind `kind` carrying `f`'s code, status and message.
    ///
    /// ```
    /// use tapesync::core::{engine::{Failure, SyncError, SyncErrorKind}, error_class::ErrorCode};
    /// let e = SyncError::from_failure(SyncErrorKind::Remote, &Failure::http(500, ErrorCode::Remote, "boom"));
    /// assert_eq!((e.code, e.status), (ErrorCode::Remote, Some(500)));
    /// ```
    pub fn from_failure(kind: SyncErrorKind, f: &Failure) -> Self {
        SyncError {
            kind,
            code: f.code,
            status: f.status,
            message: f.message.clone(),
        }
    }
}

/// The kinds of [`SyncError`].
///
/// ```
/// use tapesync::core::engine::SyncErrorKind;
/// assert_eq!(serde_json::to_string(&SyncErrorKind::Forbidden).unwrap(), r#""forbidden""#);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SyncErrorKind {
    /// The token was refused even after a fresh one: the user must sign in again.
    Unauthorized,
    /// The bucket's rules refused the listing or this device's log (403): the user may not sync
    /// to this folder.
    Forbidden,
    /// The network kept failing (no answer).
    Network,
    /// The cloud kept failing (5xx), refused a request for good, or holds a log segment this
    /// device cannot read.
    Remote,
    /// A local transaction failed (quota, storage gone).
    Local,
}

impl SyncErrorKind {
    /// The kind's name, as JS sees it.
    ///
    /// ```
    /// use tapesync::core::engine::SyncErrorKind;
    /// assert_eq!(SyncErrorKind::Network.as_str(), "network");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            SyncErrorKind::Unauthorized => "unauthorized",
            SyncErrorKind::Forbidden => "forbidden",
            SyncErrorKind::Network => "network",
            SyncErrorKind::Remote => "remote",
            SyncErrorKind::Local => "local",
        }
    }
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(s) => write!(f, "{} ({s}): {}", self.kind.as_str(), self.message),
            None => write!(f, "{}: {}", self.kind.as_str(), self.message),
        }
    }
}

impl std::error::Error for SyncError {}

/// How a round ended.
///
/// ```
/// use tapesync::core::engine::RoundOutcome;
/// assert!(RoundOutcome::Complete.is_complete());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum RoundOutcome {
    /// Everything was pushed and pulled (recordings that failed for good are listed in the report).
    #[default]
    Complete,
    /// The network or the server kept failing, or a log segment could not be read; the engine
    /// tries again at `retry_at` by itself.
    #[serde(rename_all = "camelCase")]
    Incomplete {
        /// Why (kind `network` or `remote`).
        error: SyncError,
        /// When the engine retries (a [`Engine::next_wakeup`](super::Engine::next_wakeup)).
        retry_at: u64,
    },
    /// A failure retrying will not fix; the engine waits for the app.
    Stopped {
        /// The failure.
        error: SyncError,
    },
    /// The app cancelled the round.
    Cancelled,
}

impl RoundOutcome {
    /// Whether the round finished its work.
    ///
    /// ```
    /// use tapesync::core::engine::RoundOutcome;
    /// assert!(!RoundOutcome::Cancelled.is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        matches!(self, RoundOutcome::Complete)
    }
}

/// What a round did.
///
/// ```
/// use tapesync::core::engine::Report;
/// assert_eq!(Report::default().segments_pushed, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Segments read from other devices' logs.
    pub segments_pulled: u64,
    /// Changes in them.
    pub changes_pulled: u64,
    /// Segments this device published.
    pub segments_pushed: u64,
    /// Changes in them.
    pub changes_pushed: u64,
    /// Audio blobs uploaded.
    pub blobs_uploaded: u64,
    /// Audio blobs downloaded.
    pub blobs_downloaded: u64,
    /// Garbage blobs deleted.
    pub blobs_deleted: u64,
    /// Conflicts settled.
    pub conflicts: u64,
    /// Recordings that failed this round: uploads the cloud refused for good (the recording is
    /// `failed` until retried or edited) and downloads it refused (tried again next round).
    pub failed: Vec<RecordingFailure>,
    /// Log segments of other devices that could not be read; each device's log waits at its
    /// segment, and the round is `Incomplete`.
    pub unreadable: Vec<UnreadableSegment>,
    /// How the round ended.
    pub outcome: RoundOutcome,
}

/// A recording that failed in a round, and why.
///
/// ```
/// use tapesync::core::{engine::RecordingFailure, error_class::ErrorCode, id::RecordingId};
/// let f = RecordingFailure { id: RecordingId::parse("r1").unwrap(), code: ErrorCode::Forbidden, status: Some(403), message: "denied".into() };
/// assert_eq!(serde_json::to_value(&f).unwrap()["code"], "Forbidden");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingFailure {
    /// The recording.
    pub id: RecordingId,
    /// What went wrong.
    pub code: ErrorCode,
    /// The HTTP status, if the server answered.
    pub status: Option<u16>,
    /// For people.
    pub message: String,
}

/// A log segment of another device that this device could not read (corrupt, stored under
/// another device's or sequence number's name, too large, or of a newer format). That device's
/// log waits at it; it is read again in later rounds.
///
/// ```
/// use tapesync::core::{device::DeviceId, engine::UnreadableSegment};
/// let u = UnreadableSegment { device: DeviceId::parse("d2").unwrap(), seq: 4, reason: "malformed".into() };
/// assert_eq!(serde_json::to_value(&u).unwrap()["seq"], 4);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnreadableSegment {
    /// The device whose log it is.
    pub device: DeviceId,
    /// Its sequence number.
    pub seq: u64,
    /// Why it could not be read.
    pub reason: String,
}

/// What the engine tells the app (through the driver).
///
/// ```
/// use tapesync::core::engine::Event;
/// let e = Event::Started;
/// assert!(matches!(e, Event::Started));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A round started.
    Started,
    /// A stage moved on.
    Progress(Progress),
    /// These recordings changed (pulled changes, conflict copies): the app may refresh them.
    Changed(Vec<RecordingId>),
    /// A conflict was settled by the policy.
    Conflict(Conflict),
    /// A recording failed: its upload was refused for good, or its audio could not be downloaded.
    RecordingFailed {
        /// The recording.
        recording: RecordingId,
        /// Why, with its code and status.
        failure: Failure,
    },
    /// A segment of another device's log could not be read; that device's later changes wait.
    LogUnreadable(UnreadableSegment),
    /// The round ended.
    Done(Report),
}
