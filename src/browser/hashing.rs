//! Content hashing: how a saved recording gets its SHA-256 and, with it, the sync entry that
//! makes it known to the sync engine.
//!
//! Saving does not hash (it would slow every save down); it writes the recording's id into the
//! [`UNHASHED`] queue in the same transaction as the audio. The queue is drained in two places:
//! in the background once saves pause, and by every sync round before it looks for work, so a
//! recording saved in any context (another tab, a worker, a store instance since closed) is pushed
//! by the next sync, and a tab killed mid-hashing loses nothing: the queue is still there.
//!
//! Hashes are computed outside any transaction (reading the Blob in bounded chunks, see
//! [`super::hash`]) and written in batches: one transaction per [`BATCH`] recordings, not one per
//! recording, which is what bounded the cost of settling thousands of small recordings.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::future::join_all;
use futures::StreamExt;
use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::IdbTransactionMode as Mode;

use super::entries;
use super::error::{Code, Error, Result};
use super::events::ChangeKind;
use super::idb;
use super::schema::{BLOBS, META, RECORDINGS, SYNC, UNHASHED};
use super::store::{set, Store};
use super::{hash, platform};
use crate::core::entry::LocalEntry;
use crate::core::id::RecordingId;
use crate::core::recording::{Recording, SyncState};

/// Recordings hashed per write transaction.
pub const BATCH: usize = 256;

/// Recordings read and hashed at once.
const PARALLEL: usize = 8;

/// How long saves must have paused before background hashing runs: its write transaction would
/// otherwise slip between an app's back-to-back saves and slow each of them down.
const QUIET_MS: f64 = 50.0;

/// A recording that could not be hashed: it stays queued and is reported by the sync round.
pub type Unhashable = (String, Error);

/// The store's hashing state: whether a drain runs, who waits for it, whether saves are under way.
#[derive(Default)]
pub struct Hasher {
    running: Cell<bool>,
    scheduled: Cell<bool>,
    waiters: RefCell<Vec<Function>>,
    writes: Rc<Cell<u32>>,
    last_write: Rc<Cell<f64>>,
}

impl Hasher {
    /// Marks a save as under way until the guard is dropped, keeping background hashing out of
    /// its way.
    pub fn writing(&self) -> WriteGuard {
        self.writes.set(self.writes.get() + 1);
        WriteGuard {
            writes: self.writes.clone(),
            last_write: self.last_write.clone(),
        }
    }

    fn busy(&self) -> bool {
        self.writes.get() > 0 || platform::now_ms() - self.last_write.get() < QUIET_MS
    }

    /// Resolves once no drain runs in this store.
    async fn idle(&self) {
        while self.running.get() {
            let wait = Promise::new(&mut |resolve, _| self.waiters.borrow_mut().push(resolve));
            let _ = JsFuture::from(wait).await;
        }
    }

    fn wake_waiters(&self) {
        for resolve in self.waiters.take() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }
}

/// A save under way; see [`Hasher::writing`].
pub struct WriteGuard {
    writes: Rc<Cell<u32>>,
    last_write: Rc<Cell<f64>>,
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        self.writes.set(self.writes.get().saturating_sub(1));
        self.last_write.set(platform::now_ms());
    }
}

/// Hashes every recording queued when it is called (and any queued meanwhile), in this store;
/// returns those that could not be hashed. One drain runs at a time per store: a caller arriving
/// during one waits for it, then drains what is left.
pub async fn drain(store: &Rc<Store>) -> Result<Vec<Unhashable>> {
    drain_with(store, false).await
}

/// [`drain`]; `background`: wait before each batch while saves are under way, so that hashing
/// does not slow an app's back-to-back saves down.
async fn drain_with(store: &Rc<Store>, background: bool) -> Result<Vec<Unhashable>> {
    let hasher = store.hasher();
    hasher.idle().await;
    hasher.running.set(true);
    let result = drain_queue(store, background).await;
    hasher.running.set(false);
    hasher.wake_waiters();
    result
}

/// Starts background hashing once saves pause, unless it is already scheduled.
pub fn kick(store: &Rc<Store>) {
    if store.hasher().scheduled.replace(true) {
        return;
    }
    let weak = Rc::downgrade(store);
    super::platform::spawn(async move {
        // A dropped store has nothing left to hash here; the queue waits for the next open or sync.
        while let Some(store) = weak.upgrade() {
            if store.hasher().busy() {
                drop(store);
                gloo_timers::future::TimeoutFuture::new(QUIET_MS as u32).await;
                continue;
            }
            store.hasher().scheduled.set(false);
            match drain_with(&store, true).await {
                Ok(stuck) => {
                    for (id, e) in stuck {
                        warn(&id, &e);
                    }
                }
                Err(e) if e.code == Code::Closed => {}
                Err(e) => warn("the queue", &e),
            }
            break;
        }
    });
}

fn warn(what: &str, e: &Error) {
    web_sys::console::warn_1(&format!("tapesync: hashing {what}: {e}").into());
}

/// The `meta` key set once [`adopt`] ran in a database.
pub(crate) const ADOPTED: &str = "hashQueue";

/// Queues the pending recordings of a database written before the queue existed (schema 2) that
/// have no sync entry yet; runs once per database.
pub async fn adopt(store: &Store) -> Result<()> {
    let context = "queueing recordings to hash";
    let tx = store.tx(&[META, RECORDINGS, SYNC, UNHASHED], Mode::Readwrite)?;
    let meta = tx.store(META)?;
    if idb::some(idb::call(meta.get(&ADOPTED.into()), context).await?).is_some() {
        return tx.finish(context).await;
    }
    let index = tx
        .store(RECORDINGS)?
        .index(super::schema::BY_SYNC_STATE)
        .map_err(|e| Error::from_js(context, &e))?;
    let low: JsValue = Array::of1(&SyncState::Pending.as_str().into()).into();
    let high: JsValue = Array::of2(&SyncState::Pending.as_str().into(), &Array::new()).into();
    let range =
        web_sys::IdbKeyRange::bound(&low, &high).map_err(|e| Error::from_js(context, &e))?;
    let pending: Array = idb::cast(
        idb::call(index.get_all_with_key(&range), context).await?,
        "recordings",
    )?;
    let sync = tx.store(SYNC)?;
    let unhashed = tx.store(UNHASHED)?;
    let ids: Vec<String> = pending
        .iter()
        .filter_map(|r| Reflect::get(&r, &"id".into()).ok()?.as_string())
        .collect();
    let known = join_all(
        ids.iter()
            .map(|id| idb::call(sync.count_with_key(&id.as_str().into()), context)),
    )
    .await;
    for (id, known) in ids.iter().zip(known) {
        if known?.as_f64() == Some(0.0) {
            idb::issue(
                unhashed.put_with_key(&JsValue::TRUE, &id.as_str().into()),
                context,
            )?;
        }
    }
    idb::issue(meta.put_with_key(&JsValue::TRUE, &ADOPTED.into()), context)?;
    tx.commit(context).await
}

/// Whether anything waits to be hashed.
pub async fn queued(store: &Store) -> Result<bool> {
    let context = "reading the hash queue";
    let tx = store.tx(&[UNHASHED], Mode::Readonly)?;
    let n = idb::call(tx.store(UNHASHED)?.count(), context).await?;
    tx.finish(context).await?;
    Ok(n.as_f64().unwrap_or(0.0) > 0.0)
}

/// One queued recording, read for hashing.
struct Job {
    id: String,
    /// The hash the record has already (a re-recording hashed before it was stored), if any.
    known: Option<String>,
    blob: Option<web_sys::Blob>,
}

async fn drain_queue(store: &Rc<Store>, background: bool) -> Result<Vec<Unhashable>> {
    let context = "reading the hash queue";
    let keys: Array = {
        let tx = store.tx(&[UNHASHED], Mode::Readonly)?;
        let keys = idb::call(tx.store(UNHASHED)?.get_all_keys(), context).await?;
        tx.finish(context).await?;
        idb::cast(keys, "hash queue")?
    };
    let ids: Vec<String> = keys.iter().filter_map(|k| k.as_string()).collect();
    let mut stuck = Vec::new();
    for batch in ids.chunks(BATCH) {
        while background && store.hasher().busy() {
            gloo_timers::future::TimeoutFuture::new(QUIET_MS as u32).await;
        }
        let jobs = read_batch(store, batch).await?;
        // Several Blobs are read at once: for small recordings the cost is the browser's round
        // trip to its blob storage, not SHA-256. Each hash holds at most one chunk in memory.
        let results: Vec<_> = futures::stream::iter(jobs)
            .map(|job| async move {
                let digest = match (job.known, &job.blob) {
                    (Some(h), _) => Ok(Some(h)),
                    (None, Some(blob)) => hash::sha256_hex(blob).await.map(Some),
                    // Deleted meanwhile, or its audio is gone: nothing to hash; leave the queue.
                    (None, None) => Ok(None),
                };
                (job.id, digest, job.blob.map(|b| b.size()))
            })
            .buffered(PARALLEL)
            .collect()
            .await;
        let mut hashed = Vec::with_capacity(results.len());
        for (id, digest, size) in results {
            match digest {
                Ok(d) => hashed.push((id, d, size)),
                Err(e) => stuck.push((id, e)),
            }
        }
        let done = write_batch(store, &hashed).await?;
        if !done.is_empty() {
            let ids: Vec<&str> = done.iter().map(String::as_str).collect();
            store.events().changed(ChangeKind::Hash, &ids);
        }
    }
    Ok(stuck)
}

/// Reads the records and audio of `ids` in one read-only transaction.
async fn read_batch(store: &Store, ids: &[String]) -> Result<Vec<Job>> {
    let context = "reading recordings to hash";
    let tx = store.tx(&[RECORDINGS, BLOBS], Mode::Readonly)?;
    let (recordings, blobs) = (tx.store(RECORDINGS)?, tx.store(BLOBS)?);
    let records = join_all(
        ids.iter()
            .map(|id| idb::call(recordings.get(&id.as_str().into()), context)),
    );
    let audio = join_all(
        ids.iter()
            .map(|id| idb::call(blobs.get(&id.as_str().into()), context)),
    );
    let (records, audio) = futures::join!(records, audio);
    tx.finish(context).await?;
    let mut jobs = Vec::with_capacity(ids.len());
    for ((id, record), blob) in ids.iter().zip(records).zip(audio) {
        let record = idb::some(record?);
        let known = record
            .as_ref()
            .and_then(|r| Reflect::get(r, &"contentHash".into()).ok()?.as_string());
        let blob = match (record, idb::some(blob?)) {
            (Some(_), Some(b)) => Some(super::audio::from_stored(b)?),
            _ => None,
        };
        jobs.push(Job {
            id: id.clone(),
            known: known.filter(|_| blob.is_some()),
            blob,
        });
    }
    Ok(jobs)
}

/// Gives each hashed recording its sync entry and takes it off the queue, all in one
/// transaction; returns the ids that got an entry. `(id, None, _)` only leaves the queue.
async fn write_batch(
    store: &Store,
    hashed: &[(String, Option<String>, Option<f64>)],
) -> Result<Vec<String>> {
    if hashed.is_empty() {
        return Ok(Vec::new());
    }
    let context = "storing content hashes";
    let tx = store.tx(&[UNHASHED, RECORDINGS, BLOBS, SYNC, META], Mode::Readwrite)?;
    let (unhashed, recordings, blobs, sync, meta) = (
        tx.store(UNHASHED)?,
        tx.store(RECORDINGS)?,
        tx.store(BLOBS)?,
        tx.store(SYNC)?,
        tx.store(META)?,
    );
    let key = |id: &str| JsValue::from_str(id);
    let records = join_all(
        hashed
            .iter()
            .map(|(id, ..)| idb::call(recordings.get(&key(id)), context)),
    );
    let audio = join_all(
        hashed
            .iter()
            .map(|(id, ..)| idb::call(blobs.get(&key(id)), context)),
    );
    let entries = join_all(
        hashed
            .iter()
            .map(|(id, ..)| idb::call(sync.count_with_key(&key(id)), context)),
    );
    let (records, audio, entries) = futures::join!(records, audio, entries);
    let mut clock = entries::read_clock(&meta, store.device()).await?;
    let now = platform::now_ms() as u64;
    let mut done = Vec::new();
    let mut slices = platform::Slices::new();
    for ((((id, digest, size), record), blob), known) in
        hashed.iter().zip(records).zip(audio).zip(entries)
    {
        let (record, blob, known) = (idb::some(record?), idb::some(blob?), known?);
        let Some(digest) = digest else {
            idb::issue(unhashed.delete(&key(id)), context)?;
            continue;
        };
        let Some(record) = record.filter(|_| known.as_f64() == Some(0.0)) else {
            // Deleted, or known to sync already (another context hashed it): nothing to do.
            idb::issue(unhashed.delete(&key(id)), context)?;
            continue;
        };
        // The audio could have been replaced while hashing: only the same size is trusted, and a
        // replaced take stays queued for the next drain.
        let stored = blob.as_ref().and_then(super::audio::stored_size);
        if stored.is_none() || stored != *size {
            continue;
        }
        tx.tally().moved(super::counts::state_of(&record), None);
        set(&record, "contentHash", digest.as_str());
        let mut recording: Recording = entries::from_js(record, "recording")?;
        recording.set_sync_state(SyncState::Pending);
        let entry = LocalEntry::create(&recording, &mut clock, now)
            .map_err(|e| Error::new(Code::Internal, e.to_string()))?;
        entries::write_over(&sync, &recordings, &entry, None, tx.tally())?;
        idb::issue(unhashed.delete(&key(id)), context)?;
        done.push(id.clone());
        idb::breathe(&meta, &mut slices, context).await?;
    }
    entries::write_clock(&meta, &clock)?;
    tx.commit(context).await?;
    Ok(done)
}

/// Puts `id` in the hash queue, in the caller's transaction (which must cover [`UNHASHED`]).
pub fn enqueue(tx: &idb::Tx, id: &RecordingId) -> Result<()> {
    idb::issue(
        tx.store(UNHASHED)?
            .put_with_key(&JsValue::TRUE, &id.as_str().into()),
        "queueing the content hash",
    )
}
