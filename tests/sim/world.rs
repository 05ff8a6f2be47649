//! The simulated world: a cloud, devices (a local database, an engine, the ops in flight), and a
//! driver that carries out the engines' operations with injected faults.

use std::collections::{BTreeMap, BTreeSet};

use tapesync::core::commit::{audio_arrived, Commit, CommitOutcome, Ran, SyncMeta};
use tapesync::core::device::DeviceId;
use tapesync::core::engine::{
    Body, Direction, Engine, EngineConfig, Event, Failure, Op, OpId, Outcome, Report, RoundOutcome,
};
use tapesync::core::entry::{Edit, LocalEntry};
use tapesync::core::error_class::ErrorCode;
use tapesync::core::fields::{AudioRef, ContentHash, Fields};
use tapesync::core::hlc::Clock;
use tapesync::core::id::RecordingId;
use tapesync::core::layout::{Layout, RemoteKey};
use tapesync::core::log::Segment;
use tapesync::core::merge::{MergeConfig, Policy, CONFLICT_OF};
use tapesync::core::recording::{Recording, SyncState};
use tapesync::core::retire;
use tapesync::core::snapshot::SnapshotPart;
use tapesync::core::state::Phase;

/// The longest `Retry-After` the engine honours (`EngineConfig::max_retry_after_ms`).
const MAX_RETRY_AFTER_MS: u64 = 3_600_000;

use super::cloud::{Cloud, Obj, Stats};

/// Uploads whose audio the browser driver reads at once (`src/browser/staging.rs`).
const READ_AHEAD: usize = 16;

/// Where the simulated clock starts: late 2023, so stamps look like real times.
pub const EPOCH_MS: u64 = 1_700_000_000_000;

/// What goes wrong with one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nothing.
    None,
    /// A remote request fails before it takes effect (503).
    Before,
    /// A 503 with a `Retry-After` of this many milliseconds, no effect.
    Throttled(u64),
    /// A remote request takes effect but its response is lost (network error).
    Lost,
    /// The token expired (401), no effect.
    Unauthorized,
    /// The rules refuse the request (403), no effect: an audio upload or download (that
    /// recording fails), the listing or this device's log (the round stops).
    Forbidden,
    /// A local transaction aborts, no effect.
    TxFail,
}

/// Something a user does on a device, as the store would do it: one transaction on the entry.
/// `pick` chooses among the device's visible recordings (modulo their count).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Rename(u16),
    Tag(u16),
    SetCustom(u16, u8),
    RemoveCustom(u16, u8),
    Duration(u16),
    Rerecord(u16),
    Delete(u16),
}

/// One step of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    User(usize, Action),
    /// A round the app asks for (`sync()`): runs now, backoff or not.
    Sync(usize, Direction),
    /// A round an automatic trigger asks for (a local change, the network back, a timer).
    AutoSync(usize, Direction),
    /// Every remote request of every device fails (503) while on.
    Outage(bool),
    Deliver(usize, u16, Fault),
    Advance(u64),
    Crash(usize, u64),
    Offline(usize, bool),
    /// The device's other tab takes over syncing (if neither is syncing: the store's lock): its
    /// own long-lived engine, which last saw the store before this tab's rounds.
    SwitchTab(usize),
    /// The device is gone for good (lost, wiped): it never runs again. What it had not
    /// published is lost with it; what it had must reach every other device.
    Vanish(usize),
}

/// How a world is set up.
#[derive(Clone, Debug)]
pub struct Setup {
    pub devices: usize,
    pub skews_ms: Vec<i64>,
    pub policies: Vec<Policy>,
    pub conflict_copies: bool,
    pub page_size: usize,
    pub max_in_flight: usize,
    /// `EngineConfig::compact_every` and `retire_after_ms`.
    pub compact_every: u64,
    pub retire_after_ms: u64,
}

/// A device's local database, committed state only.
#[derive(Clone, Debug)]
pub struct Db {
    pub entries: BTreeMap<RecordingId, LocalEntry>,
    pub clock: Clock,
    pub meta: SyncMeta,
    /// The audio the store holds per recording (the hash stands for the bytes).
    pub audio: BTreeMap<RecordingId, ContentHash>,
}

impl Db {
    fn run_commit(&mut self, c: &Commit) -> CommitOutcome {
        let mut read = BTreeMap::new();
        let mut ids = c.reads();
        let (w, out) = loop {
            for id in ids {
                let e = self.entries.get(&id).cloned();
                read.insert(id, e);
            }
            match c.run(self.clock.clone(), &read) {
                Ran::Done(w, out) => break (w, out),
                Ran::Read(more) => ids = more,
            }
        };
        for (from, to) in &w.copy_audio {
            if let Some(h) = self.audio.get(from).cloned() {
                self.audio.insert(to.clone(), h);
            }
        }
        for e in w.entries {
            self.entries.insert(e.id.clone(), e);
        }
        for id in &w.drop_audio {
            self.audio.remove(id);
        }
        self.clock = w.clock;
        if let Some(m) = w.meta {
            self.meta = m;
        }
        out
    }

    pub fn visible(&self) -> Vec<Recording> {
        self.entries.values().filter_map(|e| e.public()).collect()
    }
}

pub struct Device {
    pub id: DeviceId,
    pub db: Db,
    pub engine: Engine,
    /// The engine of the device's other tab, idle while this one syncs, with its backoff as the
    /// driver sees it (`backoff_until`, `failed_rounds`).
    pub other_tab: (Engine, Option<u64>, u32),
    pub cfg: EngineConfig,
    pub in_flight: Vec<(OpId, Op)>,
    /// Audio the driver read ahead for queued uploads, by cloud key: whether the recording still
    /// had the upload's audio when it was read (`src/browser/staging.rs`).
    pub staged: BTreeMap<String, bool>,
    pub skew_ms: i64,
    pub offline: bool,
    pub crashes: u64,
    pub commits: u64,
    pub reports: Vec<Report>,
    /// The app asked for a round that has not started yet (it starts at the next `Started`).
    pub explicit_pending: bool,
    /// The driver's view of the backoff: the `retry_at` of the last round, if incomplete.
    pub backoff_until: Option<u64>,
    /// Incomplete rounds in a row, as the engine should count them.
    pub failed_rounds: u32,
    /// The largest `Retry-After` sent to this device during the running round.
    pub retry_after_sent: u64,
    /// Recordings with pending work when the running round started (pushing rounds only), and
    /// those a user edited since.
    pub pending_at_start: Option<BTreeSet<RecordingId>>,
    pub edited_during: BTreeSet<RecordingId>,
    /// Rounds started by the engine itself (retries after a backoff) and by automatic triggers.
    pub automatic_rounds: u64,
}

/// Whether an entry has work to publish (or is waiting for its segment), failed ones aside.
pub fn pending(e: &LocalEntry) -> bool {
    e.phase != Phase::Failed
        && (!e.local.is_empty()
            || matches!(e.phase, Phase::Pending | Phase::Uploading | Phase::Conflict))
}

/// What users did, to check that nothing they kept was lost.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    pub created: BTreeSet<RecordingId>,
    /// Recordings a user deleted, and the device it was deleted on.
    pub deleted: BTreeMap<RecordingId, usize>,
    /// Every take recorded, and the recording it was recorded into.
    pub takes: BTreeMap<ContentHash, RecordingId>,
    /// Takes a user replaced or deleted while seeing them.
    pub destroyed: BTreeSet<ContentHash>,
    /// The device each take was recorded on.
    pub take_author: BTreeMap<ContentHash, usize>,
}

pub struct World {
    pub setup: Setup,
    pub cloud: Cloud,
    pub devices: Vec<Device>,
    pub now: u64,
    pub ledger: Ledger,
    pub violations: Vec<String>,
    /// Users act only on recordings users created (not on conflict copies): the reference model
    /// does not follow copies.
    pub picks_only_created: bool,
    /// Every remote request fails while on.
    pub outage: bool,
    /// The size of every take, by hash.
    pub sizes: BTreeMap<ContentHash, u64>,
    next_take: u64,
    next_id: u64,
    /// Devices gone for good, with the recordings that had unpublished work on them then.
    pub vanished: BTreeMap<usize, BTreeSet<RecordingId>>,
}

/// `TAPESYNC_SIM_TRACE=1` prints every step and operation of the histories run.
pub fn trace() -> bool {
    std::env::var_os("TAPESYNC_SIM_TRACE").is_some()
}

fn dev_id(i: usize) -> DeviceId {
    // Not in index order, so that device-id tie-breaks do not line up with anything else.
    DeviceId::parse(&format!("dev-{}", ["k", "c", "x", "a", "q", "m"][i % 6])).unwrap()
}

fn take_hash(n: u64) -> ContentHash {
    let mut s = String::new();
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xabcdef;
    for _ in 0..4 {
        s.push_str(&format!("{x:016x}"));
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9).wrapping_add(n);
    }
    ContentHash::parse(&s).unwrap()
}

impl World {
    pub fn new(setup: Setup) -> Self {
        let devices = (0..setup.devices)
            .map(|i| {
                let id = dev_id(i);
                let cfg = EngineConfig {
                    merge: MergeConfig {
                        policy: setup.policies[i],
                        conflict_copies: setup.conflict_copies,
                    },
                    layout: Layout::new("users/u1/tapesync").unwrap(),
                    max_in_flight: setup.max_in_flight,
                    compact_every: setup.compact_every,
                    retire_after_ms: setup.retire_after_ms,
                    ..EngineConfig::default()
                };
                let meta = SyncMeta::new(id.clone());
                Device {
                    engine: Engine::new(cfg.clone(), meta.clone(), i as u64),
                    other_tab: (
                        Engine::new(cfg.clone(), meta.clone(), 500 + i as u64),
                        None,
                        0,
                    ),
                    db: Db {
                        entries: BTreeMap::new(),
                        clock: Clock::new(id.clone()),
                        meta,
                        audio: BTreeMap::new(),
                    },
                    id,
                    cfg,
                    in_flight: Vec::new(),
                    staged: BTreeMap::new(),
                    skew_ms: setup.skews_ms[i],
                    offline: false,
                    crashes: 0,
                    commits: 0,
                    reports: Vec::new(),
                    explicit_pending: false,
                    backoff_until: None,
                    failed_rounds: 0,
                    retry_after_sent: 0,
                    pending_at_start: None,
                    edited_during: BTreeSet::new(),
                    automatic_rounds: 0,
                }
            })
            .collect();
        World {
            cloud: Cloud::new(setup.page_size),
            setup,
            devices,
            now: EPOCH_MS,
            ledger: Ledger::default(),
            violations: Vec::new(),
            picks_only_created: false,
            outage: false,
            sizes: BTreeMap::new(),
            next_take: 1,
            next_id: 1,
            vanished: BTreeMap::new(),
        }
    }

    pub fn device_now(&self, d: usize) -> u64 {
        (self.now as i64 + self.devices[d].skew_ms).max(0) as u64
    }

    /// Hands out every op the engine has ready and collects its events, like the driver's loop.
    fn pump(&mut self, d: usize) {
        let now = self.device_now(d);
        let dev = &mut self.devices[d];
        while let Some((id, op)) = dev.engine.poll_op() {
            if let Op::Put {
                key,
                body: Body::LocalAudio { recording, hash },
                ..
            } = &op
            {
                // Like the browser driver, read the audio of this upload and of the ones queued
                // next at once, before sending: what was read is what is sent, whatever happens
                // to the recording meanwhile.
                let audio = &dev.db.audio;
                let current = dev
                    .staged
                    .remove(key)
                    .unwrap_or_else(|| audio.get(recording) == Some(hash));
                for u in dev.engine.queued_uploads(READ_AHEAD - 1) {
                    let read = audio.get(&u.recording) == Some(&u.hash);
                    dev.staged.entry(u.key).or_insert(read);
                }
                if !current {
                    dev.engine.on_result(id, Outcome::NotFound, now);
                    continue;
                }
            }
            dev.in_flight.push((id, op));
        }
        let mut events = Vec::new();
        while let Some(ev) = dev.engine.poll_event() {
            events.push(ev);
        }
        for ev in events {
            match ev {
                Event::Started => self.round_started(d),
                Event::Done(r) => {
                    self.devices[d].staged.clear();
                    self.round_done(d, &r);
                    self.devices[d].reports.push(r);
                }
                _ => {}
            }
        }
    }

    /// A round starts: check it may (not before the backoff's end unless the app asked), and note
    /// what is pending, to check what a complete round promises.
    fn round_started(&mut self, d: usize) {
        let now = self.device_now(d);
        let dev = &mut self.devices[d];
        let explicit = std::mem::take(&mut dev.explicit_pending);
        if !explicit {
            dev.automatic_rounds += 1;
            if let Some(t) = dev.backoff_until.filter(|&t| now < t) {
                self.violations.push(format!(
                    "{}: an automatic round started at {now}, before the backoff's end at {t}",
                    dev.id
                ));
            }
        }
        dev.retry_after_sent = 0;
        dev.edited_during.clear();
        dev.pending_at_start = (dev.engine.direction() != Direction::Pull).then(|| {
            dev.db
                .entries
                .values()
                .filter(|e| pending(e))
                .map(|e| e.id.clone())
                .collect()
        });
    }

    /// A round ended: check the backoff schedule and, if complete, that nothing pending when it
    /// started is still pending except recordings it reports failed.
    fn round_done(&mut self, d: usize, r: &Report) {
        let now = self.device_now(d);
        let dev = &mut self.devices[d];
        let snapshot = dev.pending_at_start.take();
        match &r.outcome {
            RoundOutcome::Incomplete { retry_at, error } => {
                let delay = retry_at.saturating_sub(now);
                let ceiling = dev.cfg.round_backoff.ceiling_ms(dev.failed_rounds);
                let asked = dev.retry_after_sent.min(MAX_RETRY_AFTER_MS);
                if delay < ceiling / 2 || delay > ceiling.max(asked) {
                    self.violations.push(format!(
                        "{}: incomplete round #{} in a row retries in {delay} ms, outside [{}, {}] ({error:?})",
                        dev.id,
                        dev.failed_rounds + 1,
                        ceiling / 2,
                        ceiling.max(asked)
                    ));
                }
                if dev.engine.retry_at() != Some(*retry_at) && !dev.engine.is_syncing() {
                    self.violations
                        .push(format!("{}: retry_at() disagrees with the report", dev.id));
                }
                dev.failed_rounds += 1;
                // Automatic rounds wait for it when the cloud kept failing; a round incomplete
                // because of an unreadable segment (also) does not hold them back.
                dev.backoff_until = r.unreadable.is_empty().then_some(*retry_at);
            }
            RoundOutcome::Complete => {
                dev.failed_rounds = 0;
                dev.backoff_until = None;
                let failed: BTreeSet<&RecordingId> = r.failed.iter().map(|f| &f.id).collect();
                for id in snapshot.iter().flatten() {
                    if dev.edited_during.contains(id) || failed.contains(id) {
                        continue;
                    }
                    if let Some(e) = dev.db.entries.get(id).filter(|e| pending(e)) {
                        self.violations.push(format!(
                            "{}: a complete round left {id} pending ({:?}), pending when it started and not in failed",
                            dev.id, e.phase
                        ));
                    }
                }
            }
            RoundOutcome::Stopped { .. } | RoundOutcome::Cancelled => dev.backoff_until = None,
        }
    }

    pub fn step(&mut self, step: &Step) {
        if trace() {
            println!("step {step:?}");
        }
        let acting = match step {
            Step::User(d, _)
            | Step::Sync(d, _)
            | Step::AutoSync(d, _)
            | Step::Deliver(d, ..)
            | Step::Crash(d, _)
            | Step::Offline(d, _)
            | Step::SwitchTab(d)
            | Step::Vanish(d) => Some(*d % self.devices.len()),
            _ => None,
        };
        if acting.is_some_and(|d| self.vanished.contains_key(&d)) {
            return;
        }
        match step {
            Step::Vanish(d) => {
                let d = *d % self.devices.len();
                let db = &self.devices[d].db;
                // Unpublished: pending or failed here, or sealed into a segment not confirmed.
                let unsettled = db
                    .entries
                    .values()
                    .filter(|e| pending(e) || e.phase == Phase::Failed)
                    .map(|e| e.id.clone())
                    .chain(
                        db.meta
                            .outbox
                            .iter()
                            .flat_map(|s| s.changes.iter().map(|c| c.id.clone())),
                    )
                    .collect();
                self.devices[d].in_flight.clear();
                self.vanished.insert(d, unsettled);
            }
            Step::User(d, a) => {
                let d = *d % self.devices.len();
                let _ = self.user(d, a);
            }
            Step::Sync(d, direction) => {
                let d = *d % self.devices.len();
                self.start(d, *direction, true);
            }
            Step::AutoSync(d, direction) => {
                let d = *d % self.devices.len();
                self.start(d, *direction, false);
            }
            Step::Outage(on) => self.outage = *on,
            Step::Deliver(d, pick, fault) => {
                let d = *d % self.devices.len();
                let n = self.devices[d].in_flight.len();
                if n == 0 {
                    return;
                }
                let (id, op) = self.devices[d].in_flight.remove(*pick as usize % n);
                let out = self.execute(d, &op, *fault);
                let now = self.device_now(d);
                self.devices[d].engine.on_result(id, out, now);
                self.pump(d);
            }
            Step::Advance(ms) => {
                self.now += ms;
                for d in 0..self.devices.len() {
                    if self.vanished.contains_key(&d) {
                        continue;
                    }
                    let now = self.device_now(d);
                    if self.devices[d]
                        .engine
                        .next_wakeup()
                        .is_some_and(|t| t <= now)
                    {
                        self.devices[d].engine.handle_timeout(now);
                        self.pump(d);
                    }
                }
            }
            Step::Crash(d, coins) => {
                let d = *d % self.devices.len();
                // Requests already sent may still land; transactions in flight commit or not.
                let ops = std::mem::take(&mut self.devices[d].in_flight);
                for (i, (_, op)) in ops.iter().enumerate() {
                    if coins >> (i % 64) & 1 == 1 {
                        let _ = self.execute(d, op, Fault::None);
                    }
                }
                let dev = &mut self.devices[d];
                dev.crashes += 1;
                dev.staged.clear();
                // A new engine: no round, no backoff.
                dev.explicit_pending = false;
                dev.backoff_until = None;
                dev.failed_rounds = 0;
                dev.pending_at_start = None;
                dev.engine = Engine::new(
                    dev.cfg.clone(),
                    dev.db.meta.clone(),
                    1_000 + dev.crashes * 31 + d as u64,
                );
                dev.other_tab = (
                    Engine::new(dev.cfg.clone(), dev.db.meta.clone(), 2_000 + dev.crashes),
                    None,
                    0,
                );
            }
            Step::SwitchTab(d) => {
                let d = *d % self.devices.len();
                let dev = &mut self.devices[d];
                if dev.engine.is_syncing() || !dev.in_flight.is_empty() {
                    return;
                }
                std::mem::swap(&mut dev.engine, &mut dev.other_tab.0);
                std::mem::swap(&mut dev.backoff_until, &mut dev.other_tab.1);
                std::mem::swap(&mut dev.failed_rounds, &mut dev.other_tab.2);
            }
            Step::Offline(d, off) => {
                let d = *d % self.devices.len();
                self.devices[d].offline = *off;
            }
        }
    }

    /// Starts a round on device `d` the way the browser driver does with its one long-lived
    /// engine: the sync state read from the store first, then `start` for a round the app asked
    /// for, `start_automatic` for a trigger.
    pub fn start(&mut self, d: usize, direction: Direction, explicit: bool) {
        let now = self.device_now(d);
        let dev = &mut self.devices[d];
        dev.engine.load_meta(dev.db.meta.clone());
        if explicit {
            dev.explicit_pending = true;
            dev.engine.start(direction, now);
        } else {
            dev.engine.start_automatic(direction, now);
        }
        self.pump(d);
    }

    /// Carries out one operation of device `d` with `fault` injected.
    pub fn execute(&mut self, d: usize, op: &Op, fault: Fault) -> Outcome {
        let out = self.execute_inner(d, op, fault);
        if trace() {
            println!("  {} {op:?} [{fault:?}] -> {out:?}", self.devices[d].id);
        }
        out
    }

    fn execute_inner(&mut self, d: usize, op: &Op, fault: Fault) -> Outcome {
        if op.is_remote() {
            if self.devices[d].offline {
                return Outcome::Failed(Failure::network("offline"));
            }
            if self.outage && !matches!(op, Op::RefreshToken) {
                return Outcome::Failed(Failure::http(503, ErrorCode::Remote, "outage"));
            }
            match fault {
                Fault::Before => {
                    return Outcome::Failed(Failure::http(503, ErrorCode::Remote, "unavailable"))
                }
                Fault::Throttled(ms) => {
                    let dev = &mut self.devices[d];
                    dev.retry_after_sent = dev.retry_after_sent.max(ms);
                    return Outcome::Failed(
                        Failure::http(503, ErrorCode::Remote, "slow down")
                            .with_retry_after(Some(ms)),
                    );
                }
                Fault::Unauthorized => {
                    return Outcome::Failed(Failure::http(
                        401,
                        ErrorCode::Unauthorized,
                        "token expired",
                    ))
                }
                Fault::Forbidden
                    if matches!(op, Op::Put { .. } | Op::GetBlob { .. } | Op::List { .. }) =>
                {
                    return Outcome::Failed(Failure::http(403, ErrorCode::Forbidden, "forbidden"))
                }
                _ => {}
            }
            let out = self.effect(d, op);
            if fault == Fault::Lost {
                return Outcome::Failed(Failure::network("connection reset"));
            }
            out
        } else {
            if fault == Fault::TxFail && matches!(op, Op::Commit(_)) {
                return Outcome::Failed(Failure::local(
                    ErrorCode::StorageUnavailable,
                    "transaction aborted",
                ));
            }
            self.effect(d, op)
        }
    }

    fn effect(&mut self, d: usize, op: &Op) -> Outcome {
        let cloud = &mut self.cloud;
        let dev = &mut self.devices[d];
        match op {
            Op::List { folder, page_token } => cloud.list(folder, page_token.as_deref()),
            Op::Get { key } => {
                cloud.stats.get += 1;
                match cloud.objects.get(key) {
                    Some(Obj::Json(b)) => Outcome::Got(b.clone()),
                    Some(Obj::Audio(h, _)) => Outcome::Got(h.as_str().as_bytes().to_vec()),
                    None => Outcome::NotFound,
                }
            }
            Op::Head { key } => {
                cloud.stats.head += 1;
                match cloud.objects.get(key) {
                    Some(o) => Outcome::Exists { size: o.size() },
                    None => Outcome::NotFound,
                }
            }
            Op::Put { key, body, .. } => {
                cloud.stats.put += 1;
                let obj = match body {
                    Body::Json(b) => Obj::Json(b.clone()),
                    // Checked against the recording when the driver read the audio (`pump`).
                    Body::LocalAudio { hash, .. } => {
                        if !key.ends_with(hash.as_str()) {
                            self.violations
                                .push(format!("{}: audio {hash} put under {key}", dev.id));
                        }
                        Obj::Audio(hash.clone(), self.sizes.get(hash).copied().unwrap_or(0))
                    }
                };
                if let Some(old) = cloud.objects.get(key) {
                    if *old != obj {
                        self.violations.push(format!(
                            "{}: tried to overwrite {key} with different content",
                            dev.id
                        ));
                    }
                    // Create-only, as the bucket's rules make it.
                    return Outcome::Failed(Failure::http(
                        403,
                        ErrorCode::Forbidden,
                        "create-only: the object exists",
                    ));
                }
                cloud.objects.insert(key.clone(), obj);
                Outcome::Done
            }
            Op::GetBlob {
                key,
                recording,
                hash,
            } => {
                cloud.stats.get_blob += 1;
                match cloud.objects.get(key) {
                    Some(Obj::Audio(h, _)) => {
                        if h != hash {
                            self.violations
                                .push(format!("{key} holds {h}, fetched as {hash}"));
                        }
                        let e = dev.db.entries.get(recording).cloned();
                        if let Some(e) = audio_arrived(e, h) {
                            dev.db.entries.insert(recording.clone(), e);
                            dev.db.audio.insert(recording.clone(), h.clone());
                        }
                        Outcome::Done
                    }
                    _ => Outcome::NotFound,
                }
            }
            Op::Delete { key } => {
                cloud.stats.delete += 1;
                cloud.objects.remove(key);
                Outcome::Done
            }
            Op::RefreshToken => Outcome::Done,
            Op::Commit(c) => {
                dev.commits += 1;
                Outcome::Committed(dev.db.run_commit(c))
            }
            Op::ScanWork => Outcome::Scanned(
                dev.db
                    .entries
                    .values()
                    .filter(|e| e.work.is_some())
                    .cloned()
                    .collect(),
            ),
        }
    }

    fn pick(&self, d: usize, pick: u16) -> Option<RecordingId> {
        let ids: Vec<&RecordingId> = self.devices[d]
            .db
            .entries
            .values()
            .filter(|e| e.is_visible())
            .filter(|e| !self.picks_only_created || self.ledger.created.contains(&e.id))
            .map(|e| &e.id)
            .collect();
        if ids.is_empty() {
            return None;
        }
        Some(ids[pick as usize % ids.len()].clone())
    }

    fn new_take(&mut self, d: usize, into: &RecordingId, size: u64) -> ContentHash {
        let h = take_hash(self.next_take);
        self.next_take += 1;
        self.sizes.insert(h.clone(), size);
        self.ledger.takes.insert(h.clone(), into.clone());
        self.ledger.take_author.insert(h.clone(), d);
        h
    }

    /// Saves a new recording on device `d` with these custom fields, as the store would.
    pub fn create_with(
        &mut self,
        d: usize,
        custom: serde_json::Map<String, serde_json::Value>,
    ) -> Result<RecordingId, String> {
        let now = self.device_now(d);
        let n = self.next_id;
        self.next_id += 1;
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&n.to_be_bytes());
        random[8] = d as u8;
        let id = RecordingId::new_v7(now, random);
        let mut rec = Recording::new(id.clone(), "audio/webm".into(), n, now as f64);
        rec.name = format!("take {n}");
        rec.custom = custom;
        let hash = take_hash(self.next_take);
        rec.content_hash = Some(hash.to_string());
        let dev = &mut self.devices[d];
        let e = LocalEntry::create(&rec, &mut dev.db.clock, now).map_err(|e| e.to_string())?;
        let hash = self.new_take(d, &id, n);
        let dev = &mut self.devices[d];
        dev.db.entries.insert(id.clone(), e);
        dev.db.audio.insert(id.clone(), hash);
        self.ledger.created.insert(id.clone());
        Ok(id)
    }

    /// Performs a user action on device `d`, as one store transaction. Returns the recording it
    /// acted on, if any.
    pub fn user(&mut self, d: usize, a: &Action) -> Option<RecordingId> {
        let now = self.device_now(d);
        if let Action::Create = a {
            return Some(self.create_with(d, serde_json::Map::new()).unwrap());
        }
        let pick = match a {
            Action::Rename(p)
            | Action::Tag(p)
            | Action::SetCustom(p, _)
            | Action::RemoveCustom(p, _)
            | Action::Duration(p)
            | Action::Rerecord(p)
            | Action::Delete(p) => *p,
            Action::Create => 0,
        };
        let id = self.pick(d, pick)?;
        let seen = self.devices[d].db.entries[&id]
            .view()
            .audio
            .map(|a| a.audio.hash);
        let tag = self.next_take;
        let hash = match a {
            Action::Rerecord(_) => Some(self.new_take(d, &id, tag)),
            _ => {
                self.next_take += 1;
                None
            }
        };
        let dev = &mut self.devices[d];
        let mut e = dev.db.entries[&id].clone();
        let clock = &mut dev.db.clock;
        let r = match a {
            Action::Rename(_) => e.edit(
                &Edit {
                    name: Some(format!("name {tag}")),
                    ..Edit::default()
                },
                clock,
                now,
            ),
            Action::Tag(_) => e.edit(
                &Edit {
                    tags: Some(vec![format!("t{}", tag % 3), format!("u{tag}")]),
                    ..Edit::default()
                },
                clock,
                now,
            ),
            Action::SetCustom(_, k) => {
                let mut edit = Edit::default();
                edit.custom
                    .insert(format!("k{}", k % 3), Some(serde_json::json!(tag)));
                e.edit(&edit, clock, now)
            }
            Action::RemoveCustom(_, k) => {
                let mut edit = Edit::default();
                edit.custom.insert(format!("k{}", k % 3), None);
                e.edit(&edit, clock, now)
            }
            Action::Duration(_) => e.edit(
                &Edit {
                    duration_ms: Some(Some(tag as f64 * 10.5)),
                    ..Edit::default()
                },
                clock,
                now,
            ),
            Action::Rerecord(_) => {
                let hash = hash.clone().unwrap();
                let r = e.replace_audio(
                    AudioRef {
                        hash: hash.clone(),
                        size: tag,
                        mime_type: "audio/ogg".into(),
                    },
                    clock,
                    now,
                );
                if r.is_ok() {
                    dev.db.audio.insert(id.clone(), hash);
                }
                r
            }
            Action::Delete(_) => {
                let r = e.delete(clock, now);
                if r.is_ok() {
                    dev.db.audio.remove(&id);
                }
                r
            }
            Action::Create => unreachable!(),
        };
        if let Err(err) = r {
            self.violations.push(format!(
                "{}: user action {a:?} on {id} refused: {err}",
                dev.id
            ));
            return None;
        }
        dev.db.entries.insert(id.clone(), e);
        if dev.pending_at_start.is_some() {
            dev.edited_during.insert(id.clone());
        }
        match a {
            Action::Rerecord(_) | Action::Delete(_) => {
                if let Some(h) = seen {
                    self.ledger.destroyed.insert(h);
                }
                if let Action::Delete(_) = a {
                    self.ledger.deleted.insert(id.clone(), d);
                }
            }
            _ => {}
        }
        Some(id)
    }

    /// Runs device `d`'s engine without faults until it is idle (no round, nothing in flight).
    pub fn settle(&mut self, d: usize) -> Result<(), String> {
        for _ in 0..200_000 {
            if let Some((id, op)) =
                (!self.devices[d].in_flight.is_empty()).then(|| self.devices[d].in_flight.remove(0))
            {
                let out = self.execute(d, &op, Fault::None);
                let now = self.device_now(d);
                self.devices[d].engine.on_result(id, out, now);
                self.pump(d);
                continue;
            }
            if !self.devices[d].engine.is_syncing() {
                return Ok(());
            }
            let Some(t) = self.devices[d].engine.next_wakeup() else {
                return Err(format!(
                    "{} is syncing with nothing in flight and no wake-up: a hung sync",
                    self.devices[d].id
                ));
            };
            let now = self.device_now(d);
            if t > now {
                self.now += t - now;
            }
            let now = self.device_now(d);
            self.devices[d].engine.handle_timeout(now);
            self.pump(d);
        }
        Err(format!("{}: a round never ends", self.devices[d].id))
    }

    /// One full round on device `d` without faults; returns its report.
    pub fn round(&mut self, d: usize) -> Result<Report, String> {
        self.round_to(d, Direction::Both)
    }

    /// [`World::round`] in one direction.
    pub fn round_to(&mut self, d: usize, direction: Direction) -> Result<Report, String> {
        self.settle(d)?;
        self.start(d, direction, true);
        self.settle(d)?;
        let r = self.devices[d]
            .reports
            .last()
            .cloned()
            .ok_or("no report after a round")?;
        if r.outcome != RoundOutcome::Complete {
            return Err(format!(
                "{}: a fault-free round ended {:?}",
                self.devices[d].id, r.outcome
            ));
        }
        Ok(r)
    }

    /// The faults end (no outage, every device online): the rounds running finish, and every
    /// device that backs off retries by itself when its backoff ends, with no call from the app;
    /// each such retry completes (and so keeps what a complete round promises).
    pub fn heal(&mut self) -> Result<(), String> {
        self.outage = false;
        for d in 0..self.devices.len() {
            self.devices[d].offline = false;
        }
        for d in self.live() {
            self.settle(d)?;
        }
        for _ in 0..(4 * self.devices.len() + 4) {
            // The device whose retry is due first, in world time.
            let next = self
                .live()
                .into_iter()
                .filter_map(|d| {
                    let t = self.devices[d].engine.retry_at()?;
                    Some((t as i64 - self.devices[d].skew_ms, d))
                })
                .min();
            let Some((at, d)) = next else {
                return Ok(());
            };
            if at > self.now as i64 {
                self.now = at as u64;
            }
            let reports = self.devices[d].reports.len();
            let now = self.device_now(d);
            self.devices[d].engine.handle_timeout(now);
            self.pump(d);
            if !self.devices[d].engine.is_syncing() && self.devices[d].reports.len() == reports {
                return Err(format!(
                    "{}: its backoff ended and no round started by itself",
                    self.devices[d].id
                ));
            }
            self.settle(d)?;
            let last = self.devices[d].reports.last().map(|r| r.outcome.clone());
            if last != Some(RoundOutcome::Complete) {
                return Err(format!(
                    "{}: the retry after the faults ended was {last:?}",
                    self.devices[d].id
                ));
            }
        }
        Err("devices still back off after the faults ended".into())
    }

    /// Faults stop: every device comes online, failed recordings are retried (as an app would),
    /// and every device syncs until a full pass writes nothing.
    pub fn quiesce(&mut self) -> Result<(), String> {
        for d in self.live() {
            self.devices[d].offline = false;
            self.settle(d)?;
            for e in self.devices[d].db.entries.values_mut() {
                e.retry();
            }
        }
        for _pass in 0..12 {
            let before = self.cloud.stats;
            for d in self.live() {
                self.round(d)?;
            }
            if self.cloud.stats.since(&before).writes() == 0 {
                return Ok(());
            }
        }
        Err("devices never stop writing: no quiescence after 12 passes".into())
    }

    /// The devices not vanished.
    pub fn live(&self) -> Vec<usize> {
        (0..self.devices.len())
            .filter(|d| !self.vanished.contains_key(d))
            .collect()
    }

    /// The state of the cloud's log: every segment and snapshot part of every device merged.
    /// Each device's log is whole: every sequence number below its end is a segment or covered
    /// by a complete snapshot.
    pub fn log_state(&self) -> Result<BTreeMap<RecordingId, Fields>, String> {
        let layout = &self.devices[0].cfg.layout;
        let mut per_device: BTreeMap<DeviceId, BTreeSet<u64>> = BTreeMap::new();
        let mut parts: BTreeMap<(DeviceId, u64), (u32, BTreeSet<u32>)> = BTreeMap::new();
        let mut state: BTreeMap<RecordingId, Fields> = BTreeMap::new();
        for (key, obj) in &self.cloud.objects {
            let json = || match obj {
                Obj::Json(b) => Ok(b),
                _ => Err(format!("{key} is not JSON")),
            };
            match layout.parse(key) {
                Some(RemoteKey::Segment { device, seq }) => {
                    let seg = Segment::decode(json()?, &device, seq)
                        .map_err(|e| format!("{key}: {e}"))?;
                    for c in &seg.changes {
                        state.entry(c.id.clone()).or_default().merge(&c.fields);
                    }
                    per_device.entry(device).or_default().insert(seq);
                }
                Some(RemoteKey::SnapshotPart { device, upto, part }) => {
                    let p = SnapshotPart::decode(json()?, &device, upto, part as u32)
                        .map_err(|e| format!("{key}: {e}"))?;
                    for c in &p.changes {
                        state.entry(c.id.clone()).or_default().merge(&c.fields);
                    }
                    let e = parts.entry((device.clone(), upto)).or_default();
                    e.0 = p.parts;
                    e.1.insert(p.part);
                    per_device.entry(device).or_default();
                }
                Some(RemoteKey::Blob { .. }) => {}
                None => return Err(format!("unknown key {key}")),
            }
        }
        for (d, seqs) in per_device {
            let covered = parts
                .iter()
                .filter(|((dev, _), (n, have))| *dev == d && have.len() == *n as usize)
                .map(|((_, upto), _)| *upto)
                .max()
                .unwrap_or(0);
            let end = seqs.last().map_or(0, |s| s + 1).max(covered);
            if let Some(gap) = (covered..end).find(|s| !seqs.contains(s)) {
                return Err(format!(
                    "log of {d} has a gap at {gap}: segments {seqs:?}, snapshots up to {covered}"
                ));
            }
        }
        Ok(state)
    }

    /// The invariants that must hold once every device has synced until quiet.
    pub fn check(&self) -> Result<(), String> {
        if let Some(v) = self.violations.first() {
            return Err(format!("violation: {v}"));
        }
        let live = self.live();
        let first = &self.devices[live[0]];
        let unsettled: BTreeSet<&RecordingId> = self.vanished.values().flatten().collect();
        let gone_author = |h: &ContentHash| {
            self.ledger
                .take_author
                .get(h)
                .is_some_and(|d| self.vanished.contains_key(d))
        };
        let strip = |r: &Recording| {
            let mut r = r.clone();
            r.sync_state = SyncState::Synced;
            r.synced = true;
            r
        };
        let reference: Vec<Recording> = first.db.visible().iter().map(strip).collect();
        for dev in live.iter().map(|&d| &self.devices[d]) {
            let mine = dev.db.visible();
            if let Some(r) = mine.iter().find(|r| r.sync_state != SyncState::Synced) {
                return Err(format!(
                    "{}: {} is {:?} after quiet syncs",
                    dev.id, r.id, r.sync_state
                ));
            }
            let mine: Vec<Recording> = mine.iter().map(strip).collect();
            if mine != reference {
                let a: BTreeSet<_> = reference.iter().map(|r| format!("{r:?}")).collect();
                let b: BTreeSet<_> = mine.iter().map(|r| format!("{r:?}")).collect();
                return Err(format!(
                    "{} and {} diverge:\n  only on {}: {:?}\n  only on {}: {:?}",
                    first.id,
                    dev.id,
                    first.id,
                    a.difference(&b).collect::<Vec<_>>(),
                    dev.id,
                    b.difference(&a).collect::<Vec<_>>()
                ));
            }
            for e in dev.db.entries.values() {
                if e.work.is_some() {
                    return Err(format!("{}: {} still has work: {e:?}", dev.id, e.id));
                }
                if let Some(r) = e.public() {
                    if dev.db.audio.get(&e.id).map(|h| h.as_str()) != r.content_hash.as_deref() {
                        return Err(format!("{}: {} lacks its audio locally", dev.id, e.id));
                    }
                    if e.audio_here.as_ref() != dev.db.audio.get(&e.id) {
                        return Err(format!(
                            "{}: {} audio_here disagrees with the store",
                            dev.id, e.id
                        ));
                    }
                }
            }
            if !dev.db.meta.outbox.is_empty() || !dev.db.meta.trash.is_empty() {
                return Err(format!("{}: outbox or trash not empty", dev.id));
            }
        }
        // Nothing kept by a user is lost.
        let visible_ids: BTreeSet<&RecordingId> = reference.iter().map(|r| &r.id).collect();
        for id in &self.ledger.created {
            if unsettled.contains(id) {
                continue; // it had unpublished work on a device that vanished
            }
            if !self.ledger.deleted.contains_key(id) && !visible_ids.contains(id) {
                return Err(format!("recording {id} was never deleted but is gone"));
            }
        }
        for (id, d) in &self.ledger.deleted {
            if self.vanished.contains_key(d) && unsettled.contains(id) {
                continue;
            }
            // Under cloud-wins, a deletion that meets a concurrent edit from elsewhere is withdrawn.
            if visible_ids.contains(id) && self.setup.policies[*d] != Policy::CloudWins {
                return Err(format!("recording {id} was deleted but is back"));
            }
        }
        let hashes: BTreeSet<&str> = reference
            .iter()
            .filter_map(|r| r.content_hash.as_deref())
            .collect();
        if self.setup.conflict_copies {
            for (h, origin) in &self.ledger.takes {
                // A take whose author vanished may have needed its author's conflict copy.
                if !hashes.contains(h.as_str())
                    && !self.ledger.destroyed.contains(h)
                    && !gone_author(h)
                {
                    return Err(format!(
                        "take {h} of {origin} was lost: no user replaced or deleted it, no recording holds it"
                    ));
                }
            }
        }
        // Conflict copies are unique per (origin, take).
        let mut copies = BTreeSet::new();
        for r in &reference {
            if let Some(origin) = r.custom.get(CONFLICT_OF) {
                if !copies.insert((origin.to_string(), r.content_hash.clone())) {
                    return Err(format!(
                        "two conflict copies of {origin} with the same audio"
                    ));
                }
            }
        }
        // The cloud: the log's state is what devices show; each live recording's blob exists;
        // no other blob exists (no duplicates, no garbage left behind).
        let log = self.log_state()?;
        let layout = &first.cfg.layout;
        let mut live_blobs = BTreeSet::new();
        let mut log_visible = BTreeMap::new();
        for (id, f) in &log {
            if f.deleted.is_some() {
                continue;
            }
            let Some(a) = &f.audio else { continue };
            let key = layout.blob_key(id, &a.audio.hash);
            if !self.cloud.objects.contains_key(&key) {
                return Err(format!("orphan log entry: {id} names missing blob {key}"));
            }
            live_blobs.insert(key);
            log_visible.insert(id.clone(), a.audio.hash.to_string());
        }
        let shown: BTreeMap<RecordingId, String> = reference
            .iter()
            .map(|r| (r.id.clone(), r.content_hash.clone().unwrap_or_default()))
            .collect();
        if log_visible != shown {
            return Err(format!(
                "the cloud's log says {log_visible:?} but devices show {shown:?}"
            ));
        }
        for (key, obj) in &self.cloud.objects {
            if let Obj::Audio(h, _) = obj {
                // Deleting a take's blob is its author's job (and a vanished one's is left).
                if !live_blobs.contains(key) && !gone_author(h) {
                    return Err(format!("blob {key} is garbage nobody deleted"));
                }
            }
        }
        for dev in live.iter().map(|&d| &self.devices[d]) {
            for e in dev.db.entries.values() {
                if e.phase == Phase::Failed {
                    return Err(format!("{}: {} failed after retry", dev.id, e.id));
                }
            }
        }
        Ok(())
    }

    /// After quiescence: a round with nothing to do writes nothing, commits nothing, and reads
    /// only the listing of device folders plus one "not found" per other device.
    pub fn check_quiet_round(&mut self) -> Result<(), String> {
        let layout = self.devices[0].cfg.layout.clone();
        let log = format!("{}/", layout.log_folder());
        let names: BTreeSet<String> = self
            .cloud
            .objects
            .keys()
            .filter_map(|k| Some(k.strip_prefix(&log)?.split_once('/')?.0.to_owned()))
            .collect();
        let mut folders: BTreeMap<DeviceId, Option<u64>> = BTreeMap::new();
        for n in &names {
            if let Some(d) = layout.device_folder(n) {
                folders.entry(d).or_default();
            } else if let Some((d, upto)) = layout.snapshot_of(n) {
                let e = folders.entry(d).or_default();
                *e = (*e).max(Some(upto));
            }
        }
        for d in self.live() {
            let before: Stats = self.cloud.stats;
            let commits = self.devices[d].commits;
            self.round(d)?;
            let delta = self.cloud.stats.since(&before);
            let dev = &self.devices[d];
            let others = folders
                .iter()
                .filter(|(f, newest)| {
                    let cp = dev.db.meta.checkpoints.get(*f).copied().unwrap_or(0);
                    let at = dev.db.meta.retired.get(*f).copied();
                    **f != dev.id && !retire::retired(at, cp, **newest)
                })
                .count() as u64;
            let pages = (names.len() as u64)
                .div_ceil(self.setup.page_size as u64)
                .max(1);
            if delta.writes() != 0 || delta.get_blob != 0 {
                return Err(format!(
                    "{}: a sync with nothing to do cost {delta:?}",
                    self.devices[d].id
                ));
            }
            if delta.list != pages || delta.get != others {
                return Err(format!(
                    "{}: a quiet pull cost {delta:?}, expected {pages} list calls and {others} gets",
                    self.devices[d].id
                ));
            }
            if self.devices[d].commits != commits {
                return Err(format!(
                    "{}: a quiet round wrote locally",
                    self.devices[d].id
                ));
            }
        }
        Ok(())
    }
}
