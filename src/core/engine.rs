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
//!    from its checkpoint on, applying each in local transactions of at most
//!    [`COMMIT_CHANGES`] changes, the last of which moves the checkpoint;
//!    a device with nothing new costs one `Get` that answers "not found";
//! 3. **scan**: read the entries that have work (the sparse `work` index);
//! 4. **transfer**: download audio this device lacks, upload audio of unpublished takes;
//! 5. **seal**: move unpublished edits into new segments of this device's log, at most
//!    [`COMMIT_CHANGES`] a segment (each a local commit: the
//!    segment is fixed before it is uploaded, so a retry uploads the same bytes); each segment's
//!    upload starts while the next is sealed;
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
use super::limits::COMMIT_CHANGES;
use super::log::Segment;
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
mod failures;
mod io;
mod outcomes;
mod report;
mod round;
mod steps;
// The engine's parts: the round's state (`round`), its steps (`steps`), what each answer does
// (`outcomes`), failures and retries (`failures`), the own log's compaction (`compact`).
use round::{Job, Round, Step, Task, Token};
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
}
