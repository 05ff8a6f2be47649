//! Runs the sans-IO sync engine against IndexedDB and a cloud backend: it carries out the
//! engine's operations, feeds their outcomes back with the time, and sleeps until the engine's
//! next wake-up. All decisions are the engine's; this module only does IO.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use futures::future::{join_all, select, Either, LocalBoxFuture};
use futures::stream::{FuturesUnordered, StreamExt};
use js_sys::Object;
use wasm_bindgen::JsValue;
use web_sys::{AbortSignal, IdbTransactionMode as Mode};

use super::entries;
use super::error::{Code, Error, Result};
use super::events::ChangeKind;
use super::hashing;
use super::idb;
use super::landing::Landing;
use super::platform;
use super::remote::http::Failure as HttpFailure;
use super::remote::{Remote, Upload, UploadSession};
use super::schema::{BLOBS, BY_WORK, META, RECORDINGS, SYNC, UPLOADS};
use super::staging::{Staged, Staging, READ_AHEAD};
use super::store::{set, Store};
use crate::core::commit::{Commit, CommitOutcome, Ran};
use crate::core::engine::{
    Body, Direction, Engine, EngineConfig, Event, Failure, Op, OpId, Outcome, QueuedUpload,
    RecordingFailure, Report,
};
use crate::core::entry::LocalEntry;
use crate::core::fields::ContentHash;
use crate::core::id::RecordingId;
use crate::core::merge::MergeConfig;

/// Which audio a round downloads (the sync option `audio`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AudioPolicy {
    /// Every recording's audio, after all the metadata (the default).
    #[default]
    Eager,
    /// None: audio comes when `getBlob` asks for it (through a running `autoSync`) or
    /// `fetchAudio` prefetches it.
    Lazy,
    /// None, and `getBlob` does not fetch either: only `fetchAudio` does.
    None,
}

impl AudioPolicy {
    /// The policy named `name` (`"eager"`, `"lazy"`, `"none"`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "eager" => Some(AudioPolicy::Eager),
            "lazy" => Some(AudioPolicy::Lazy),
            "none" => Some(AudioPolicy::None),
            _ => None,
        }
    }

    /// Marks what `entry` now lacks as left in the cloud (lazy, none) or, for eager, wanted
    /// again when it is a new take (audio evicted earlier stays in the cloud until asked for).
    /// Marked entries leave the work index, so rounds cost nothing for them.
    fn apply(self, entry: &mut LocalEntry, before: Option<&LocalEntry>) {
        let Some(wanted) = entry.needs_download().map(|a| a.hash.clone()) else {
            return;
        };
        match self {
            AudioPolicy::Eager => {
                let was = before.and_then(LocalEntry::needs_download).map(|a| &a.hash);
                if entry.away && was != Some(&wanted) {
                    entry.away = false;
                }
            }
            AudioPolicy::Lazy | AudioPolicy::None => entry.away = true,
        }
        entry.refresh();
    }
}

/// How one sync round runs.
#[derive(Clone, Debug)]
pub struct RoundOptions {
    /// Both ways, push only or pull only.
    pub direction: Direction,
    /// Conflict policy and conflict copies.
    pub merge: MergeConfig,
    /// Requests to the cloud in flight at once.
    pub concurrency: usize,
    /// Bytes per request of a resumable upload (a multiple of 256 KiB).
    pub chunk_bytes: f64,
    /// Cancels the round.
    pub signal: Option<AbortSignal>,
    /// Which audio the round downloads.
    pub audio: AudioPolicy,
    /// The host says the network is metered (`store.setMetered(true)`): metadata only, the
    /// audio waits (still wanted) for an unmetered round.
    pub metered: bool,
}

/// A store's sync engine, kept from one round to the next so that what it learnt survives them:
/// how long to back off while the cloud keeps failing, and that a stopped round waits for the
/// app. Only one round runs at a time (the caller sees to it); the engine is taken out for it.
#[derive(Default)]
pub struct Syncer {
    engine: RefCell<Option<Engine>>,
    restored: std::cell::Cell<bool>,
}

impl Syncer {
    /// Whether the last round was a fresh database's first pull from a prefix that holds this
    /// app's data already: the browser evicted (or the user cleared) the site's storage, or this
    /// is a new device; either way the recordings came back from the cloud.
    pub fn restored(&self) -> bool {
        self.restored.get()
    }

    /// When automatic rounds may run again, while rounds keep ending early (ms since 1970).
    pub fn retry_at(&self) -> Option<u64> {
        self.engine.borrow().as_ref().and_then(Engine::retry_at)
    }

    /// Runs one sync round of `store` with `remote`, calling `on_start` once it starts.
    /// `explicit`: the app asked for it, so it runs even while the engine backs off or after a
    /// stopped round; an automatic round may not start then (`Ok(None)`).
    pub async fn round(
        &self,
        store: &Rc<Store>,
        remote: &Rc<dyn Remote>,
        options: &RoundOptions,
        explicit: bool,
        on_start: impl FnOnce(),
    ) -> Result<Option<Report>> {
        let meta = {
            let tx = store.tx(&[META], Mode::Readonly)?;
            let meta = entries::read_meta(&tx.store(META)?, store.device()).await?;
            tx.finish("reading sync meta").await?;
            meta
        };
        let mut engine = self.engine.borrow_mut().take().unwrap_or_else(|| {
            Engine::new(
                EngineConfig::default(),
                meta.clone(),
                u64::from_le_bytes(platform::random_bytes()),
            )
        });
        // A database that never pulled nor published anything: its first pull finding other
        // devices' logs is a restore (see `restored`). Nothing it pushes can delete cloud data:
        // it has no tombstones, no garbage, and a new device id of its own.
        let fresh = meta.checkpoints.is_empty() && meta.next_seq == 0 && meta.outbox.is_empty();
        self.restored.set(false);
        // Another tab or worker may have synced since this engine's last round.
        engine.load_meta(meta);
        engine.configure(options.merge, options.concurrency);
        let started = if explicit {
            engine.start(options.direction, now());
            true
        } else {
            engine.start_automatic(options.direction, now())
        };
        let result = if started {
            on_start();
            let report = run_round(store, remote, options, &mut engine).await;
            if let Ok(r) = &report {
                self.restored.set(
                    fresh
                        && options.direction != Direction::Push
                        && (r.segments_pulled > 0 || r.changes_pulled > 0),
                );
            }
            report.map(Some)
        } else {
            Ok(None)
        };
        *self.engine.borrow_mut() = Some(engine);
        result
    }
}

/// Drives the round `engine` just started to its end and returns its report.
async fn run_round(
    store: &Rc<Store>,
    remote: &Rc<dyn Remote>,
    options: &RoundOptions,
    engine: &mut Engine,
) -> Result<Report> {
    // Recordings saved in any context but not hashed yet are not known to the engine: hash them
    // first, so that the round pushes everything saved before it started.
    let mut unhashable = Vec::new();
    if options.direction != Direction::Pull {
        for (id, e) in hashing::drain(store).await? {
            if let Ok(id) = RecordingId::parse(&id) {
                unhashable.push(RecordingFailure {
                    id,
                    code: e.code.to_core(),
                    status: None,
                    message: e.message,
                });
            }
        }
    }
    let mut in_flight: FuturesUnordered<LocalBoxFuture<'static, (OpId, Outcome)>> =
        FuturesUnordered::new();
    let io = Rc::new(Io {
        store: store.clone(),
        remote: remote.clone(),
        options: options.clone(),
        staging: Rc::new(Staging::default()),
        landing: Landing::default(),
    });
    let mut cancelled = false;
    let mut report = None;
    loop {
        if !cancelled && options.signal.as_ref().is_some_and(|s| s.aborted()) {
            cancelled = true;
            engine.cancel();
        }
        while let Some((id, op)) = engine.poll_op() {
            // The uploads queued next are staged with this one (see `staging`).
            let next = match &op {
                Op::Put {
                    body: Body::LocalAudio { .. },
                    ..
                } if io.staging.running_low() => engine.queued_uploads(READ_AHEAD - 1),
                _ => Vec::new(),
            };
            let work = perform(io.clone(), op, next);
            in_flight.push(Box::pin(async move { (id, work.await) }));
        }
        while let Some(event) = engine.poll_event() {
            if let Event::Done(r) = event {
                report = Some(r);
            } else {
                announce(store, event);
            }
        }
        if report.is_some() && in_flight.is_empty() {
            break;
        }
        // The engine's wake-up during a round is a retry coming due; once it has reported, the
        // next round is the caller's to start.
        let wake = engine.next_wakeup().filter(|_| report.is_none());
        if in_flight.is_empty() {
            let Some(at) = wake else {
                break;
            };
            sleep_until(at, options.signal.as_ref()).await;
            engine.handle_timeout(now());
            continue;
        }
        // Wait for the next outcome, or for a retry that comes due first.
        let next = in_flight.next();
        let finished = match wake {
            Some(at) => {
                match select(next, Box::pin(sleep_until(at, options.signal.as_ref()))).await {
                    Either::Left((done, _)) => done,
                    Either::Right(((), _)) => {
                        engine.handle_timeout(now());
                        None
                    }
                }
            }
            None => next.await,
        };
        if let Some((id, outcome)) = finished {
            engine.on_result(id, outcome, now());
        }
    }
    let mut report = report
        .ok_or_else(|| Error::new(Code::Internal, "the sync round ended without a report"))?;
    for failure in unhashable {
        announce(
            store,
            Event::RecordingFailed {
                recording: failure.id.clone(),
                failure: Failure::local(failure.code, failure.message.clone()),
            },
        );
        report.failed.push(failure);
    }
    Ok(report)
}

fn now() -> u64 {
    platform::now_ms() as u64
}

async fn sleep_until(at: u64, signal: Option<&AbortSignal>) {
    let ms = at.saturating_sub(now()).min(u32::MAX as u64) as u32;
    // Wake early on cancel so a long backoff does not delay it: poll the signal every second.
    let mut left = ms;
    while left > 0 {
        let step = left.min(1000);
        gloo_timers::future::TimeoutFuture::new(step).await;
        left -= step;
        if signal.is_some_and(|s| s.aborted()) {
            return;
        }
    }
}

/// Tells the app what the engine reports, through the store's events.
fn announce(store: &Store, event: Event) {
    let detail = Object::new();
    match event {
        Event::Changed(ids) => {
            let ids: Vec<&str> = ids.iter().map(|i| i.as_str()).collect();
            store.events().changed(ChangeKind::Sync, &ids);
        }
        Event::Progress(p) => {
            if let Ok(v) = entries::to_js(&p) {
                store.events().emit("syncprogress", &v);
            }
        }
        Event::Conflict(c) => {
            set(&detail, "id", c.recording.as_str());
            set(&detail, "field", c.field.to_string());
            set(&detail, "kept", c.kept.as_str());
            set(
                &detail,
                "copy",
                c.copy
                    .map(|id| JsValue::from(id.as_str()))
                    .unwrap_or(JsValue::NULL),
            );
            store.events().emit("syncconflict", &detail);
        }
        Event::RecordingFailed { recording, failure } => {
            set(&detail, "id", recording.as_str());
            set(&detail, "code", failure.code.as_str());
            set(&detail, "status", status_js(failure.status));
            set(&detail, "message", failure.message);
            store.events().emit("syncfailure", &detail);
        }
        Event::LogUnreadable(u) => {
            set(&detail, "device", u.device.as_str());
            set(&detail, "seq", u.seq as f64);
            set(&detail, "code", "Remote");
            set(&detail, "message", u.reason);
            store.events().emit("syncfailure", &detail);
        }
        Event::Started | Event::Done(_) => {}
    }
}

fn status_js(status: Option<u16>) -> JsValue {
    status.map(JsValue::from).unwrap_or(JsValue::NULL)
}

/// The remote's failure as the engine's: the one conversion, status and code as data.
impl Io {
    /// The remote's failure as the engine's: the backend's one conversion.
    fn failed(&self, f: HttpFailure) -> Outcome {
        Outcome::Failed(self.remote.to_core(&f))
    }
}

fn local_failure(e: Error) -> Outcome {
    Outcome::Failed(Failure::local(e.code.to_core(), e.message))
}

/// What the operations of one round share.
struct Io {
    store: Rc<Store>,
    remote: Rc<dyn Remote>,
    options: RoundOptions,
    staging: Rc<Staging>,
    landing: Landing,
}

/// Carries out one operation; `next` are the uploads queued after it, if it is one.
async fn perform(io: Rc<Io>, op: Op, next: Vec<QueuedUpload>) -> Outcome {
    let (store, remote) = (&io.store, &io.remote);
    let signal = io.options.signal.as_ref();
    match op {
        Op::List { folder, page_token } => {
            match remote.list(&folder, page_token.as_deref(), signal).await {
                Ok(l) => Outcome::Listed {
                    names: l.names,
                    folders: l.folders,
                    next_page_token: l.next_page_token,
                },
                Err(e) => io.failed(e),
            }
        }
        Op::Get { key } => match remote.get_bytes(&key, signal).await {
            Ok(bytes) => Outcome::Got(bytes),
            Err(HttpFailure::Status { status: 404, .. }) => Outcome::NotFound,
            Err(e) => io.failed(e),
        },
        Op::Put {
            key,
            body: Body::Json(bytes),
            content_type,
        } => match remote.put_bytes(&key, &bytes, &content_type, signal).await {
            Ok(()) => Outcome::Done,
            Err(e) => io.failed(e),
        },
        Op::Put {
            key,
            body: Body::LocalAudio { recording, hash },
            content_type,
        } => upload(&io, key, recording, hash, content_type, next).await,
        Op::GetBlob {
            key,
            recording,
            hash,
        } => download(&io, &key, &recording, &hash).await,
        Op::Head { key } => match remote.head(&key, signal).await {
            Ok(Some(size)) => Outcome::Exists { size },
            Ok(None) => Outcome::NotFound,
            Err(e) => io.failed(e),
        },
        Op::Delete { key } => match remote.delete(&key, signal).await {
            Ok(()) => Outcome::Done,
            Err(e) => io.failed(e),
        },
        Op::RefreshToken => match remote.refresh_token().await {
            Ok(()) => Outcome::Done,
            Err(e) => io.failed(e),
        },
        Op::Commit(commit) => match run_commit(store, &commit, io.options.audio).await {
            Ok(outcome) => outcome,
            Err(e) => local_failure(e),
        },
        Op::ScanWork => match scan_work(store).await {
            Ok(mut entries) => {
                if io.options.metered {
                    // Planned without downloads; the entries stay in the work index, so the
                    // next unmetered round downloads their audio.
                    for e in &mut entries {
                        e.away = true;
                    }
                }
                Outcome::Scanned(entries)
            }
            Err(e) => local_failure(e),
        },
    }
}

/// One local transaction of the engine: read what the commit names, run it, write the result.
async fn run_commit(store: &Store, commit: &Commit, audio: AudioPolicy) -> Result<Outcome> {
    let context = "saving sync state";
    let scope: &[&str] = if commit.touches_audio() {
        &[RECORDINGS, BLOBS, SYNC, META]
    } else {
        &[RECORDINGS, SYNC, META]
    };
    let tx = store.tx(scope, Mode::Readwrite)?;
    let (recordings, sync, meta) = (tx.store(RECORDINGS)?, tx.store(SYNC)?, tx.store(META)?);
    let clock = entries::read_clock(&meta, store.device()).await?;
    let outbox = entries::outbox_seqs(&meta).await?;
    let mut read = BTreeMap::new();
    let mut wanted = commit.reads();
    // `run` may ask for more entries (a conflict copy's id) before it can decide; it is pure, so
    // running it again on the larger read set in the same transaction is safe.
    let (mut writes, outcome) = loop {
        // All requests issued at once: one round trip to the database, not one per entry.
        let got = join_all(wanted.iter().map(|id| entries::read(&sync, id))).await;
        for (id, entry) in wanted.drain(..).zip(got) {
            read.insert(id, entry?);
        }
        match commit.run(clock.clone(), &read) {
            Ran::Done(writes, outcome) => break (writes, outcome),
            Ran::Read(more) if more.iter().all(|id| read.contains_key(id)) => {
                return Err(Error::new(
                    Code::Internal,
                    "the sync core asked to read entries it has",
                ));
            }
            Ran::Read(more) => wanted = more,
        }
    };
    if !writes.copy_audio.is_empty() || !writes.drop_audio.is_empty() {
        let blobs = tx.store(BLOBS)?;
        // Conflict copies share the audio of the take they copy; Blobs are immutable, so one
        // object can back both keys.
        for (from, to) in &writes.copy_audio {
            let blob = idb::call(blobs.get(&from.as_str().into()), context).await?;
            if let Some(blob) = idb::some(blob) {
                idb::issue(blobs.put_with_key(&blob, &to.as_str().into()), context)?;
            }
        }
        for id in &writes.drop_audio {
            idb::issue(blobs.delete(&id.as_str().into()), context)?;
        }
    }
    // An entry new here may take over a recording saved here that had none yet (an app-given id
    // saved on two devices): its state is read so that the kept counts stay exact.
    let new_here: Vec<&RecordingId> = writes
        .entries
        .iter()
        .filter(|e| read.get(&e.id).and_then(Option::as_ref).is_none())
        .map(|e| &e.id)
        .collect();
    let found = join_all(
        new_here
            .iter()
            .map(|id| idb::call(recordings.get(&id.as_str().into()), context)),
    )
    .await;
    for record in found {
        if let Some(state) = idb::some(record?)
            .as_ref()
            .and_then(super::counts::state_of)
        {
            tx.tally().moved(Some(state), None);
        }
    }
    // A commit of a whole segment (500 entries) encodes for a long while: in slices.
    let mut slices = platform::Slices::new();
    let mut shown = Vec::new();
    for entry in &mut writes.entries {
        let before = read.get(&entry.id).and_then(Option::as_ref);
        audio.apply(entry, before);
        if entries::write_over(&sync, &recordings, entry, before, tx.tally())? {
            shown.push(entry.id.as_str());
        }
        idb::breathe(&meta, &mut slices, context).await?;
    }
    entries::write_clock(&meta, &writes.clock)?;
    if let Some(m) = &writes.meta {
        entries::write_meta(&meta, m, &outbox)?;
    }
    tx.commit(context).await?;
    announce_shown(store, &outcome, &shown);
    Ok(Outcome::Committed(outcome))
}

/// Fires `change` (`sync`) for the recordings a commit changed as apps see them, e.g. their
/// `syncState` once pushed or failed, so lists in this and every other tab refresh. Pulled
/// changes are left out: the engine reports those itself (`Event::Changed`).
fn announce_shown(store: &Store, outcome: &CommitOutcome, shown: &[&str]) {
    if !shown.is_empty() && !matches!(outcome, CommitOutcome::Applied { .. }) {
        store.events().changed(ChangeKind::Sync, shown);
    }
}

/// The entries with sync work, found through the sparse `byWork` index.
async fn scan_work(store: &Store) -> Result<Vec<LocalEntry>> {
    let context = "finding pending sync work";
    let tx = store.tx(&[SYNC], Mode::Readonly)?;
    let index = tx
        .store(SYNC)?
        .index(BY_WORK)
        .map_err(|e| Error::from_js(context, &e))?;
    // Up to a page of pending entries: one `getAll` (a quiet sync, an everyday push). More (a first
    // pull: every entry waits for its audio): the browser decodes a request's records in one task,
    // 50,000 entries blocked the page for 600 ms, so they are read in pages of primary keys.
    let keys: js_sys::Array = idb::cast(idb::call(index.get_all_keys(), context).await?, "keys")?;
    let all = if keys.length() <= SCAN_PAGE {
        idb::cast(idb::call(index.get_all(), context).await?, "sync entries")?
    } else {
        scan_pages(&tx.store(SYNC)?, &keys, context).await?
    };
    tx.finish(context).await?;
    // Decoding tens of thousands of entries (a first pull) takes seconds: in slices, between
    // which the page runs (no transaction is open here).
    let mut slices = platform::Slices::new();
    let mut out = Vec::with_capacity(all.length() as usize);
    for v in all.iter() {
        out.push(entries::from_js(v, "sync entry")?);
        slices.next().await;
    }
    Ok(out)
}

/// Entries per request of a work scan (see [`scan_work`]).
const SCAN_PAGE: u32 = 1000;

/// The entries with work among those whose ids are `keys` (sorted, as an index returns them): the
/// primary-key span of each page of [`SCAN_PAGE`] keys is read in requests of at most
/// [`SCAN_PAGE`] entries, keeping those that have work (a span may hold entries without).
async fn scan_pages(
    sync: &web_sys::IdbObjectStore,
    keys: &js_sys::Array,
    context: &str,
) -> Result<js_sys::Array> {
    let out = js_sys::Array::new();
    let range_err = |e: JsValue| Error::from_js(context, &e);
    let mut first = 0;
    while first < keys.length() {
        let last = (first + SCAN_PAGE).min(keys.length()) - 1;
        let high = keys.get(last);
        let mut range = web_sys::IdbKeyRange::bound(&keys.get(first), &high).map_err(range_err)?;
        loop {
            let got: js_sys::Array = idb::cast(
                idb::call(sync.get_all_with_key_and_limit(&range, SCAN_PAGE), context).await?,
                "sync entries",
            )?;
            for v in got.iter() {
                if js_sys::Reflect::get(&v, &"work".into()).is_ok_and(|w| !w.is_undefined()) {
                    out.push(&v);
                }
            }
            if got.length() < SCAN_PAGE {
                break;
            }
            let after = js_sys::Reflect::get(&got.get(got.length() - 1), &"id".into())?;
            if after.as_string() == high.as_string() {
                break;
            }
            range = web_sys::IdbKeyRange::bound_with_lower_open_and_upper_open(
                &after, &high, true, false,
            )
            .map_err(range_err)?;
        }
        first = last + 1;
    }
    Ok(out)
}

/// Uploads the local audio of `recording` if it still has `hash`, resuming a stored session;
/// `next` are the uploads queued after it, staged in the same read.
async fn upload(
    io: &Io,
    key: String,
    recording: RecordingId,
    hash: ContentHash,
    content_type: String,
    next: Vec<QueuedUpload>,
) -> Outcome {
    let (store, options) = (&io.store, &io.options);
    let (blob, session) = match io.staging.take(store, &key, &recording, &hash, next).await {
        Ok(Staged::Ready(blob, session)) => (blob, session),
        // The audio changed since the engine looked: uploading it under `hash` would be wrong.
        Ok(Staged::Changed) => return Outcome::NotFound,
        Err(e) => return local_failure(e),
    };
    // Only uploads bigger than one chunk have a session to keep (and later to forget).
    let resumable = session.is_some() || blob.size() > options.chunk_bytes;
    let progress = |s: &UploadSession| {
        let detail = Object::new();
        set(&detail, "id", recording.as_str());
        set(&detail, "phase", "upload");
        set(&detail, "sent", s.sent);
        set(&detail, "total", s.size);
        store.events().emit("syncprogress", &detail);
        // Keep the session so a reload resumes instead of starting over; best effort.
        if !s.url.is_empty() {
            save_session(store.clone(), key.clone(), Some(s.clone()));
        }
    };
    let upload = Upload {
        key: &key,
        blob: &blob,
        content_type: &content_type,
        chunk: options.chunk_bytes,
        session,
    };
    let result = io
        .remote
        .put_audio(upload, &progress, options.signal.as_ref())
        .await;
    match result {
        Ok(()) => {
            if resumable {
                save_session(store.clone(), key.clone(), None);
            }
            Outcome::Done
        }
        Err(e) => io.failed(e),
    }
}

/// Stores (or with `None` removes) the resumable session of `key`, in its own transaction.
fn save_session(store: Rc<Store>, key: String, session: Option<UploadSession>) {
    super::platform::spawn(async move {
        let write = async {
            let tx = store.tx(&[UPLOADS], Mode::Readwrite)?;
            let uploads = tx.store(UPLOADS)?;
            match &session {
                Some(s) => idb::issue(
                    uploads.put_with_key(&entries::to_js(s)?, &key.as_str().into()),
                    "saving the upload session",
                )?,
                None => idb::issue(
                    uploads.delete(&key.as_str().into()),
                    "removing the upload session",
                )?,
            }
            tx.commit("saving the upload session").await
        };
        // A lost session only means the upload restarts from zero; nothing to report.
        let _ = write.await;
    });
}

/// Downloads audio straight into the store: the Blob never enters wasm memory whole.
async fn download(io: &Io, key: &str, recording: &RecordingId, hash: &ContentHash) -> Outcome {
    let store = &io.store;
    // Checked against `hash` before it lands; a mismatch fails (Retryable) and is downloaded again.
    let blob = match io
        .remote
        .get_audio(key, hash, io.options.signal.as_ref())
        .await
    {
        Ok(b) => b,
        Err(HttpFailure::Status { status: 404, .. }) => return Outcome::NotFound,
        Err(e) => return io.failed(e),
    };
    let stored = io
        .landing
        .store(store, recording.clone(), hash.clone(), blob.clone());
    let detail = Object::new();
    set(&detail, "id", recording.as_str());
    set(&detail, "phase", "download");
    set(&detail, "sent", blob.size());
    set(&detail, "total", blob.size());
    store.events().emit("syncprogress", &detail);
    match stored.await {
        Ok(()) => {
            store
                .events()
                .changed(ChangeKind::Sync, &[recording.as_str()]);
            Outcome::Done
        }
        Err(e) => local_failure(e),
    }
}

/// The report as JS sees it: `{ pushed, pulled, uploaded, downloaded, deleted, conflicts, failed,
/// unreadable, outcome }`.
pub fn report_to_js(report: &Report, restored: bool) -> JsValue {
    let out = Object::new();
    set(&out, "restored", restored);
    set(&out, "pushed", report.changes_pushed as f64);
    set(&out, "pulled", report.changes_pulled as f64);
    set(&out, "uploaded", report.blobs_uploaded as f64);
    set(&out, "downloaded", report.blobs_downloaded as f64);
    set(&out, "deleted", report.blobs_deleted as f64);
    set(&out, "conflicts", report.conflicts as f64);
    for (key, value) in [
        ("failed", entries::to_js(&report.failed)),
        ("unreadable", entries::to_js(&report.unreadable)),
        ("outcome", entries::to_js(&report.outcome)),
    ] {
        set(&out, key, value.unwrap_or(JsValue::NULL));
    }
    out.into()
}
