//! A recording's sync state machine: which states exist and which steps move between them.
//!
//! The public [`SyncState`] is what apps see; [`Phase`] adds `Deleted` (a recording deleted here or
//! elsewhere whose entry the device keeps so that late edits cannot bring it back). Every change of
//! phase goes through [`Phase::step`], so an impossible move (confirming a failed upload, editing a
//! deleted recording) is an error value instead of a silently wrong state.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::recording::SyncState;

/// Where a recording stands in the sync cycle on this device.
///
/// ```
/// use tapesync::core::{recording::SyncState, state::{Phase, Step}};
/// let p = Phase::Synced.step(Step::Edit).unwrap();
/// assert_eq!(p, Phase::Pending);
/// assert_eq!(p.sync_state(), Some(SyncState::Pending));
/// assert_eq!(Phase::Deleted.sync_state(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Local edits not yet in the cloud.
    Pending,
    /// Sealed into a log segment that is on its way to the cloud.
    Uploading,
    /// The cloud holds this version.
    Synced,
    /// A conflict copy made on this device, not yet in the cloud; pushed like a pending recording.
    Conflict,
    /// Pushing failed for a reason retrying will not fix; waits for the app to retry or edit.
    Failed,
    /// Deleted (here or elsewhere); kept as a tombstone, invisible to the app.
    Deleted,
}

/// What happened to a recording.
///
/// ```
/// use tapesync::core::state::{Phase, Step};
/// assert!(Phase::Deleted.step(Step::Edit).is_err());
/// assert_eq!(Phase::Failed.step(Step::Retry), Ok(Phase::Pending));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// The user changed metadata or audio on this device.
    Edit,
    /// The user deleted the recording on this device.
    Delete,
    /// Its local edits were sealed into a log segment.
    Seal,
    /// The segment holding them is in the cloud.
    Confirm,
    /// A permanent failure while pushing it.
    Fail,
    /// The app asked to try a failed recording again.
    Retry,
    /// Nothing is left to push (a conflict resolution dropped all its local edits).
    Settle,
    /// A deletion arrived from another device.
    RemoteDelete,
    /// The local deletion lost a conflict (cloud-wins) and was withdrawn.
    CancelDelete,
}

/// A step that is not allowed from the current phase.
///
/// ```
/// use tapesync::core::state::{Phase, Step, IllegalStep};
/// assert_eq!(Phase::Synced.step(Step::Retry), Err(IllegalStep { from: Phase::Synced, step: Step::Retry }));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IllegalStep {
    /// The phase the recording was in.
    pub from: Phase,
    /// The step attempted.
    pub step: Step,
}

impl fmt::Display for IllegalStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a recording cannot take step {:?} while {:?}",
            self.step, self.from
        )
    }
}

impl std::error::Error for IllegalStep {}

impl Phase {
    /// Every phase.
    pub const ALL: [Phase; 6] = [
        Phase::Pending,
        Phase::Uploading,
        Phase::Synced,
        Phase::Conflict,
        Phase::Failed,
        Phase::Deleted,
    ];

    /// The phase after `step`, or why the step is not allowed.
    ///
    /// ```
    /// use tapesync::core::state::{Phase, Step};
    /// let mut p = Phase::Pending;
    /// for s in [Step::Seal, Step::Confirm] { p = p.step(s).unwrap(); }
    /// assert_eq!(p, Phase::Synced);
    /// ```
    pub fn step(self, step: Step) -> Result<Phase, IllegalStep> {
        use Phase::*;
        use Step::*;
        let next = match (self, step) {
            (Deleted, Edit | Fail | Retry | Settle) => None,
            (_, Edit) => Some(Pending),
            (_, Delete | RemoteDelete) => Some(Deleted),
            (Pending | Conflict | Uploading, Seal) => Some(Uploading),
            (Synced | Deleted, Seal) => Some(self),
            (Failed, Seal) => None,
            (Uploading, Confirm) => Some(Synced),
            (Pending | Synced | Conflict | Failed | Deleted, Confirm) => Some(self),
            (Pending | Uploading | Conflict | Failed, Fail) => Some(Failed),
            (Synced, Fail) => None,
            (Failed, Retry) => Some(Pending),
            (_, Retry) => None,
            // A failed recording whose unpublished edits all lost a conflict has nothing left
            // that could fail: it is simply in step with the cloud.
            (Pending | Conflict | Synced | Failed, Settle) => Some(Synced),
            (Uploading, Settle) => Some(self),
            (Deleted, CancelDelete) => Some(Synced),
            (_, CancelDelete) => None,
        };
        next.ok_or(IllegalStep { from: self, step })
    }

    /// The state apps see, `None` for a deleted recording (which apps no longer see at all).
    ///
    /// ```
    /// use tapesync::core::{recording::SyncState, state::Phase};
    /// assert_eq!(Phase::Conflict.sync_state(), Some(SyncState::Conflict));
    /// ```
    pub fn sync_state(self) -> Option<SyncState> {
        match self {
            Phase::Pending => Some(SyncState::Pending),
            Phase::Uploading => Some(SyncState::Uploading),
            Phase::Synced => Some(SyncState::Synced),
            Phase::Conflict => Some(SyncState::Conflict),
            Phase::Failed => Some(SyncState::Failed),
            Phase::Deleted => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: [Step; 9] = [
        Step::Edit,
        Step::Delete,
        Step::Seal,
        Step::Confirm,
        Step::Fail,
        Step::Retry,
        Step::Settle,
        Step::RemoteDelete,
        Step::CancelDelete,
    ];

    #[test]
    fn transition_table() {
        use Phase::*;
        // (from, step, to or None) for the moves that define the cycle.
        let table = [
            (Pending, Step::Seal, Some(Uploading)),
            (Conflict, Step::Seal, Some(Uploading)),
            (Uploading, Step::Confirm, Some(Synced)),
            (Uploading, Step::Edit, Some(Pending)),
            (Synced, Step::Edit, Some(Pending)),
            (Failed, Step::Edit, Some(Pending)),
            (Pending, Step::Fail, Some(Failed)),
            (Failed, Step::Retry, Some(Pending)),
            (Failed, Step::Seal, None),
            (Synced, Step::Fail, None),
            (Synced, Step::Retry, None),
            (Deleted, Step::Edit, None),
            (Deleted, Step::CancelDelete, Some(Synced)),
            (Synced, Step::CancelDelete, None),
            (Pending, Step::Settle, Some(Synced)),
            (Failed, Step::Settle, Some(Synced)),
            (Uploading, Step::Settle, Some(Uploading)),
            (Pending, Step::Confirm, Some(Pending)),
            (Synced, Step::RemoteDelete, Some(Deleted)),
        ];
        for (from, step, to) in table {
            assert_eq!(from.step(step).ok(), to, "{from:?} --{step:?}-->");
        }
    }

    #[test]
    fn deleted_only_leaves_by_a_withdrawn_delete() {
        for s in STEPS {
            if let Ok(p) = Phase::Deleted.step(s) {
                assert!(
                    p == Phase::Deleted || s == Step::CancelDelete,
                    "{s:?} -> {p:?}"
                );
            }
        }
    }

    #[test]
    fn every_phase_can_be_edited_or_deleted_out_of() {
        for p in Phase::ALL {
            assert_eq!(p.step(Step::Delete), Ok(Phase::Deleted));
            if p != Phase::Deleted {
                assert_eq!(p.step(Step::Edit), Ok(Phase::Pending));
            }
            assert_eq!(p.sync_state().is_none(), p == Phase::Deleted);
        }
    }
}
