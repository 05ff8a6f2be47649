//! The state of one sync round: its tasks (the jobs the engine hands out as ops, with their
//! attempts), its steps, and what it has learnt so far.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::compact::Compaction;
use super::io::Failure;
use super::report::{Report, RoundOutcome};
use crate::core::device::DeviceId;
use crate::core::fields::ContentHash;
use crate::core::id::RecordingId;
use crate::core::log::Segment;

#[derive(Clone, Debug)]
pub(super) enum Job {
    PutSegment(u64),
    /// Whether segment `seq` is in the cloud, before sending it again; with the refusal of the
    /// put that prompted it, if it was refused rather than unanswered.
    HeadSegment(u64, Option<Failure>),
    Confirm(u64),
    DeleteTrash(String),
    TrashDone(Vec<String>),
    ListLog(Option<String>),
    GetSegment(DeviceId, u64),
    Apply(Segment),
    Scan,
    Download(RecordingId, ContentHash),
    /// Recording, audio hash, MIME type, size in bytes.
    Upload(RecordingId, ContentHash, String, u64),
    /// [`Job::HeadSegment`] for an upload.
    HeadBlob(RecordingId, ContentHash, String, u64, Option<Failure>),
    MarkUploaded(Vec<(RecordingId, ContentHash)>),
    MarkFailed(RecordingId, String),
    /// Recordings to seal, and finished uploads to confirm first in the same commit.
    Seal(Vec<RecordingId>, Vec<(RecordingId, ContentHash)>),
    RefreshToken,
    /// Retires another device's log at this checkpoint (a local commit).
    Retire(DeviceId, u64),
    /// Part `.2` of another device's snapshot up to `.1`, and the part count part 0 gave.
    GetSnapPart(DeviceId, u64, u32, Option<u32>),
    /// Changes of a snapshot up to `.1`; `.2`: the last commit of it (moves the checkpoint).
    /// Also the leading commits of a segment larger than [`COMMIT_CHANGES`] (never the last:
    /// its last commit is a [`Job::Apply`]).
    ApplySnap(Segment, u64, bool),
    /// Compacting this device's log ([`compact`]): the listing of `log/` for its own snapshots,
    /// a part of its base snapshot, one of its segments, a part to write, and cleaning up.
    CompactList(Option<String>),
    CompactGetPart(u64, u32),
    CompactGetSeg(u64),
    PutSnapPart(u64, u32),
    HeadSnapPart(u64, u32, Option<Failure>),
    CleanList(String, Option<String>),
    CleanDelete(String),
}

impl Job {
    pub(super) fn is_local(&self) -> bool {
        matches!(
            self,
            Job::Confirm(_)
                | Job::TrashDone(_)
                | Job::Apply(_)
                | Job::Scan
                | Job::MarkUploaded(..)
                | Job::MarkFailed(..)
                | Job::Seal(..)
                | Job::ApplySnap(..)
                | Job::Retire(..)
        )
    }
}

#[derive(Clone, Debug)]
pub(super) struct Task {
    pub(super) job: Job,
    pub(super) attempts: u32,
    pub(super) not_before: u64,
}

impl Task {
    pub(super) fn new(job: Job) -> Self {
        Task {
            job,
            attempts: 0,
            not_before: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Flush,
    List,
    Pull,
    Scan,
    Transfer,
    Seal,
    FinalFlush,
    /// Compacting this device's log, when it is due.
    Compact,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Token {
    Fresh,
    Refreshing,
    Refreshed,
}

#[derive(Debug)]
pub(super) struct Round {
    pub(super) step: Step,
    /// Remote tasks, in order; retries wait in here until their `not_before`.
    pub(super) queue: VecDeque<Task>,
    /// Local tasks (commits, scans): run one at a time, in order.
    pub(super) local: VecDeque<Task>,
    pub(super) in_flight: BTreeMap<u64, Task>,
    pub(super) parked: Vec<Task>,
    pub(super) token: Token,
    pub(super) stop: Option<RoundOutcome>,
    pub(super) report: Report,
    pub(super) devices: BTreeSet<DeviceId>,
    pub(super) planned: Vec<Job>,
    pub(super) seal_ids: Vec<RecordingId>,
    pub(super) trash_done: Vec<String>,
    pub(super) transfers: (u64, u64),
    /// Uploads finished and not yet confirmed locally, and when the first of them finished.
    pub(super) confirming: Vec<(RecordingId, ContentHash)>,
    pub(super) confirming_since: u64,
    pub(super) passes: u32,
    pub(super) repull: bool,
    /// The `Retry-After` of the failure that ended the round, if any.
    pub(super) retry_after: Option<u64>,
    /// Whether the round ended because requests kept failing (not only because a segment could
    /// not be read).
    pub(super) requests_failed: bool,
    /// Whether this round listed `log/` (so `devices` and `snaps` hold what the cloud has).
    pub(super) listed: bool,
    /// The snapshot folders listed, per device: the `upto` of each.
    pub(super) snaps: BTreeMap<DeviceId, BTreeSet<u64>>,
    /// Per other device, the snapshot being read this pass (its `upto`).
    pub(super) reading_snap: BTreeMap<DeviceId, u64>,
    /// The compaction of this device's log under way, if any.
    pub(super) compaction: Option<Compaction>,
    /// The `upto` of the snapshot this round announced this device with before uploading (see
    /// [`crate::core::retire`]): segments sealed after it need another announcement.
    pub(super) announced: Option<u64>,
}
