//! Audio on this device: fetching a recording's audio on demand, evicting synced audio when space
//! runs short, and remembering when each recording was last played (eviction frees the least
//! recently played first).
//!
//! Why here and not in the sync engine: these are requests of the app (`getBlob`, `fetchAudio`,
//! `evict`) or of its budget (`maxLocalBytes`), not stages of a round. They share the engine's
//! rules all the same: downloads are checked (size and SHA-256) before they land, they land
//! through [`Landing`] (which keeps a take only if the recording still wants it), and eviction
//! touches only audio the cloud holds (synced, nothing pending), so no bytes are ever lost.

use std::cell::RefCell;
use std::rc::Rc;

use futures::future::join_all;
use web_sys::{AbortSignal, IdbTransactionMode as Mode};

use super::entries;
use super::error::{Code, Error, Result};
use super::events::ChangeKind;
use super::idb;
use super::landing::Landing;
use super::platform;
use super::remote::http::Failure as HttpFailure;
use super::remote::Remote;
use super::schema::{BLOBS, META, RECORDINGS, SYNC};
use super::store::Store;
use crate::core::entry::LocalEntry;
use crate::core::fields::ContentHash;
use crate::core::id::RecordingId;
use crate::core::layout::Layout;
use crate::core::state::Phase;

/// Downloads of one `fetchAudio` (or `getBlob`) in flight at once.
const FETCH_CONCURRENCY: usize = 4;
/// Tries per download: a network blip or a damaged body is tried once more.
const FETCH_TRIES: u32 = 2;
/// A recording's last-played time is written at most this often (ms): reading audio must stay a
/// read, not a write per play.
const PLAYED_EVERY_MS: f64 = 60_000.0;

/// What a fetch did: how many takes landed, and the recordings that failed, with why.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Takes downloaded and stored.
    pub downloaded: u32,
    /// Recordings whose audio could not be fetched.
    pub failed: Vec<(RecordingId, Error)>,
}

/// Downloads the audio of those of `ids` whose current take is not here, through `remote`
/// (relative keys: the remote holds the prefix), checked against the take's size and SHA-256,
/// and stores it. Recordings that do not exist, or hold their audio already, are skipped.
pub async fn fetch(
    store: &Rc<Store>,
    remote: &Rc<dyn Remote>,
    ids: &[RecordingId],
    signal: Option<&AbortSignal>,
) -> Result<Fetched> {
    let context = "reading which audio to fetch";
    let tx = store.tx(&[SYNC], Mode::Readonly)?;
    let sync = tx.store(SYNC)?;
    let read = join_all(ids.iter().map(|id| entries::read(&sync, id))).await;
    tx.finish(context).await?;
    let mut wanted = Vec::new();
    for entry in read {
        if let Some(e) = entry? {
            if let Some(a) = e.needs_download() {
                wanted.push((e.id.clone(), a.hash.clone(), a.size));
            }
        }
    }
    let landing = Landing::default();
    let mut results = Vec::new();
    // A few at a time (join_all per batch: smaller code than a buffered stream, and a batch's
    // downloads land together).
    for batch in wanted.chunks(FETCH_CONCURRENCY) {
        let got =
            join_all(batch.iter().map(|(id, hash, size)| {
                fetch_one(store, remote, &landing, id, hash, *size, signal)
            }))
            .await;
        results.extend(batch.iter().map(|w| w.0.clone()).zip(got));
    }
    let mut out = Fetched::default();
    let mut landed = Vec::new();
    for (id, r) in results {
        match r {
            Ok(()) => {
                out.downloaded += 1;
                landed.push(id);
            }
            Err(e) => out.failed.push((id, e)),
        }
    }
    if !landed.is_empty() {
        let ids: Vec<&str> = landed.iter().map(RecordingId::as_str).collect();
        store.events().changed(ChangeKind::Sync, &ids);
    }
    Ok(out)
}

async fn fetch_one(
    store: &Rc<Store>,
    remote: &Rc<dyn Remote>,
    landing: &Landing,
    id: &RecordingId,
    hash: &ContentHash,
    size: u64,
    signal: Option<&AbortSignal>,
) -> Result<()> {
    let key = Layout::default().blob_key(id, hash);
    let mut tries = 0;
    let blob = loop {
        tries += 1;
        match remote.get_audio(&key, hash, signal).await {
            Ok(b) => break b,
            Err(HttpFailure::Status { status: 404, .. }) => {
                return Err(Error::new(
                    Code::NotFound,
                    format!("the cloud has no audio for recording {id} (take {hash})"),
                ))
            }
            Err(f) => {
                let core = remote.to_core(&f);
                let again = tries < FETCH_TRIES
                    && core.class == crate::core::error_class::ErrorClass::Retryable
                    && !signal.is_some_and(AbortSignal::aborted);
                if !again {
                    return Err(Error::from_core(
                        core.code,
                        format!("fetching the audio of {id}: {}", core.message),
                    ));
                }
                gloo_timers::future::TimeoutFuture::new(500).await;
            }
        }
    };
    // The hash was checked by the remote; the size the log declares is checked here too, so a
    // log and a blob that disagree never land as this take.
    if blob.size() != size as f64 {
        return Err(Error::new(
            Code::Remote,
            format!(
                "the downloaded audio of {id} has {} bytes, not the {size} its log names",
                blob.size()
            ),
        ));
    }
    landing.store(store, id.clone(), hash.clone(), blob).await
}

/// How much audio an eviction keeps.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    /// Keep at most this many bytes of synced audio (`evict({ keepBytes })`).
    KeepSynced(f64),
    /// Keep at most this many bytes of audio in all (`maxLocalBytes`): audio that is not
    /// synced counts, and is never evicted.
    Total(f64),
}

/// What an eviction freed.
#[derive(Debug, Default, PartialEq)]
pub struct Evicted {
    /// Recordings whose audio left this device.
    pub recordings: u32,
    /// Their bytes.
    pub bytes: f64,
    /// Bytes of synced audio still here.
    pub kept_bytes: f64,
}

/// Whether `e`'s audio may leave this device: the recording is synced (nothing pending, no
/// conflict copy, no failed push) and the bytes here are exactly the take the cloud holds.
fn evictable(e: &LocalEntry) -> Option<u64> {
    if e.phase != Phase::Synced || !e.local.is_empty() || !e.is_visible() {
        return None;
    }
    let cloud = e.cloud.audio.as_ref()?;
    (e.audio_here.as_ref() == Some(&cloud.audio.hash)).then_some(cloud.audio.size)
}

/// Frees the least recently played synced audio until `budget` holds; metadata stays, and the
/// audio comes back on demand (`getBlob`, `fetchAudio`).
pub async fn evict(store: &Rc<Store>, budget: Budget) -> Result<Evicted> {
    flush_played(store).await;
    let context = "finding audio to evict";
    let tx = store.tx(&[SYNC], Mode::Readonly)?;
    let all = entries::read_all(&tx.store(SYNC)?, context).await?;
    tx.finish(context).await?;
    let mut candidates = Vec::new();
    let (mut synced, mut other) = (0.0, 0.0);
    // Every entry is looked at (50,000 take seconds to decode): in slices, between which the
    // page runs (no transaction is open here).
    let mut slices = platform::Slices::new();
    for v in all.iter() {
        slices.next().await;
        let e: LocalEntry = entries::from_js(v, "sync entry")?;
        match evictable(&e) {
            Some(size) => {
                synced += size as f64;
                candidates.push((e.played.unwrap_or(0.0), e.id.clone(), size));
            }
            None if e.audio_here.is_some() && e.is_visible() => {
                other += e.view().audio.map(|a| a.audio.size as f64).unwrap_or(0.0);
            }
            None => {}
        }
    }
    let keep = match budget {
        Budget::KeepSynced(n) => n,
        Budget::Total(n) => (n - other).max(0.0),
    };
    // Least recently played first; never played counts as played at 0, oldest id first
    // (ids are time-ordered UUIDv7s where tapesync made them).
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let mut chosen = Vec::new();
    let mut left = synced;
    for (_, id, size) in candidates {
        if left <= keep {
            break;
        }
        left -= size as f64;
        chosen.push(id);
    }
    let mut out = Evicted {
        kept_bytes: synced,
        ..Evicted::default()
    };
    for batch in chosen.chunks(256) {
        let (n, bytes) = evict_batch(store, batch).await?;
        out.recordings += n;
        out.bytes += bytes;
        out.kept_bytes -= bytes;
    }
    Ok(out)
}

/// Evicts `ids` in one transaction, each only if it is still evictable when written (a sync or
/// an edit may have changed it since it was chosen).
async fn evict_batch(store: &Rc<Store>, ids: &[RecordingId]) -> Result<(u32, f64)> {
    let context = "evicting audio";
    // META too: the tally of the recording counts commits with the writes (none change here: only
    // synced audio is evicted, and it stays synced).
    let tx = store.tx(&[RECORDINGS, BLOBS, SYNC, META], Mode::Readwrite)?;
    let (recordings, blobs, sync) = (tx.store(RECORDINGS)?, tx.store(BLOBS)?, tx.store(SYNC)?);
    let read = join_all(ids.iter().map(|id| entries::read(&sync, id))).await;
    let (mut n, mut bytes, mut done) = (0, 0.0, Vec::new());
    for entry in read {
        let Some(before) = entry? else { continue };
        let Some(size) = evictable(&before) else {
            continue;
        };
        let mut e = before.clone();
        e.audio_here = None;
        e.away = true;
        e.refresh();
        idb::issue(blobs.delete(&e.id.as_str().into()), context)?;
        entries::write_over(&sync, &recordings, &e, Some(&before), tx.tally())?;
        n += 1;
        bytes += size as f64;
        done.push(e.id.clone());
    }
    tx.commit(context).await?;
    if !done.is_empty() {
        let ids: Vec<&str> = done.iter().map(RecordingId::as_str).collect();
        store.events().changed(ChangeKind::Evict, &ids);
    }
    Ok((n, bytes))
}

thread_local! {
    /// Per store (device id), per recording: when its last-played time was last written, and
    /// the times not written yet.
    /// A list: a page has a store or two (a `BTreeMap` of its own would be kilobytes of wasm,
    /// issue 14).
    static PLAYED: RefCell<Vec<(String, Played)>> = const { RefCell::new(Vec::new()) };
}

#[derive(Default)]
struct Played {
    /// When each recording's time was last handed to a write.
    written: Times,
    /// Times not written yet.
    waiting: Times,
}

/// A time per recording id: a list searched in order, which is quick for the recordings a person
/// plays in a session, where a `BTreeMap<String, f64>` of its own was kilobytes of wasm (issue 14).
#[derive(Default)]
struct Times(Vec<(String, f64)>);

impl Times {
    fn get(&self, id: &str) -> Option<f64> {
        self.0.iter().find(|(k, _)| k == id).map(|(_, t)| *t)
    }

    fn set(&mut self, id: &str, time: f64) {
        match self.0.iter_mut().find(|(k, _)| k == id) {
            Some((_, t)) => *t = time,
            None => self.0.push((id.to_owned(), time)),
        }
    }
}

/// Notes that the app read `id`'s audio now. Written in the background, at most once a minute
/// per recording; eviction writes what waits first.
pub fn played(store: &Rc<Store>, id: &RecordingId) {
    let now = platform::now_ms();
    let due = PLAYED.with(|p| {
        let mut p = p.borrow_mut();
        let at = match p.iter().position(|(d, _)| d == store.device_id()) {
            Some(at) => at,
            None => {
                p.push((store.device_id().to_owned(), Played::default()));
                p.len() - 1
            }
        };
        let mine = &mut p[at].1;
        let last = mine.written.get(id.as_str()).unwrap_or(f64::MIN);
        mine.waiting.set(id.as_str(), now);
        let due = now - last >= PLAYED_EVERY_MS;
        if due {
            mine.written.set(id.as_str(), now);
        }
        due
    });
    if due {
        let store = store.clone();
        super::platform::spawn(async move { flush_played(&store).await });
    }
}

/// Writes the last-played times that wait, in one transaction; best effort (a lost time only
/// makes that recording look less recently played).
async fn flush_played(store: &Rc<Store>) {
    let waiting = PLAYED.with(|p| {
        p.borrow_mut()
            .iter_mut()
            .find(|(d, _)| d == store.device_id())
            .map(|(_, m)| std::mem::take(&mut m.waiting))
            .unwrap_or_default()
    });
    if waiting.0.is_empty() {
        return;
    }
    let write = async {
        let context = "noting what was played";
        let tx = store.tx(&[RECORDINGS, SYNC, META], Mode::Readwrite)?;
        let (recordings, sync) = (tx.store(RECORDINGS)?, tx.store(SYNC)?);
        let ids: Vec<RecordingId> = waiting
            .0
            .iter()
            .filter_map(|(k, _)| RecordingId::parse(k).ok())
            .collect();
        let read = join_all(ids.iter().map(|id| entries::read(&sync, id))).await;
        for entry in read {
            let Some(before) = entry? else { continue };
            let mut e = before.clone();
            e.played = waiting.get(e.id.as_str());
            entries::write_over(&sync, &recordings, &e, Some(&before), tx.tally())?;
        }
        tx.commit(context).await
    };
    let _ = write.await;
}

/// The `maxLocalBytes` budget of an open store: an eviction a second after saves, finished
/// captures and downloads stop coming (one per burst, not one per recording).
pub struct AutoEvict {
    store: Rc<Store>,
    max: f64,
    timer: RefCell<Option<gloo_timers::callback::Timeout>>,
    _listener: RefCell<Option<gloo_events::EventListener>>,
}

/// How long writes must pause before the budget is applied.
const BUDGET_QUIET_MS: u32 = 1_000;

impl AutoEvict {
    /// Keeps `store`'s audio within `max` bytes from now on, for as long as the result lives.
    pub fn install(store: &Rc<Store>, max: f64) -> Rc<AutoEvict> {
        let auto = Rc::new(AutoEvict {
            store: store.clone(),
            max,
            timer: RefCell::new(None),
            _listener: RefCell::new(None),
        });
        let weak = Rc::downgrade(&auto);
        let listener =
            gloo_events::EventListener::new(store.events().target(), "change", move |e| {
                let kind = js_sys::Reflect::get(e, &"detail".into())
                    .and_then(|d| js_sys::Reflect::get(&d, &"kind".into()))
                    .ok()
                    .and_then(|k| k.as_string());
                if matches!(kind.as_deref(), Some("save" | "sync")) {
                    if let Some(auto) = weak.upgrade() {
                        auto.soon();
                    }
                }
            });
        *auto._listener.borrow_mut() = Some(listener);
        // What an earlier session left over the budget.
        auto.soon();
        auto
    }

    fn soon(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        *self.timer.borrow_mut() = Some(gloo_timers::callback::Timeout::new(
            BUDGET_QUIET_MS,
            move || {
                let Some(auto) = weak.upgrade() else { return };
                super::platform::spawn(async move {
                    // Best effort: a failure (the store closed, say) is tried at the next burst.
                    let _ = evict(&auto.store, Budget::Total(auto.max)).await;
                });
            },
        ));
    }
}

/// Whether `id` is a recording whose current take is not on this device.
pub async fn needs_fetch(store: &Store, id: &RecordingId) -> Result<bool> {
    let context = "reading whether the audio is here";
    let tx = store.tx(&[SYNC], Mode::Readonly)?;
    let entry = entries::read(&tx.store(SYNC)?, id).await?;
    tx.finish(context).await?;
    Ok(entry.is_some_and(|e| e.needs_download().is_some()))
}
