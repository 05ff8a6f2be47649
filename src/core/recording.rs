//! A recording's metadata and its sync state, as the app sees them.

use serde::{Deserialize, Serialize};

use super::id::RecordingId;

/// Where a recording stands with respect to the cloud.
///
/// ```
/// use tapesync::core::recording::SyncState;
/// assert_eq!(SyncState::parse("pending"), Some(SyncState::Pending));
/// assert!(!SyncState::Pending.is_synced());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncState {
    /// New or changed locally, not yet in the cloud.
    Pending,
    /// Being pushed right now.
    Uploading,
    /// The cloud holds exactly this version.
    Synced,
    /// A conflicting edit was found that the policy could not settle alone.
    Conflict,
    /// Pushing failed for a reason retrying will not fix (e.g. `Forbidden`); see the sync report.
    Failed,
}

impl SyncState {
    /// Every state, in the order the docs list them.
    pub const ALL: [SyncState; 5] = [
        SyncState::Pending,
        SyncState::Uploading,
        SyncState::Synced,
        SyncState::Conflict,
        SyncState::Failed,
    ];

    /// The name used in JS and in the store's index.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Pending => "pending",
            SyncState::Uploading => "uploading",
            SyncState::Synced => "synced",
            SyncState::Conflict => "conflict",
            SyncState::Failed => "failed",
        }
    }

    /// The state with this name, if there is one.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The boolean apps show as "synced".
    pub fn is_synced(self) -> bool {
        self == SyncState::Synced
    }
}

/// A recording's metadata: everything but the audio.
///
/// Times are milliseconds since the Unix epoch, as JS `Date.now()` gives them.
///
/// ```
/// use tapesync::core::{id::RecordingId, recording::{Recording, SyncState}};
/// let r = Recording::new(RecordingId::parse("a").unwrap(), "audio/webm".into(), 10, 1_000.0);
/// assert_eq!(r.sync_state, SyncState::Pending);
/// assert_eq!(r.updated_at, r.created_at);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    /// The recording's id.
    pub id: RecordingId,
    /// A name for people; empty if the app gave none.
    pub name: String,
    /// The audio's MIME type, e.g. `audio/webm;codecs=opus`.
    pub mime_type: String,
    /// The audio's size in bytes.
    pub size: u64,
    /// The duration, if the app knows it.
    pub duration_ms: Option<f64>,
    /// When the recording was made.
    pub created_at: f64,
    /// When its metadata or audio last changed.
    pub updated_at: f64,
    /// Free-form labels.
    pub tags: Vec<String>,
    /// App-defined JSON fields.
    pub custom: serde_json::Map<String, serde_json::Value>,
    /// SHA-256 of the audio in lowercase hex, `None` until it has been computed.
    pub content_hash: Option<String>,
    /// Where the recording stands with respect to the cloud.
    pub sync_state: SyncState,
    /// `sync_state == Synced`, kept as a field because apps filter and show it.
    pub synced: bool,
    /// The size of the audio before tapesync compressed it on this device (a WAV saved with
    /// `compress`), if it did. Local: another device's copy does not know it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_size: Option<u64>,
    /// Whether this device holds the audio of the recording's current take (`false`: it is in
    /// the cloud only, and `getBlob` downloads it). Local. Records stored before the field
    /// existed held their audio.
    #[serde(default = "holds_audio")]
    pub audio_here: bool,
}

fn holds_audio() -> bool {
    true
}

impl Recording {
    /// A new, pending recording with empty name, tags and custom fields.
    pub fn new(id: RecordingId, mime_type: String, size: u64, now: f64) -> Self {
        Recording {
            id,
            name: String::new(),
            mime_type,
            size,
            duration_ms: None,
            created_at: now,
            updated_at: now,
            tags: Vec::new(),
            custom: serde_json::Map::new(),
            content_hash: None,
            sync_state: SyncState::Pending,
            synced: false,
            original_size: None,
            audio_here: true,
        }
    }

    /// Moves the recording to `state`, keeping `synced` in step.
    pub fn set_sync_state(&mut self, state: SyncState) {
        self.sync_state = state;
        self.synced = state.is_synced();
    }
}
