//! The sans-IO sync engine: it decides, the driver does.
//!
//! The engine is handed time (`now`, milliseconds), a random seed, and the outcome of every
//! operation it asked for; it hands back operations ([`Op`]), the time it next wants to be woken up
//! ([`Engine::next_wakeup`]) and events ([`Event`]). It reads no clock, no random source, no storage
//! and no network, so the same inputs always give the same outputs: that is what lets the
//! simulation in `tests/simulation.rs` run thousands of multi-device histories with faults and
//! replay any of them exactly.
//!
//! A sync round runs these stages, each to completion before the next:
//!
//! 1. **flush**: upload segments sealed earlier but not confirmed (after a crash or a lost
//!    response), then delete blobs that became garbage;
//! 2. **pull**: list the device folders of the log, and for every other device read its segments
//!    from its checkpoint on, applying each in one local transaction that also moves the checkpoint;
//!    a device with nothing new costs one `Get` that answers "not found";
//! 3. **scan**: read the entries that have work (the sparse `work` index);
//! 4. **transfer**: download audio this device lacks, upload audio of unpublished takes;
//! 5. **seal**: move unpublished edits into a new segment of this device's log (a local commit: the
//!    segment is fixed before it is uploaded, so a retry uploads the same bytes);
//! 6. **flush** again: upload the new segment, confirm it, delete the garbage it made.
//!
//! Blobs are always in the cloud before the segment naming them (stage 4 before 6), and garbage is
//! deleted only after the segment that made it garbage, so no log entry names a missing blob.
//!
//! A round in one [`Direction`] skips the other's stages: a push runs 1, 3, 4 (uploads only), 5
//! and 6; a pull runs 2, 3 and 4 (downloads only).
//!
//! Every object is written once (the bucket's rules make blobs and segments create-only), so a
//! write is never blindly sent again: after a [`Op::Put`] that got no answer, or that was refused
//! the way a store refuses an overwrite (403, 409, 412), the engine asks [`Op::Head`]; an object
//! of the expected size means the earlier write landed.
//!
//! How rounds end ([`RoundOutcome`]): `Complete` means that nothing pending when the round
//! started is still pending, except the recordings in [`Report::failed`]. Retries exhausted
//! within a round, or a segment of another device's log that cannot be read
//! ([`Report::unreadable`]), end it `Incomplete`; a refusal retrying cannot fix (the listing or
//! this device's log forbidden, a token refused twice, a local transaction failing) ends it
//! `Stopped`.
//!
//! The driver keeps one engine per store for as long as the store is open, so that its backoff
//! survives between rounds: after incomplete rounds in a row it waits exponentially longer (with
//! jitter, up to [`EngineConfig::round_backoff`]'s 15 minutes; a server's `Retry-After` up to
//! [`EngineConfig::max_retry_after_ms`]) before retrying by itself ([`Engine::retry_at`]), and
//! automatic triggers ([`Engine::start_automatic`]) wait too; a complete round resets it, and a
//! round the app asks for ([`Engine::start`]) always runs at once. Before each round the driver
//! hands it the sync state as stored ([`Engine::load_meta`]).
//!
//! Driving it (the browser driver does this with `fetch` and IndexedDB):
//!
//! ```
//! use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig, Event, Op, Outcome}};
//! let mut engine = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d1").unwrap()), 42);
//! engine.start_sync(0);
//! let mut now = 0;
//! while let Some((id, op)) = engine.poll_op() {
//!     let outcome = match op {
//!         Op::List { .. } => Outcome::Listed { names: vec![], folders: vec![], next_page_token: None },
//!         Op::ScanWork => Outcome::Scanned(vec![]),
//!         other => panic!("an empty cloud and an empty store need nothing else: {other:?}"),
//!     };
//!     now += 10;
//!     engine.on_result(id, outcome, now);
//! }
//! let mut done = false;
//! while let Some(ev) = engine.poll_event() {
//!     if let Event::Done(report) = ev { done = report.outcome.is_complete(); }
//! }
//! assert!(done);
//! assert_eq!(engine.next_wakeup(), None);
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::backoff::Backoff;
use super::commit::{Commit, CommitOutcome, SyncMeta};
use super::device::DeviceId;
use super::entry::LocalEntry;
use super::error_class::{ErrorClass, ErrorCode};
use super::fields::ContentHash;
use super::id::RecordingId;
use super::layout::Layout;
use super::log::{Segment, MAX_CHANGES};
use super::merge::MergeConfig;
use super::retire;

/// The engine's settings.
///
/// ```
/// use tapesync::core::{engine::EngineConfig, merge::Policy};
/// let mut cfg = EngineConfig::default();
/// cfg.merge.policy = Policy::CloudWins;
/// assert_eq!(cfg.max_attempts, 5);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// Conflict policy and conflict copies.
    pub merge: MergeConfig,
    /// Where things live in the cloud.
    pub layout: Layout,
    /// Delays between tries of one request.
    pub backoff: Backoff,
    /// Delays between sync rounds that ended early because the network or server kept failing.
    pub round_backoff: Backoff,
    /// Tries of one request within a round before the round gives up (and is retried later).
    pub max_attempts: u32,
    /// Remote requests in flight at once.
    pub max_in_flight: usize,
    /// The longest server-requested pause (`Retry-After`) honoured, in milliseconds: a server asking
    /// for more is asked again after this long.
    pub max_retry_after_ms: u64,
    /// A full round compacts this device's log into a snapshot once this many segments follow its
    /// newest snapshot (see [`crate::core::snapshot`]).
    pub compact_every: u64,
    /// Readers retire the log of a device whose newest stamp is older than this (see
    /// [`crate::core::retire`]).
    pub retire_after_ms: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            merge: MergeConfig::default(),
            layout: Layout::default(),
            backoff: Backoff {
                base_ms: 500,
                max_ms: 30_000,
            },
            round_backoff: Backoff {
                base_ms: 5_000,
                max_ms: 15 * 60_000,
            },
            max_attempts: 5,
            max_in_flight: 4,
            max_retry_after_ms: 60 * 60_000,
            compact_every: 64,
            retire_after_ms: super::retire::RETIRE_AFTER_MS,
        }
    }
}

mod compact;
mod io;
mod report;
#[cfg(test)]
mod tests;

pub use io::{Body, Failure, Op, OpId, Outcome};
pub use report::{
    Event, Progress, RecordingFailure, Report, RoundOutcome, Stage, SyncError, SyncErrorKind,
    UnreadableSegment,
};

/// What a round does: both ways, or one.
///
/// ```
/// use tapesync::core::engine::Direction;
/// assert_eq!(Direction::Push.and(Direction::Pull), Direction::Both);
/// assert_eq!(Direction::Pull.and(Direction::Pull), Direction::Pull);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    /// Pull the other devices' changes, then push this device's.
    #[default]
    Both,
    /// Push this device's changes (and the audio they need) without reading other devices'.
    Push,
    /// Pull the other devices' changes (and download their audio) without publishing any.
    Pull,
}

impl Direction {
    /// The round that does what both rounds would.
    pub fn and(self, other: Direction) -> Direction {
        if self == other {
            self
        } else {
            Direction::Both
        }
    }

    fn pushes(self) -> bool {
        self != Direction::Pull
    }

    fn pulls(self) -> bool {
        self != Direction::Push
    }
}

/// An upload of local audio waiting to start: the [`Op::Put`] it becomes, in short
/// ([`Engine::queued_uploads`]).
///
/// ```
/// use tapesync::core::{engine::QueuedUpload, fields::ContentHash, id::RecordingId, layout::Layout};
/// let (recording, hash) = (RecordingId::parse("r1").unwrap(), ContentHash::parse(&"0".repeat(64)).unwrap());
/// let key = Layout::new("users/u/recordings").unwrap().blob_key(&recording, &hash);
/// let next = QueuedUpload { key, recording, hash, size: 262_144 };
/// assert!(next.key.starts_with("users/u/recordings/blobs/r1/"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedUpload {
    /// The cloud key the audio goes to.
    pub key: String,
    /// The recording.
    pub recording: RecordingId,
    /// The audio's hash: upload only if the local audio still has it.
    pub hash: ContentHash,
    /// The audio's size in bytes.
    pub size: u64,
}

/// Finished uploads are confirmed locally once this many wait, or once the first of them has
/// waited this long (ms): a crash loses at most that much uploading, which is done again.
const CONFIRM_BATCH: usize = 256;
const CONFIRM_AFTER_MS: u64 = 2_000;

#[derive(Clone, Debug)]
enum Job {
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
    fn is_local(&self) -> bool {
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
struct Task {
    job: Job,
    attempts: u32,
    not_before: u64,
}

impl Task {
    fn new(job: Job) -> Self {
        Task {
            job,
            attempts: 0,
            not_before: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
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
enum Token {
    Fresh,
    Refreshing,
    Refreshed,
}

#[derive(Debug)]
struct Round {
    step: Step,
    /// Remote tasks, in order; retries wait in here until their `not_before`.
    queue: VecDeque<Task>,
    /// Local tasks (commits, scans): run one at a time, in order.
    local: VecDeque<Task>,
    in_flight: BTreeMap<u64, Task>,
    parked: Vec<Task>,
    token: Token,
    stop: Option<RoundOutcome>,
    report: Report,
    devices: BTreeSet<DeviceId>,
    planned: Vec<Job>,
    seal_ids: Vec<RecordingId>,
    trash_done: Vec<String>,
    transfers: (u64, u64),
    /// Uploads finished and not yet confirmed locally, and when the first of them finished.
    confirming: Vec<(RecordingId, ContentHash)>,
    confirming_since: u64,
    passes: u32,
    repull: bool,
    /// The `Retry-After` of the failure that ended the round, if any.
    retry_after: Option<u64>,
    /// Whether the round ended because requests kept failing (not only because a segment could
    /// not be read).
    requests_failed: bool,
    /// Whether this round listed `log/` (so `devices` and `snaps` hold what the cloud has).
    listed: bool,
    /// The snapshot folders listed, per device: the `upto` of each.
    snaps: BTreeMap<DeviceId, BTreeSet<u64>>,
    /// Per other device, the snapshot being read this pass (its `upto`).
    reading_snap: BTreeMap<DeviceId, u64>,
    /// The compaction of this device's log under way, if any.
    compaction: Option<compact::Compaction>,
    /// The `upto` of the snapshot this round announced this device with before uploading (see
    /// [`crate::core::retire`]): segments sealed after it need another announcement.
    announced: Option<u64>,
}

/// The sync engine of one device: see the module docs for the round and the driver's loop.
///
/// ```
/// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig, Op}};
/// let mut engine = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 1);
/// engine.start_sync(0);
/// // The first thing a round does (with nothing left over from before) is list the device logs.
/// let (_, op) = engine.poll_op().unwrap();
/// assert_eq!(op, Op::List { folder: "log".into(), page_token: None });
/// ```
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
    meta: SyncMeta,
    rng: u64,
    now: u64,
    next_op: u64,
    round: Option<Round>,
    /// The direction of the running round (or of the last one, which a retry repeats).
    direction: Direction,
    /// A round asked for while one runs: it runs right after, doing what every request asked.
    again: Option<Direction>,
    /// Whether the app asked for `again` (an automatic request waits out a backoff).
    again_explicit: bool,
    retry_at: Option<u64>,
    /// Incomplete rounds in a row: the exponent of the round backoff.
    failed_rounds: u32,
    /// The last round stopped: no automatic round until the app starts one.
    stopped: bool,
    /// Automatic triggers wait for `retry_at`: the cloud kept failing. After a round that was
    /// incomplete only because another device's segment could not be read, they do not: that
    /// must not hold up this device's own pushes.
    triggers_wait: bool,
    events: VecDeque<Event>,
}

impl Engine {
    /// An engine for the device whose persisted state is `meta`, jittering retries with random
    /// numbers derived from `seed` (give it fresh randomness, e.g. from `crypto.getRandomValues`).
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig}};
    /// let e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// assert!(!e.is_syncing());
    /// ```
    pub fn new(cfg: EngineConfig, meta: SyncMeta, seed: u64) -> Self {
        Engine {
            cfg,
            meta,
            rng: seed,
            now: 0,
            next_op: 0,
            round: None,
            direction: Direction::Both,
            again: None,
            again_explicit: false,
            retry_at: None,
            failed_rounds: 0,
            stopped: false,
            triggers_wait: false,
            events: VecDeque::new(),
        }
    }

    /// The device's sync state as the engine last saw it committed.
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig}};
    /// let e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// assert_eq!(e.meta().device.as_str(), "d");
    /// ```
    pub fn meta(&self) -> &SyncMeta {
        &self.meta
    }

    /// What the running round does (or the last one did, which a retry repeats).
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Direction, Engine, EngineConfig}};
    /// let mut e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// e.start(Direction::Pull, 0);
    /// assert_eq!(e.direction(), Direction::Pull);
    /// ```
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Whether a round is running.
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig}};
    /// let mut e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// e.start_sync(0);
    /// assert!(e.is_syncing());
    /// ```
    pub fn is_syncing(&self) -> bool {
        self.round.is_some()
    }

    /// Up to `n` local-audio uploads waiting for a free request slot, in the order they start.
    /// A driver may read what they need ahead, in one local transaction for several: reading it
    /// per upload queues each upload behind the engine's own local commits.
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig}};
    /// let mut e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// e.start_sync(0);
    /// assert!(e.queued_uploads(8).is_empty()); // a round starts with its log, not with uploads
    /// ```
    pub fn queued_uploads(&self, n: usize) -> Vec<QueuedUpload> {
        let Some(r) = &self.round else {
            return Vec::new();
        };
        r.queue
            .iter()
            .filter_map(|t| match &t.job {
                Job::Upload(id, hash, _, size) => Some(QueuedUpload {
                    key: self.cfg.layout.blob_key(id, hash),
                    recording: id.clone(),
                    hash: hash.clone(),
                    size: *size,
                }),
                _ => None,
            })
            .take(n)
            .collect()
    }

    /// Starts a sync round now (button, app start, network back, schedule). If one is running,
    /// another runs right after it, so edits made during a round are not left waiting.
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig, Event}};
    /// let mut e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// e.start_sync(5);
    /// assert_eq!(e.poll_event(), Some(Event::Started));
    /// ```
    pub fn start_sync(&mut self, now: u64) {
        self.start(Direction::Both, now);
    }

    /// [`Engine::start_sync`] for one direction only: a push publishes without reading the other
    /// devices' logs, a pull reads them without publishing or uploading anything.
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Direction, Engine, EngineConfig, Op}};
    /// let mut e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// e.start(Direction::Push, 0);
    /// // Nothing left to flush, so a push goes straight to the scan: no listing of the log.
    /// assert_eq!(e.poll_op().map(|(_, op)| op), Some(Op::ScanWork));
    /// ```
    ///
    /// This is the round the app asked for: it runs now even while the engine backs off after
    /// incomplete rounds, and after a stopped round. Automatic triggers use
    /// [`Engine::start_automatic`].
    pub fn start(&mut self, direction: Direction, now: u64) {
        self.tick(now);
        self.stopped = false;
        if self.round.is_some() {
            self.again = Some(self.again.map_or(direction, |d| d.and(direction)));
            self.again_explicit = true;
        } else {
            self.direction = direction;
            self.begin();
        }
    }

    /// A round asked for by an automatic trigger (a local change, the network coming back, a
    /// timer): like [`Engine::start`], except that while the engine backs off after rounds the
    /// cloud kept failing it only joins the retry due at [`Engine::retry_at`] (doing what both
    /// ask; a round incomplete only because another device's segment could not be read does not
    /// hold automatic rounds back), and
    /// after a stopped round it does nothing until the app starts a round. Returns whether a
    /// round started now (or will right after the running one).
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Direction, Engine, EngineConfig}};
    /// let mut e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// assert!(e.start_automatic(Direction::Push, 0)); // not backing off: it starts
    /// assert!(e.is_syncing());
    /// ```
    pub fn start_automatic(&mut self, direction: Direction, now: u64) -> bool {
        self.tick(now);
        if self.stopped {
            return false;
        }
        if self.round.is_some() {
            self.again = Some(self.again.map_or(direction, |d| d.and(direction)));
            return true;
        }
        match self.retry_at {
            Some(t) if t > self.now && self.triggers_wait => {
                self.direction = self.direction.and(direction);
                false
            }
            pending => {
                // A retry that is due (or does not hold triggers back) goes with this round.
                self.direction = match pending {
                    Some(_) => self.direction.and(direction),
                    None => direction,
                };
                self.begin();
                true
            }
        }
    }

    /// Replaces the device's sync state with `meta` as the driver just read it from the store
    /// (another tab or worker may have synced since this engine's last round). Call it before
    /// each round; while a round runs it is ignored (the round's own commits are the truth).
    /// The backoff state is kept.
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig}};
    /// let d = DeviceId::parse("d").unwrap();
    /// let mut e = Engine::new(EngineConfig::default(), SyncMeta::new(d.clone()), 7);
    /// let mut meta = SyncMeta::new(d);
    /// meta.next_seq = 4; // another tab published four segments
    /// e.load_meta(meta);
    /// assert_eq!(e.meta().next_seq, 4);
    /// ```
    pub fn load_meta(&mut self, meta: SyncMeta) {
        if self.round.is_none() {
            self.meta = meta;
        }
    }

    /// Sets the conflict handling and the parallelism of the rounds started from now on (each
    /// sync the app asks for may choose its own); ignored while a round runs. The backoff state
    /// is kept.
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig}, merge::{MergeConfig, Policy}};
    /// let mut e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// let merge = MergeConfig { policy: Policy::CloudWins, ..MergeConfig::default() };
    /// e.configure(merge, 8);
    /// assert_eq!(e.config().merge.policy, Policy::CloudWins);
    /// assert_eq!(e.config().max_in_flight, 8);
    /// ```
    pub fn configure(&mut self, merge: MergeConfig, max_in_flight: usize) {
        if self.round.is_none() {
            self.cfg.merge = merge;
            self.cfg.max_in_flight = max_in_flight.max(1);
        }
    }

    /// The settings rounds run with.
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig}};
    /// let e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// assert_eq!(e.config().max_attempts, 5);
    /// ```
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// When the next automatic round may start, while the engine backs off after incomplete
    /// rounds (the driver sleeps until then and calls [`Engine::handle_timeout`]); `None` when it
    /// is not backing off (or a round runs).
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig}};
    /// let e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// assert_eq!(e.retry_at(), None);
    /// ```
    pub fn retry_at(&self) -> Option<u64> {
        if self.round.is_some() {
            None
        } else {
            self.retry_at
        }
    }

    /// Stops the running round: no new operations are handed out; the round ends (with
    /// `Cancelled`) once the operations in flight are answered.
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig}};
    /// let mut e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// e.start_sync(0);
    /// e.cancel();
    /// assert!(!e.is_syncing()); // nothing was in flight
    /// ```
    pub fn cancel(&mut self) {
        self.again = None;
        self.again_explicit = false;
        self.retry_at = None;
        if let Some(r) = &mut self.round {
            r.stop = Some(RoundOutcome::Cancelled);
        }
        self.maybe_finish();
    }

    /// The next operation to perform, if any can start now. Call until `None` after every input.
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig, Op}};
    /// let mut e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// assert!(e.poll_op().is_none());
    /// e.start_sync(0);
    /// assert!(matches!(e.poll_op(), Some((_, Op::List { .. }))));
    /// ```
    pub fn poll_op(&mut self) -> Option<(OpId, Op)> {
        let now = self.now;
        let max = self.cfg.max_in_flight.max(1);
        let r = self.round.as_mut()?;
        if r.stop.is_some() {
            return None;
        }
        let remote = r.in_flight.values().filter(|t| !t.job.is_local()).count();
        let local_busy = r.in_flight.values().any(|t| t.job.is_local());
        let task = if !local_busy && !r.local.is_empty() {
            r.local.pop_front()?
        } else if remote < max {
            let pos = r.queue.iter().position(|t| t.not_before <= now)?;
            r.queue.remove(pos)?
        } else {
            return None;
        };
        let id = self.next_op;
        self.next_op += 1;
        let op = self.op_for(&task.job);
        if let Some(r) = self.round.as_mut() {
            r.in_flight.insert(id, task);
        }
        Some((OpId(id), op))
    }

    /// The next event for the app, if any.
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig}};
    /// let mut e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// assert_eq!(e.poll_event(), None);
    /// ```
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When the engine wants [`Engine::handle_timeout`] called: a request waiting out its backoff,
    /// or the retry of a round that ended incomplete. `None`: only new input matters.
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig}};
    /// let e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// assert_eq!(e.next_wakeup(), None);
    /// ```
    pub fn next_wakeup(&self) -> Option<u64> {
        match &self.round {
            Some(r) if r.stop.is_none() => r
                .queue
                .iter()
                .map(|t| t.not_before)
                .filter(|&t| t > self.now)
                .min(),
            Some(_) => None,
            None => self.retry_at,
        }
    }

    /// Tells the engine the time has come (or passed) for its wake-up: a request's retry within
    /// the round, or (no round running) the retry of an incomplete round, which starts here.
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig}};
    /// let mut e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// e.handle_timeout(1_000); // nothing due: nothing happens
    /// assert!(!e.is_syncing());
    /// ```
    pub fn handle_timeout(&mut self, now: u64) {
        self.tick(now);
        if self.round.is_none() && self.retry_at.is_some_and(|t| t <= self.now) {
            self.retry_at = None;
            self.begin();
        }
    }

    /// Hands the engine the outcome of operation `id`. Outcomes of unknown ids (from a round that
    /// was cancelled, or answered twice) are ignored; an outcome that does not fit its op is
    /// treated as a permanent failure.
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId, engine::{Engine, EngineConfig, OpId, Outcome}};
    /// let mut e = Engine::new(EngineConfig::default(), SyncMeta::new(DeviceId::parse("d").unwrap()), 7);
    /// e.on_result(OpId(99), Outcome::Done, 0); // unknown: ignored
    /// ```
    pub fn on_result(&mut self, id: OpId, outcome: Outcome, now: u64) {
        self.tick(now);
        let Some(task) = self.round.as_mut().and_then(|r| r.in_flight.remove(&id.0)) else {
            return;
        };
        self.handle(task, outcome);
        self.advance();
        self.maybe_finish();
    }

    fn tick(&mut self, now: u64) {
        self.now = self.now.max(now);
    }

    fn random(&mut self) -> u64 {
        // splitmix64: tiny, good enough for jitter, and deterministic from the seed.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn begin(&mut self) {
        self.round = Some(Round {
            step: Step::Flush,
            queue: VecDeque::new(),
            local: VecDeque::new(),
            in_flight: BTreeMap::new(),
            parked: Vec::new(),
            token: Token::Fresh,
            stop: None,
            report: Report::default(),
            devices: BTreeSet::new(),
            planned: Vec::new(),
            seal_ids: Vec::new(),
            trash_done: Vec::new(),
            transfers: (0, 0),
            confirming: Vec::new(),
            confirming_since: 0,
            passes: 0,
            repull: false,
            retry_after: None,
            requests_failed: false,
            listed: false,
            snaps: BTreeMap::new(),
            reading_snap: BTreeMap::new(),
            compaction: None,
            announced: None,
        });
        self.retry_at = None;
        self.events.push_back(Event::Started);
        self.enter(if self.direction.pushes() {
            Step::Flush
        } else {
            Step::List
        });
        self.advance();
    }

    fn push(&mut self, job: Job) {
        if let Some(r) = &mut self.round {
            if job.is_local() {
                r.local.push_back(Task::new(job));
            } else {
                r.queue.push_back(Task::new(job));
            }
        }
    }

    fn progress(&mut self, stage: Stage, done: u64, total: u64) {
        self.events
            .push_back(Event::Progress(Progress { stage, done, total }));
    }

    /// Queues the first tasks of `step`.
    fn enter(&mut self, step: Step) {
        if step != Step::Seal {
            // Transfers are over and the round pulls again before it seals.
            self.confirm_uploads();
        }
        let Some(r) = &mut self.round else { return };
        r.step = step;
        match step {
            Step::Flush | Step::FinalFlush => {
                self.progress(Stage::Flush, 0, self.meta.outbox.len() as u64);
                self.flush_next();
            }
            Step::List => {
                r.devices.clear();
                r.snaps.clear();
                r.reading_snap.clear();
                r.listed = true;
                r.passes += 1;
                r.repull = false;
                self.progress(Stage::Pull, 0, 0);
                self.push(Job::ListLog(None));
            }
            Step::Pull => {
                let me = self.meta.device.clone();
                let meta = &self.meta;
                let starts: Vec<(DeviceId, u64)> = r
                    .devices
                    .iter()
                    .filter(|d| **d != me)
                    .map(|d| (d.clone(), meta.checkpoints.get(d).copied().unwrap_or(0)))
                    // Logs of devices gone for long are not asked: see `retire`.
                    .filter(|(d, cp)| {
                        let newest = r.snaps.get(d).and_then(|s| s.last().copied());
                        !retire::retired(meta.retired.get(d).copied(), *cp, newest)
                    })
                    .collect();
                for (d, seq) in starts {
                    self.push(Job::GetSegment(d, seq));
                }
            }
            Step::Scan => {
                r.planned.clear();
                r.seal_ids.clear();
                self.progress(Stage::Scan, 0, 1);
                self.push(Job::Scan);
            }
            Step::Transfer => {
                let jobs = std::mem::take(&mut r.planned);
                r.transfers = (0, jobs.len() as u64);
                self.progress(Stage::Transfer, 0, jobs.len() as u64);
                for j in jobs {
                    self.push(j);
                }
            }
            Step::Seal => {
                let ids = std::mem::take(&mut r.seal_ids);
                // The last uploads are confirmed by the first seal, which reads those entries
                // anyway: one local commit less at the end of every push.
                let mut uploaded = std::mem::take(&mut r.confirming);
                self.progress(Stage::Seal, 0, ids.len() as u64);
                // One segment per batch, so a commit reads at most a segment's worth of entries.
                for batch in ids.chunks(MAX_CHANGES) {
                    self.push(Job::Seal(batch.to_vec(), std::mem::take(&mut uploaded)));
                }
                // Nothing to seal: they get a commit of their own.
                if !uploaded.is_empty() {
                    self.push(Job::MarkUploaded(uploaded));
                }
            }
            Step::Compact => self.start_compaction(false),
        }
    }

    /// The next flush task: the oldest unconfirmed segment, else the trash.
    fn flush_next(&mut self) {
        if let Some(seg) = self.meta.outbox.first() {
            let seq = seg.seq;
            if self.must_announce() {
                // Readers may have retired this log: a snapshot beyond their checkpoints, in the
                // listing they make anyway, comes before the segments they would miss.
                let upto = self.meta.next_seq;
                if let Some(r) = &mut self.round {
                    r.announced = Some(upto);
                }
                self.start_compaction(true);
                return;
            }
            self.push(Job::PutSegment(seq));
        } else if !self.meta.trash.is_empty() {
            let keys = self.meta.trash.clone();
            if let Some(r) = &mut self.round {
                r.trash_done.clear();
            }
            for k in keys {
                self.push(Job::DeleteTrash(k));
            }
        }
    }

    /// Moves to the next step whenever the current one has nothing queued, parked or in flight.
    fn advance(&mut self) {
        loop {
            let Some(r) = &self.round else { return };
            if r.stop.is_some()
                || !r.queue.is_empty()
                || !r.local.is_empty()
                || !r.in_flight.is_empty()
                || !r.parked.is_empty()
            {
                return;
            }
            let (pulls, pushes) = (self.direction.pulls(), self.direction.pushes());
            let next = match r.step {
                Step::Flush if pulls => Some(Step::List),
                Step::Flush => Some(Step::Scan),
                Step::List => Some(Step::Pull),
                Step::Pull => Some(Step::Scan),
                Step::Scan => Some(Step::Transfer),
                Step::Transfer if r.repull && r.passes < 3 => Some(Step::List),
                Step::Transfer if pushes => Some(Step::Seal),
                Step::Seal => Some(Step::FinalFlush),
                Step::FinalFlush if self.compaction_due() => Some(Step::Compact),
                Step::Transfer | Step::FinalFlush | Step::Compact => None,
            };
            let Some(next) = next else {
                if let Some(r) = &mut self.round {
                    // A log that could not be read is retried by a later round.
                    r.stop = Some(match r.report.unreadable.first() {
                        None => RoundOutcome::Complete,
                        Some(u) => RoundOutcome::Incomplete {
                            error: SyncError {
                                kind: SyncErrorKind::Remote,
                                code: ErrorCode::Remote,
                                status: None,
                                message: format!(
                                    "{} log segment(s) of other devices could not be read, the first {}/{}: {}",
                                    r.report.unreadable.len(),
                                    u.device,
                                    u.seq,
                                    u.reason
                                ),
                            },
                            retry_at: 0,
                        },
                    });
                }
                return;
            };
            self.enter(next);
        }
    }

    fn maybe_finish(&mut self) {
        let done = matches!(&self.round, Some(r) if r.stop.is_some() && r.in_flight.is_empty());
        if !done {
            return;
        }
        let Some(r) = self.round.take() else { return };
        let mut report = r.report;
        let mut outcome = r.stop.unwrap_or(RoundOutcome::Complete);
        match &mut outcome {
            RoundOutcome::Incomplete { retry_at, .. } => {
                // Exponential with jitter across incomplete rounds in a row; a server's
                // Retry-After is honoured up to a cap, so a bogus one cannot park sync for days.
                let jitter = self.random();
                let delay = self
                    .cfg
                    .round_backoff
                    .delay_ms(self.failed_rounds, jitter)
                    .max(r.retry_after.unwrap_or(0).min(self.cfg.max_retry_after_ms));
                self.failed_rounds = self.failed_rounds.saturating_add(1);
                *retry_at = self.now.saturating_add(delay);
                self.retry_at = Some(*retry_at);
            }
            RoundOutcome::Complete => {
                self.failed_rounds = 0;
                self.retry_at = None;
            }
            RoundOutcome::Stopped { .. } => {
                self.retry_at = None;
            }
            RoundOutcome::Cancelled => {
                self.retry_at = None;
            }
        }
        self.stopped = matches!(outcome, RoundOutcome::Stopped { .. });
        self.triggers_wait =
            matches!(outcome, RoundOutcome::Incomplete { .. }) && r.requests_failed;
        let backing_off = self.retry_at.is_some() && self.triggers_wait;
        report.outcome = outcome;
        self.events.push_back(Event::Done(report));
        if let Some(direction) = self.again.take() {
            let explicit = std::mem::take(&mut self.again_explicit);
            if explicit || (!backing_off && !self.stopped) {
                self.direction = direction;
                self.begin();
            } else if backing_off {
                // An automatic request joins the retry instead of cutting the backoff short.
                self.direction = self.direction.and(direction);
            }
        }
    }

    fn stop(&mut self, outcome: RoundOutcome) {
        if let Some(r) = &mut self.round {
            if r.stop.is_none() {
                r.stop = Some(outcome);
            }
            r.queue.clear();
            r.local.clear();
            r.parked.clear();
        }
    }

    fn op_for(&self, job: &Job) -> Op {
        let layout = &self.cfg.layout;
        match job {
            Job::PutSegment(seq) => {
                let body = self
                    .meta
                    .outbox
                    .iter()
                    .find(|s| s.seq == *seq)
                    .map(|s| s.encode())
                    .unwrap_or_default();
                Op::Put {
                    key: layout.segment_key(&self.meta.device, *seq),
                    body: Body::Json(body),
                    content_type: "application/json".into(),
                }
            }
            Job::HeadSegment(seq, _) => Op::Head {
                key: layout.segment_key(&self.meta.device, *seq),
            },
            Job::HeadBlob(id, hash, ..) => Op::Head {
                key: layout.blob_key(id, hash),
            },
            Job::Confirm(seq) => Op::Commit(Commit::confirm(self.meta.clone(), *seq, self.now)),
            Job::DeleteTrash(key) => Op::Delete { key: key.clone() },
            Job::TrashDone(keys) => Op::Commit(Commit::trashed(self.meta.clone(), keys.clone())),
            Job::ListLog(token) => Op::List {
                folder: layout.log_folder(),
                page_token: token.clone(),
            },
            Job::GetSegment(d, seq) => Op::Get {
                key: layout.segment_key(d, *seq),
            },
            Job::Apply(seg) => Op::Commit(Commit::apply(
                self.meta.clone(),
                seg.clone(),
                self.cfg.merge,
                self.now,
            )),
            Job::Scan => Op::ScanWork,
            Job::Download(id, hash) => Op::GetBlob {
                key: layout.blob_key(id, hash),
                recording: id.clone(),
                hash: hash.clone(),
            },
            Job::Upload(id, hash, mime, _) => Op::Put {
                key: layout.blob_key(id, hash),
                body: Body::LocalAudio {
                    recording: id.clone(),
                    hash: hash.clone(),
                },
                content_type: mime.clone(),
            },
            Job::MarkUploaded(items) => Op::Commit(Commit::uploaded(items.clone())),
            Job::MarkFailed(id, message) => Op::Commit(Commit::failed(id.clone(), message.clone())),
            Job::Seal(ids, uploaded) => Op::Commit(Commit::seal(
                self.meta.clone(),
                ids.clone(),
                uploaded.clone(),
                layout.clone(),
                self.now,
            )),
            Job::RefreshToken => Op::RefreshToken,
            job => self.compact_op(job),
        }
    }

    fn handle(&mut self, task: Task, outcome: Outcome) {
        if let Outcome::Failed(f) = outcome {
            self.failed(task, f);
            return;
        }
        let attempts = task.attempts;
        match (task.job, outcome) {
            (Job::PutSegment(seq), Outcome::Done) => self.segment_landed(seq),
            (Job::HeadSegment(seq, _), Outcome::Exists { size }) => {
                let expected = self.segment_len(seq);
                if Some(size) == expected {
                    // The earlier put landed.
                    self.segment_landed(seq);
                } else {
                    let key = self.cfg.layout.segment_key(&self.meta.device, seq);
                    self.stop(RoundOutcome::Stopped {
                        error: SyncError {
                            kind: SyncErrorKind::Remote,
                            code: ErrorCode::Conflict,
                            status: None,
                            message: format!(
                                "this device's log segment {key} holds {size} bytes, not the {} sealed: the log in the cloud is corrupt",
                                expected.unwrap_or(0)
                            ),
                        },
                    });
                }
            }
            (Job::HeadSegment(seq, refusal), Outcome::NotFound) => match refusal {
                // Not there: the refusal was meant, not an overwrite refused.
                Some(f) => self.permanent(Task::new(Job::PutSegment(seq)), f),
                None => self.push_front(Task {
                    job: Job::PutSegment(seq),
                    attempts,
                    not_before: 0,
                }),
            },
            (Job::HeadBlob(id, hash, _, expected, _), Outcome::Exists { size }) => {
                if size == expected {
                    self.upload_done(id, hash);
                } else {
                    let message = format!(
                        "the cloud holds {size} bytes under this take's key, not its {expected}: it cannot be overwritten"
                    );
                    let f = Failure::new(ErrorClass::Permanent, ErrorCode::Conflict, None, message);
                    self.fail_recording(id, f, true);
                }
            }
            (Job::HeadBlob(id, hash, mime, size, refusal), Outcome::NotFound) => match refusal {
                Some(f) => self.permanent(Task::new(Job::Upload(id, hash, mime, size)), f),
                None => self.push_front(Task {
                    job: Job::Upload(id, hash, mime, size),
                    attempts,
                    not_before: 0,
                }),
            },
            (Job::Confirm(seq), Outcome::Committed(CommitOutcome::Done { meta })) => {
                if let Some(m) = meta {
                    self.meta = m;
                }
                let pushed = self
                    .round
                    .as_ref()
                    .map(|r| r.report.segments_pushed)
                    .unwrap_or(0);
                if let Some(r) = &mut self.round {
                    r.report.segments_pushed += 1;
                }
                let _ = seq;
                self.progress(
                    Stage::Flush,
                    pushed + 1,
                    pushed + 1 + self.meta.outbox.len() as u64,
                );
                self.flush_next();
            }
            (Job::DeleteTrash(key), Outcome::Done | Outcome::NotFound) => {
                self.trash_deleted(key, true);
            }
            (Job::TrashDone(_), Outcome::Committed(CommitOutcome::Done { meta })) => {
                if let Some(m) = meta {
                    self.meta = m;
                }
            }
            (
                Job::ListLog(_),
                Outcome::Listed {
                    folders,
                    next_page_token,
                    ..
                },
            ) => {
                let layout = self.cfg.layout.clone();
                if let Some(r) = &mut self.round {
                    r.devices
                        .extend(folders.iter().filter_map(|f| layout.device_folder(f)));
                    // A device whose segments are all compacted away has only snapshot folders.
                    for (d, upto) in folders.iter().filter_map(|f| layout.snapshot_of(f)) {
                        r.devices.insert(d.clone());
                        r.snaps.entry(d).or_default().insert(upto);
                    }
                }
                if let Some(t) = next_page_token {
                    self.push(Job::ListLog(Some(t)));
                }
            }
            (Job::GetSegment(device, seq), Outcome::Got(bytes)) => {
                match Segment::decode(&bytes, &device, seq) {
                    Ok(seg) => self.push(Job::Apply(seg)),
                    Err(e) => self.unreadable(device, seq, e.to_string()),
                }
            }
            (Job::GetSegment(device, seq), Outcome::NotFound) => {
                // Nothing new, or compacted away: a snapshot beyond `seq` has it.
                if !self.read_snapshot(device.clone(), seq, None) {
                    self.log_ended(device, seq);
                }
            }
            (
                Job::Apply(seg),
                Outcome::Committed(CommitOutcome::Applied {
                    meta,
                    changed,
                    conflicts,
                    changes,
                }),
            ) => {
                self.meta = meta;
                if let Some(r) = &mut self.round {
                    r.report.segments_pulled += 1;
                    r.report.changes_pulled += changes as u64;
                    r.report.conflicts += conflicts.len() as u64;
                }
                if !changed.is_empty() {
                    self.events.push_back(Event::Changed(changed));
                }
                for c in conflicts {
                    self.events.push_back(Event::Conflict(c));
                }
                self.push(Job::GetSegment(seg.device, seg.seq.saturating_add(1)));
            }
            (Job::Scan, Outcome::Scanned(entries)) => self.plan(entries),
            (Job::Download(..), Outcome::Done) => {
                if let Some(r) = &mut self.round {
                    r.report.blobs_downloaded += 1;
                }
                self.transfer_done();
            }
            (Job::Download(..), Outcome::NotFound) => {
                // The blob was deleted: the audio was replaced or the recording deleted since
                // this device pulled. Pull again to learn which.
                if let Some(r) = &mut self.round {
                    r.repull = true;
                }
                self.transfer_done();
            }
            (Job::Upload(id, hash, ..), Outcome::Done) => self.upload_done(id, hash),
            (Job::Upload(..), Outcome::NotFound) => self.transfer_done(),
            (Job::MarkUploaded(..) | Job::MarkFailed(..), Outcome::Committed(_)) => {}
            (
                Job::Seal(ids, _),
                Outcome::Committed(CommitOutcome::Sealed {
                    meta,
                    seq,
                    changes,
                    more,
                    failed,
                }),
            ) => {
                self.meta = meta;
                for (id, message) in failed {
                    // Marked failed by the seal itself: only reported here.
                    let f = Failure::local(ErrorCode::InvalidArgument, message);
                    self.report_failure(id, f);
                }
                if let Some(r) = &mut self.round {
                    r.report.changes_pushed += changes as u64;
                }
                self.progress(Stage::Seal, changes as u64, changes as u64);
                if more && seq.is_some() {
                    self.push(Job::Seal(ids, Vec::new()));
                }
            }
            (Job::RefreshToken, Outcome::Done) => {
                if let Some(r) = &mut self.round {
                    r.token = Token::Refreshed;
                    let parked = std::mem::take(&mut r.parked);
                    for t in parked.into_iter().rev() {
                        r.queue.push_front(t);
                    }
                }
            }
            (job, outcome) if job.is_snapshot_job() => self.handle_snapshot(job, outcome, attempts),
            (job, _) => {
                let message = "the driver answered a job with an outcome it cannot take".to_owned();
                self.failed(
                    Task {
                        job,
                        attempts,
                        not_before: 0,
                    },
                    Failure::local(ErrorCode::Internal, message),
                );
            }
        }
    }

    fn transfer_done(&mut self) {
        let Some(r) = &mut self.round else { return };
        r.transfers.0 += 1;
        let (done, total) = r.transfers;
        // Finished uploads are confirmed in batches: one local commit per upload paced the
        // uploads by commits (each slower with every Blob the database holds). A batch lost to a
        // crash only means its audio is uploaded again, to the same content-addressed keys. The
        // last batch goes with the seal (`enter`).
        let waited = self.now.saturating_sub(r.confirming_since);
        if r.confirming.len() >= CONFIRM_BATCH || waited >= CONFIRM_AFTER_MS {
            self.confirm_uploads();
        }
        self.progress(Stage::Transfer, done, total);
    }

    /// Queues the commit recording the finished uploads not recorded yet, if there are any.
    fn confirm_uploads(&mut self) {
        let Some(r) = &mut self.round else { return };
        if !r.confirming.is_empty() {
            let items = std::mem::take(&mut r.confirming);
            self.push(Job::MarkUploaded(items));
        }
    }

    fn trash_deleted(&mut self, key: String, deleted: bool) {
        let Some(r) = &mut self.round else { return };
        if deleted {
            r.report.blobs_deleted += 1;
        }
        r.trash_done.push(key);
        let pending = r
            .queue
            .iter()
            .chain(r.in_flight.values())
            .chain(r.parked.iter())
            .any(|t| matches!(t.job, Job::DeleteTrash(_)));
        if !pending {
            let keys = std::mem::take(&mut r.trash_done);
            self.push(Job::TrashDone(keys));
        }
    }

    /// Plans the transfer and seal steps from the entries with work.
    fn plan(&mut self, entries: Vec<LocalEntry>) {
        let Some(r) = &mut self.round else { return };
        // A push leaves downloads to the next pull; a pull leaves uploads and sealing to the
        // next push.
        let (pulls, pushes) = (self.direction.pulls(), self.direction.pushes());
        for e in entries {
            if let Some(a) = e.wants_download().filter(|_| pulls) {
                r.planned.push(Job::Download(e.id.clone(), a.hash.clone()));
            }
            if let Some(a) = e.needs_upload().filter(|_| pushes) {
                r.planned.push(Job::Upload(
                    e.id.clone(),
                    a.hash.clone(),
                    a.mime_type.clone(),
                    a.size,
                ));
            }
            if pushes && e.needs_push() {
                r.seal_ids.push(e.id.clone());
            }
        }
        self.progress(Stage::Scan, 1, 1);
    }

    fn failed(&mut self, mut task: Task, f: Failure) {
        let now = self.now;
        if matches!(task.job, Job::RefreshToken) && f.class != ErrorClass::Retryable {
            // The app could not give a fresh token: waiting on it would hang the round.
            self.permanent(task, f);
            return;
        }
        match f.class {
            ErrorClass::Retryable if !task.job.is_local() => {
                task.attempts += 1;
                let retry_after = f.retry_after_ms;
                // A server asking for a longer pause than a request's backoff gets it between
                // rounds (capped there), not with a round held open.
                let long_pause = retry_after.is_some_and(|ms| ms > self.cfg.backoff.max_ms);
                if task.attempts >= self.cfg.max_attempts.max(1) || long_pause {
                    let kind = if f.code == ErrorCode::Network {
                        SyncErrorKind::Network
                    } else {
                        SyncErrorKind::Remote
                    };
                    if let Some(r) = &mut self.round {
                        r.retry_after = retry_after;
                        r.requests_failed = true;
                    }
                    self.stop(RoundOutcome::Incomplete {
                        error: SyncError::from_failure(kind, &f),
                        retry_at: 0,
                    });
                    return;
                }
                let jitter = self.random();
                let delay = self
                    .cfg
                    .backoff
                    .delay_ms(task.attempts - 1, jitter)
                    .max(retry_after.unwrap_or(0));
                task.not_before = now.saturating_add(delay);
                if f.status.is_none() {
                    // No answer: the write may have landed. Every key is written once, so ask
                    // before sending it again.
                    task.job = task.job.check_first(None);
                }
                if let Some(r) = &mut self.round {
                    r.queue.push_back(task);
                }
            }
            ErrorClass::NeedsNewToken if !task.job.is_local() => {
                let Some(r) = &mut self.round else { return };
                match r.token {
                    Token::Fresh => {
                        r.token = Token::Refreshing;
                        r.parked.push(task);
                        r.queue.push_front(Task::new(Job::RefreshToken));
                    }
                    Token::Refreshing => r.parked.push(task),
                    Token::Refreshed => self.stop(RoundOutcome::Stopped {
                        error: SyncError::from_failure(SyncErrorKind::Unauthorized, &f),
                    }),
                }
            }
            _ if f.may_mean_exists()
                && matches!(
                    task.job,
                    Job::PutSegment(_) | Job::Upload(..) | Job::PutSnapPart(..)
                ) =>
            {
                // A create-only store refuses to overwrite: the object may be there from an
                // attempt whose answer was lost (or from before a crash). Ask before concluding.
                task.job = task.job.check_first(Some(f));
                task.not_before = 0;
                self.push_front(task);
            }
            _ => self.permanent(task, f),
        }
    }

    fn permanent(&mut self, task: Task, f: Failure) {
        match task.job {
            Job::Upload(id, ..) | Job::HeadBlob(id, ..) => self.fail_recording(id, f, true),
            // Not this recording's fault on this device: reported, retried next round.
            Job::Download(id, _) => self.fail_recording(id, f, false),
            Job::DeleteTrash(key) => {
                // A blob we may not delete stays; it only costs storage. Not worth a stuck sync.
                self.trash_deleted(key, false);
            }
            Job::GetSegment(device, seq) => {
                let reason = match f.status {
                    Some(s) => format!("{} (HTTP status {s})", f.message),
                    None => f.message,
                };
                self.unreadable(device, seq, reason);
            }
            Job::RefreshToken => self.stop(RoundOutcome::Stopped {
                error: SyncError::from_failure(SyncErrorKind::Unauthorized, &f),
            }),
            job if job.is_snapshot_job() => self.snapshot_failed(job, f),
            job => {
                // The listing or this device's own log: the folder as a whole.
                let kind = if job.is_local() {
                    SyncErrorKind::Local
                } else if f.status == Some(403) || f.code == ErrorCode::Forbidden {
                    SyncErrorKind::Forbidden
                } else if f.code == ErrorCode::Unauthorized {
                    SyncErrorKind::Unauthorized
                } else {
                    SyncErrorKind::Remote
                };
                self.stop(RoundOutcome::Stopped {
                    error: SyncError::from_failure(kind, &f),
                });
            }
        }
    }

    fn push_front(&mut self, task: Task) {
        if let Some(r) = &mut self.round {
            r.queue.push_front(task);
        }
    }

    /// The encoded length of outbox segment `seq`, if it is in the outbox.
    fn segment_len(&self, seq: u64) -> Option<u64> {
        self.meta
            .outbox
            .iter()
            .find(|s| s.seq == seq)
            .map(|s| s.encode().len() as u64)
    }

    fn upload_done(&mut self, id: RecordingId, hash: ContentHash) {
        if let Some(r) = &mut self.round {
            r.report.blobs_uploaded += 1;
            if r.confirming.is_empty() {
                r.confirming_since = self.now;
            }
            r.confirming.push((id, hash));
        }
        self.transfer_done();
    }

    /// Recording `id` failed this round: reported; with `mark`, marked failed in the store (an
    /// upload the cloud refused for good waits for the app).
    fn fail_recording(&mut self, id: RecordingId, f: Failure, mark: bool) {
        if mark {
            self.push(Job::MarkFailed(id.clone(), f.message.clone()));
        }
        self.report_failure(id, f);
        self.transfer_done();
    }

    fn report_failure(&mut self, id: RecordingId, f: Failure) {
        if let Some(r) = &mut self.round {
            if !r.report.failed.iter().any(|x| x.id == id) {
                r.report.failed.push(RecordingFailure {
                    id: id.clone(),
                    code: f.code,
                    status: f.status,
                    message: f.message.clone(),
                });
            }
        }
        self.events.push_back(Event::RecordingFailed {
            recording: id,
            failure: f,
        });
    }

    /// Segment `seq` of `device`'s log cannot be read: that log waits here (no later segment is
    /// asked for, the checkpoint stays), the other logs go on, and the round ends incomplete.
    fn unreadable(&mut self, device: DeviceId, seq: u64, reason: String) {
        let u = UnreadableSegment {
            device,
            seq,
            reason,
        };
        if let Some(r) = &mut self.round {
            // A later pull pass of the same round meets it again.
            if r.report
                .unreadable
                .iter()
                .any(|x| x.device == u.device && x.seq == u.seq)
            {
                return;
            }
            r.report.unreadable.push(u.clone());
        }
        self.events.push_back(Event::LogUnreadable(u));
    }
}

impl Job {
    /// The metadata read to make before sending this create-only write again (`refusal`: the
    /// refusal that prompted it, if any); other jobs are sent again as they are.
    fn check_first(self, refusal: Option<Failure>) -> Job {
        match self {
            Job::PutSegment(seq) => Job::HeadSegment(seq, refusal),
            Job::Upload(id, hash, mime, size) => Job::HeadBlob(id, hash, mime, size, refusal),
            // A head that got no answer keeps the refusal it is checking.
            Job::HeadSegment(seq, earlier) => Job::HeadSegment(seq, earlier.or(refusal)),
            Job::HeadBlob(id, hash, mime, size, earlier) => {
                Job::HeadBlob(id, hash, mime, size, earlier.or(refusal))
            }
            Job::PutSnapPart(upto, part) => Job::HeadSnapPart(upto, part, refusal),
            Job::HeadSnapPart(upto, part, earlier) => {
                Job::HeadSnapPart(upto, part, earlier.or(refusal))
            }
            job => job,
        }
    }
}
