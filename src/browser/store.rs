//! The local recording store: recordings and their audio in IndexedDB.
//!
//! Records are kept in exactly the shape apps receive (`Recording`), so reading and listing hand
//! out what IndexedDB returns without converting each object. Audio stays a `Blob`, cloned by the
//! browser into the database; only the content hash reads it, in bounded chunks.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::{IdbDatabase, IdbKeyRange, IdbTransactionMode as Mode};

use super::entries;
use super::error::{Code, Error, Result};
use super::events::{ChangeKind, Events};
use super::hashing::{self, Hasher};
use super::idb::{self, Tx};
use super::schema::{self, BLOBS, BY_CREATED, BY_SYNC_STATE, META, RECORDINGS, SYNC, UNHASHED};
use super::{audio, counts, hash, platform};
use crate::core::device::DeviceId;
use crate::core::entry::{Edit, EditError, LocalEntry};
use crate::core::hlc::Clock;
use crate::core::id::RecordingId;
use crate::core::recording::SyncState;

/// What a new recording is saved with; everything but the audio is optional.
#[derive(Debug, Default)]
pub struct NewRecording {
    /// An app-given id; a UUIDv7 is made when `None`.
    pub id: Option<RecordingId>,
    /// A name for people.
    pub name: Option<String>,
    /// Overrides the blob's own type.
    pub mime_type: Option<String>,
    /// The duration, if known.
    pub duration_ms: Option<f64>,
    /// When the recording was made; now when `None`.
    pub created_at: Option<f64>,
    /// Free-form labels.
    pub tags: Vec<String>,
    /// App-defined fields, a plain JSON object already checked by the caller.
    pub custom: Option<JsValue>,
    /// The audio's size before tapesync compressed it (see `Recording::original_size`).
    pub original_size: Option<f64>,
}

/// A metadata edit: `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct Patch {
    /// The new name.
    pub name: Option<String>,
    /// The new duration; `Some(None)` clears it.
    pub duration_ms: Option<Option<f64>>,
    /// The new tags.
    pub tags: Option<Vec<String>>,
    /// The new custom fields (replacing the old ones).
    pub custom: Option<JsValue>,
}

/// The order of a listing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// Newest first, what a recordings screen shows.
    #[default]
    NewestFirst,
    /// Oldest first.
    OldestFirst,
}

/// Which recordings to list, and how many.
#[derive(Debug, Default)]
pub struct ListQuery {
    /// Only recordings in this state.
    pub sync_state: Option<SyncState>,
    /// At most this many; all when `None`.
    pub limit: Option<u32>,
    /// Where the previous page ended.
    pub cursor: Option<String>,
    /// The order.
    pub order: Order,
}

/// One page of a listing.
pub struct Page {
    /// The `Recording` objects.
    pub items: Array,
    /// Where to continue, `None` on the last page.
    pub cursor: Option<String>,
}

/// An open recording store.
pub struct Store {
    db: RefCell<Option<IdbDatabase>>,
    device_id: String,
    device: DeviceId,
    events: Events,
    hasher: Hasher,
    closed_by_other_tab: Rc<Cell<bool>>,
    /// How this database keeps audio (see [`audio`]).
    audio_form: audio::Form,
    /// Held while open, so that `destroy` can tell (see [`super::account::destroy`]).
    open_lock: RefCell<Option<super::lock::Shared>>,
    /// The IndexedDB database's name, to connect again (see [`Store::reconnect`]).
    db_name: String,
    /// Given to every transaction: connects again after the transaction failed for quota.
    quota_hook: idb::QuotaHook,
    on_version_change: Closure<dyn FnMut()>,
    /// Checks the storage usage after writes that add audio (`storagepressure`).
    pressure: Rc<platform::Pressure>,
}

const DEVICE_ID: &str = "deviceId";

impl Store {
    /// Opens the store `name` (the IndexedDB database `tapesync/{name}`), creating or upgrading it.
    ///
    /// `audio_form`: `Some(Form::Chunks)` keeps audio as `ArrayBuffer` parts even where the engine
    /// stores Blobs; `None` lets the database's remembered form, or the probe, decide.
    pub async fn open(name: &str, audio_form: Option<audio::Form>) -> Result<Rc<Store>> {
        let factory = platform::indexed_db()?;
        // Joined while the database opens, which leaves the page idle until the browser answers:
        // setting the channel up then costs nothing on the way to the first `list()`. Until the
        // store exists nobody can listen to its `change`, and a failed open drops the channel.
        let events = Events::new()?;
        events.connect(name);
        let db = schema::open(&factory, &format!("tapesync/{name}")).await?;
        // Another tab upgrading or deleting the database must not wait on us forever: close, and
        // answer later calls with `Closed`. Listened for at once: a `destroy()` that ran while
        // this open was still reading (before it holds the open lock) found no listener, and its
        // deletion stayed blocked by this connection for as long as the store was open (found by
        // tests/js/fuzz.test.mjs). Now this open loses the race instead: it fails with `Closed`.
        // The store's own listener replaces this one once the store exists.
        let closed_by_other_tab = Rc::new(Cell::new(false));
        let while_opening = Closure::<dyn FnMut()>::new({
            let db = db.clone();
            let flag = closed_by_other_tab.clone();
            move || {
                flag.set(true);
                db.close();
            }
        });
        db.set_onversionchange(Some(while_opening.as_ref().unchecked_ref()));
        let opened = async {
            let startup = Startup::read(&db).await?;
            let id = match startup.device_id.clone() {
                Some(id) => id,
                None => idb::cold(load_device_id(&db)).await?,
            };
            let form = match (audio_form, startup.form) {
                (None, Some(known)) => known,
                (Some(forced), Some(known)) if forced == known => known,
                _ => idb::cold(audio::form_of(&factory, &db, audio_form)).await?,
            };
            Ok::<_, Error>((id, form, startup))
        };
        let (device_id, audio_form, startup) = match opened.await {
            Ok(opened) => opened,
            Err(e) => {
                db.close();
                return Err(e);
            }
        };
        if closed_by_other_tab.get() {
            return Err(Error::new(
                Code::Closed,
                "the store was deleted or upgraded by another tab while it opened: open it again",
            ));
        }
        let device = DeviceId::parse(&device_id).map_err(|e| {
            Error::new(
                Code::Internal,
                format!("the stored device id is unusable: {e}"),
            )
        })?;
        let store = Rc::new_cyclic(|me: &Weak<Store>| {
            let on_version_change = Closure::<dyn FnMut()>::new({
                let me = me.clone();
                move || {
                    if let Some(store) = me.upgrade() {
                        store.closed_by_other_tab.set(true);
                        store.disconnect();
                        store.events.disconnect();
                    }
                }
            });
            db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
            let quota_hook: idb::QuotaHook = Rc::new({
                let me = me.clone();
                move || {
                    let me = me.clone();
                    Box::pin(async move {
                        if let Some(store) = me.upgrade() {
                            store.reconnect().await;
                            store.pressure.refused(store.events.target());
                        }
                    })
                }
            });
            Store {
                db: RefCell::new(Some(db)),
                device_id,
                device,
                events,
                hasher: Hasher::default(),
                closed_by_other_tab,
                audio_form,
                open_lock: RefCell::new(super::lock::hold_shared(&super::account::open_lock(name))),
                db_name: format!("tapesync/{name}"),
                quota_hook,
                on_version_change,
                pressure: Rc::default(),
            }
        });
        // Each step the startup read found done already is skipped; each other one checks again
        // in its own read-write transaction (another tab may be doing it at the same time).
        let mut queued = startup.queued;
        if !startup.adopted {
            idb::cold(hashing::adopt(&store)).await?;
        }
        if !startup.counted {
            idb::cold(counts::ensure(&store)).await?;
        }
        if !startup.adopted {
            queued = idb::cold(hashing::queued(&store)).await?;
        }
        if queued {
            hashing::kick(&store);
        }
        Ok(store)
    }

    /// This database's device id, made once when the database was created.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// How this database keeps audio: Blobs, or `ArrayBuffer` parts where the engine refuses
    /// Blobs in IndexedDB.
    pub fn audio_form(&self) -> audio::Form {
        self.audio_form
    }

    /// The target apps add `change` listeners to.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// Closes the connection; later calls fail with `Closed`.
    pub fn close(&self) {
        self.open_lock.borrow_mut().take();
        self.disconnect();
        self.events.disconnect();
    }

    fn disconnect(&self) {
        if let Some(db) = self.db.borrow_mut().take() {
            db.set_onversionchange(None);
            db.close();
        }
    }

    /// Replaces the connection with a new one, unless the store was closed.
    ///
    /// Why: after a transaction aborted with `QuotaExceededError`, Firefox refuses every later
    /// write on that connection (`InvalidStateError`), so one full disk would close the store for
    /// good. A new connection writes again once there is room. Harmless elsewhere.
    async fn reconnect(&self) {
        if self.db.borrow().is_none() || self.closed_by_other_tab.get() {
            return;
        }
        let Ok(factory) = platform::indexed_db() else {
            return;
        };
        let Ok(db) = schema::open(&factory, &self.db_name).await else {
            return;
        };
        if self.db.borrow().is_none() || self.closed_by_other_tab.get() {
            db.close();
            return;
        }
        db.set_onversionchange(Some(self.on_version_change.as_ref().unchecked_ref()));
        if let Some(old) = self.db.borrow_mut().replace(db) {
            old.set_onversionchange(None);
            old.close();
        }
    }

    /// Notes a committed write that added audio or recorded chunks: the storage usage is checked
    /// soon after (throttled), and `storagepressure` fires when it nears the quota (see
    /// [`platform::Pressure`]).
    pub(crate) fn wrote(&self) {
        self.pressure.wrote(self.events.target());
    }

    /// The store's content hashing (see [`hashing`]).
    pub(crate) fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    /// This database's device id, as the sync core names devices.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// `Err(Closed)` once the store is closed (by `close()` or by another tab): for calls that
    /// would fail for another reason first (a sync while offline).
    pub(crate) fn check_open(&self) -> Result<()> {
        self.db().map(|_| ())
    }

    fn db(&self) -> Result<IdbDatabase> {
        if self.closed_by_other_tab.get() {
            return Err(Error::new(
                Code::Closed,
                "the store was closed because another tab upgraded or deleted its database: open it again",
            ));
        }
        self.db
            .borrow()
            .clone()
            .ok_or_else(|| Error::new(Code::Closed, "the store is closed: open it again"))
    }

    pub(crate) fn tx(&self, stores: &[&str], mode: Mode) -> Result<Tx> {
        Ok(Tx::new(&self.db()?, stores, mode)?.on_quota(self.quota_hook.clone()))
    }

    /// Saves a recording and its audio in one transaction: both or neither.
    pub async fn save(
        self: &Rc<Self>,
        blob: &web_sys::Blob,
        mut new: NewRecording,
    ) -> Result<JsValue> {
        let id = new.id.take().unwrap_or_else(platform::new_id);
        let now = platform::now_ms();
        let mime_type = new.mime_type.take().unwrap_or_else(|| blob.type_());
        // Keep the type with the bytes, so `getBlob` returns what was saved even if the app passed
        // an untyped blob and named the type separately. Wrapping a Blob copies no bytes.
        let blob = if blob.type_() == mime_type {
            blob.clone()
        } else {
            audio::retype(blob, &mime_type)?
        };
        let created_at = new.created_at.unwrap_or(now);
        let record = new_record(&id, new, mime_type, blob.size(), created_at);

        let _writing = self.hasher.writing();
        // Read before the transaction opens: it would commit while the parts are read.
        let stored = audio::to_stored(&blob, self.audio_form).await?;
        // `meta` for the recording counts (see `counts`).
        let tx = self.tx(&[RECORDINGS, BLOBS, UNHASHED, META], Mode::Readwrite)?;
        // `add`, not `put`: an id that exists already is a conflict, never an overwrite.
        idb::issue(tx.store(RECORDINGS)?.add(&record), "saving the recording")?;
        tx.tally().moved(None, Some(SyncState::Pending));
        idb::issue(
            tx.store(BLOBS)?.put_with_key(&stored, &id.as_str().into()),
            "saving the audio",
        )?;
        hashing::enqueue(&tx, &id)?;
        tx.commit("saving the recording")
            .await
            .map_err(|e| match e.code {
                Code::Conflict => Error::new(
                    Code::Conflict,
                    format!("a recording with id {id} exists already; ids are never reused"),
                ),
                _ => e,
            })?;
        self.events.changed(ChangeKind::Save, &[id.as_str()]);
        self.wrote();
        hashing::kick(self);
        Ok(record.into())
    }

    /// Announces a recording committed by another module (a finished capture, which queued its
    /// hash in its own transaction) and starts hashing it.
    pub(crate) fn saved_in(self: &Rc<Self>, id: &str) {
        self.events.changed(ChangeKind::Save, &[id]);
        self.wrote();
        hashing::kick(self);
    }

    /// The recording `id`, or `None`.
    pub async fn get(&self, id: &RecordingId) -> Result<Option<JsValue>> {
        let tx = self.tx(&[RECORDINGS], Mode::Readonly)?;
        let value = idb::call(
            tx.store(RECORDINGS)?.get(&id.as_str().into()),
            "reading the recording",
        )
        .await?;
        tx.finish("reading the recording").await?;
        Ok(idb::some(value))
    }

    /// The audio of recording `id`, or `None`.
    pub async fn get_blob(&self, id: &RecordingId) -> Result<Option<web_sys::Blob>> {
        let tx = self.tx(&[BLOBS], Mode::Readonly)?;
        let value = idb::call(
            tx.store(BLOBS)?.get(&id.as_str().into()),
            "reading the audio",
        )
        .await?;
        tx.finish("reading the audio").await?;
        idb::some(value).map(audio::from_stored).transpose()
    }

    /// Edits a recording's metadata and marks it pending, so the next sync pushes the change.
    ///
    /// Once the recording has a sync entry (its content hash is known), the edit goes through the
    /// entry, stamped by the device clock, in one transaction with the entry and the recording.
    pub async fn update(&self, id: &RecordingId, patch: Patch) -> Result<JsValue> {
        let context = "updating the recording";
        let tx = self.tx(&[RECORDINGS, SYNC, META], Mode::Readwrite)?;
        let recordings = tx.store(RECORDINGS)?;
        let record = idb::some(idb::call(recordings.get(&id.as_str().into()), context).await?)
            .ok_or_else(|| not_found(id))?;
        let sync = tx.store(SYNC)?;
        let result = match entries::read(&sync, id).await? {
            Some(mut entry) => {
                let edit = to_edit(&record, patch)?;
                self.stamp(&tx, &mut entry, |e, clock, now| e.edit(&edit, clock, now))
                    .await?;
                entries::to_js(&entry.public().ok_or_else(|| not_found(id))?)?
            }
            // Not hashed yet, so not known to sync: the entry made later starts from this record,
            // which must stay within what sync carries.
            None => {
                tx.tally()
                    .moved(counts::state_of(&record), Some(SyncState::Pending));
                apply_patch(&record, patch);
                let recording: crate::core::recording::Recording =
                    entries::from_js(record.clone(), "recording")?;
                crate::core::limits::check_metadata(
                    &recording.name,
                    &recording.tags,
                    &recording.custom,
                )
                .map_err(|e| Error::invalid(format!("update changes: {e}")))?;
                idb::issue(recordings.put(&record), context)?;
                record
            }
        };
        tx.commit(context).await?;
        self.events.changed(ChangeKind::Update, &[id.as_str()]);
        Ok(result)
    }

    /// Replaces a recording's audio (a re-recording), keeping its id and metadata. The new take
    /// is hashed first, in bounded chunks, then written with the entry in one transaction.
    ///
    /// `original_size`: the take's size before tapesync compressed it, if it did.
    pub async fn replace_audio(
        self: &Rc<Self>,
        id: &RecordingId,
        blob: &web_sys::Blob,
        original_size: Option<u64>,
    ) -> Result<JsValue> {
        let context = "replacing the audio";
        let digest = hash::sha256_hex(blob).await?;
        let stored = audio::to_stored(blob, self.audio_form).await?;
        let tx = self.tx(&[RECORDINGS, BLOBS, SYNC, META, UNHASHED], Mode::Readwrite)?;
        let recordings = tx.store(RECORDINGS)?;
        let record = idb::some(idb::call(recordings.get(&id.as_str().into()), context).await?)
            .ok_or_else(|| not_found(id))?;
        let mime_type = match blob.type_() {
            t if t.is_empty() => Reflect::get(&record, &"mimeType".into())?
                .as_string()
                .unwrap_or_default(),
            t => t,
        };
        idb::issue(
            tx.store(BLOBS)?
                .put_with_key(&audio::typed(&stored, &mime_type)?, &id.as_str().into()),
            context,
        )?;
        let sync = tx.store(SYNC)?;
        let result = match entries::read(&sync, id).await? {
            Some(mut entry) => {
                let audio = crate::core::fields::AudioRef {
                    hash: crate::core::fields::ContentHash::parse(&digest)
                        .map_err(|e| Error::new(Code::Internal, e.to_string()))?,
                    size: blob.size() as u64,
                    mime_type,
                };
                let original = original_size.map(|size| crate::core::entry::Original {
                    hash: audio.hash.clone(),
                    size,
                });
                self.stamp(&tx, &mut entry, |e, clock, now| {
                    e.replace_audio(audio, clock, now)?;
                    e.original = original;
                    Ok(())
                })
                .await?;
                entries::to_js(&entry.public().ok_or_else(|| not_found(id))?)?
            }
            // Not known to sync yet: the entry made when it is hashed starts from this take.
            None => {
                set(&record, "mimeType", mime_type);
                set(&record, "size", blob.size());
                set(&record, "contentHash", digest);
                match original_size {
                    Some(size) => set(&record, "originalSize", size as f64),
                    None => {
                        Reflect::delete_property(
                            record.unchecked_ref::<Object>(),
                            &"originalSize".into(),
                        )?;
                    }
                }
                set(&record, "updatedAt", platform::now_ms());
                tx.tally()
                    .moved(counts::state_of(&record), Some(SyncState::Pending));
                set_state(&record, SyncState::Pending);
                idb::issue(recordings.put(&record), context)?;
                hashing::enqueue(&tx, id)?;
                record
            }
        };
        tx.commit(context).await?;
        self.events.changed(ChangeKind::Update, &[id.as_str()]);
        self.wrote();
        hashing::kick(self);
        Ok(result)
    }

    /// Runs a local edit of a sync entry in the caller's transaction (which must cover
    /// `recordings`, `sync` and `meta`): stamped by the device clock, it writes the entry, the
    /// recording it shows, and the clock.
    async fn stamp(
        &self,
        tx: &Tx,
        entry: &mut LocalEntry,
        edit: impl FnOnce(&mut LocalEntry, &mut Clock, u64) -> std::result::Result<(), EditError>,
    ) -> Result<()> {
        let meta = tx.store(META)?;
        let mut clock = entries::read_clock(&meta, &self.device).await?;
        let before = entry.clone();
        edit(entry, &mut clock, platform::now_ms() as u64)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let (sync, recordings) = (tx.store(SYNC)?, tx.store(RECORDINGS)?);
        entries::write_over(&sync, &recordings, entry, Some(&before), tx.tally())?;
        entries::write_clock(&meta, &clock)
    }

    /// Puts a recording whose push failed for good back in line for the next sync. `false` if it
    /// had not failed.
    pub async fn retry(&self, id: &RecordingId) -> Result<bool> {
        let context = "retrying the recording";
        let tx = self.tx(&[RECORDINGS, SYNC, META], Mode::Readwrite)?;
        let sync = tx.store(SYNC)?;
        let Some(mut entry) = entries::read(&sync, id).await? else {
            return Ok(false);
        };
        let before = entry.clone();
        if !entry.retry() {
            return Ok(false);
        }
        entries::write_over(
            &sync,
            &tx.store(RECORDINGS)?,
            &entry,
            Some(&before),
            tx.tally(),
        )?;
        tx.commit(context).await?;
        self.events.changed(ChangeKind::Update, &[id.as_str()]);
        Ok(true)
    }

    /// Deletes a recording and its audio. A recording known to sync keeps its entry as a tombstone
    /// until the deletion is synced.
    pub async fn delete(&self, id: &RecordingId) -> Result<()> {
        let context = "deleting the recording";
        let tx = self.tx(&[RECORDINGS, BLOBS, SYNC, META, UNHASHED], Mode::Readwrite)?;
        let key: JsValue = id.as_str().into();
        let recordings = tx.store(RECORDINGS)?;
        let record = idb::some(idb::call(recordings.get(&key), context).await?)
            .ok_or_else(|| not_found(id))?;
        let sync = tx.store(SYNC)?;
        match entries::read(&sync, id).await? {
            // The deleted entry's write removes the recording, and counts it.
            Some(mut entry) => {
                self.stamp(&tx, &mut entry, |e, clock, now| e.delete(clock, now))
                    .await?
            }
            None => tx.tally().moved(counts::state_of(&record), None),
        }
        idb::issue(recordings.delete(&key), context)?;
        idb::issue(tx.store(BLOBS)?.delete(&key), context)?;
        idb::issue(tx.store(UNHASHED)?.delete(&key), context)?;
        tx.commit(context).await?;
        self.events.changed(ChangeKind::Delete, &[id.as_str()]);
        Ok(())
    }

    /// How many recordings there are, in one state or in all.
    ///
    /// Reads the kept counts (see [`counts`]): one read, however many recordings there are.
    pub async fn count(&self, state: Option<SyncState>) -> Result<u32> {
        if let Some(kept) = counts::read(self).await? {
            return Ok(kept.get(state));
        }
        let tx = self.tx(&[RECORDINGS], Mode::Readonly)?;
        let recordings = tx.store(RECORDINGS)?;
        let req = match state {
            Some(state) => recordings.index(BY_SYNC_STATE).and_then(|i| {
                i.count_with_key(&state_range(state, None, Order::OldestFirst)?.into())
            }),
            None => recordings.count(),
        };
        let n = idb::call(req, "counting recordings").await?;
        tx.finish("counting recordings").await?;
        Ok(n.as_f64().unwrap_or(0.0) as u32)
    }

    /// A page of recordings.
    pub async fn list(&self, query: ListQuery) -> Result<Page> {
        let after = query.cursor.as_deref().map(Cursor::parse).transpose()?;
        let tx = self.tx(&[RECORDINGS], Mode::Readonly)?;
        let recordings = tx.store(RECORDINGS)?;
        let context = "listing recordings";
        let (index, range) = match query.sync_state {
            Some(state) => (
                BY_SYNC_STATE,
                Some(
                    state_range(state, after.as_ref(), query.order)
                        .map_err(|e| Error::from_js(context, &e))?,
                ),
            ),
            None => (
                BY_CREATED,
                after
                    .as_ref()
                    .map(|c| c.range_after(query.order))
                    .transpose()
                    .map_err(|e| Error::from_js(context, &e))?,
            ),
        };
        let index = recordings
            .index(index)
            .map_err(|e| Error::from_js(context, &e))?;
        // One more than asked tells whether another page exists without a second query.
        let fetch = query.limit.map(|l| l.saturating_add(1));
        let items =
            super::listing::get_all(&index, range.as_ref(), fetch, query.order, context).await?;
        tx.done_reading();
        let mut cursor = None;
        if let Some(limit) = query.limit {
            if items.length() > limit {
                items.set_length(limit);
                let last = items.get(limit - 1);
                cursor = Some(Cursor::of(&last)?.encode());
            }
        }
        Ok(Page { items, cursor })
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

impl From<JsValue> for Error {
    fn from(value: JsValue) -> Self {
        Error::from_js("reading a stored value", &value)
    }
}

/// What opening needs to know of the database, read in one read-only transaction.
///
/// Why: open used to run five transactions one after the other (the device id, the audio form,
/// the hash queue's adoption, the counts, the queue), three of them read-write, i.e. five round
/// trips to the browser's storage and three commits before the first `list()` could start. A
/// database opened before has all of it, so this one read is all an open costs; whatever is
/// missing (a new database, one from an older release) is then done as before, each step in its
/// own read-write transaction that checks again.
struct Startup {
    /// The device id, if one was made already.
    device_id: Option<String>,
    /// The remembered audio form (see [`audio::form_of`]).
    form: Option<audio::Form>,
    /// Whether [`hashing::adopt`] ran in this database.
    adopted: bool,
    /// Whether the database keeps recording counts (see [`counts::ensure`]).
    counted: bool,
    /// Whether anything waits to be hashed (see [`hashing::queued`]).
    queued: bool,
}

impl Startup {
    async fn read(db: &IdbDatabase) -> Result<Startup> {
        let context = "opening the store";
        let tx = Tx::new(db, &[META, UNHASHED], Mode::Readonly)?;
        let (meta, unhashed) = (tx.store(META)?, tx.store(UNHASHED)?);
        let get = |key: &str| idb::call(meta.get(&key.into()), context);
        // All five requests at once, in one transaction: one round trip.
        let (device_id, form, adopted, counted, queued) = futures::join!(
            get(DEVICE_ID),
            get(audio::FORM_KEY),
            get(hashing::ADOPTED),
            get(counts::COUNTS),
            // One key tells whether the queue is empty, however long it is.
            idb::call(
                unhashed.get_all_keys_with_key_and_limit(&JsValue::UNDEFINED, 1),
                context
            ),
        );
        let form = form?.as_string();
        let startup = Startup {
            device_id: device_id?.as_string(),
            form: [audio::Form::Blob, audio::Form::Chunks]
                .into_iter()
                .find(|f| form.as_deref() == Some(f.as_str())),
            adopted: idb::some(adopted?).is_some(),
            counted: counts::Counts::from_js(&counted?).is_some(),
            queued: Array::from(&queued?).length() > 0,
        };
        tx.done_reading();
        Ok(startup)
    }
}

async fn load_device_id(db: &IdbDatabase) -> Result<String> {
    let tx = Tx::new(db, &[META], Mode::Readwrite)?;
    let meta = tx.store(META)?;
    let existing = idb::call(meta.get(&DEVICE_ID.into()), "reading the device id").await?;
    if let Some(id) = existing.as_string() {
        tx.finish("reading the device id").await?;
        return Ok(id);
    }
    let id = platform::new_id().to_string();
    idb::issue(
        meta.put_with_key(&id.as_str().into(), &DEVICE_ID.into()),
        "storing the device id",
    )?;
    tx.commit("storing the device id").await?;
    Ok(id)
}

/// A new, pending `Recording` object.
pub(crate) fn new_record(
    id: &RecordingId,
    new: NewRecording,
    mime_type: String,
    size: f64,
    created_at: f64,
) -> Object {
    let record = Object::new();
    set(&record, "id", id.as_str());
    set(&record, "name", new.name.unwrap_or_default());
    set(&record, "mimeType", mime_type);
    set(&record, "size", size);
    set(&record, "durationMs", opt_num(new.duration_ms));
    set(&record, "createdAt", created_at);
    set(&record, "updatedAt", platform::now_ms());
    set(&record, "tags", strings(&new.tags));
    set(
        &record,
        "custom",
        new.custom.unwrap_or_else(|| Object::new().into()),
    );
    set(&record, "contentHash", JsValue::NULL);
    if let Some(size) = new.original_size {
        set(&record, "originalSize", size);
    }
    set_state(&record, SyncState::Pending);
    // Saved here with its audio (metadata-first pulls show recordings whose audio is not).
    set(&record, "audioHere", true);
    record
}

/// Applies a metadata patch to a record that has no sync entry yet.
fn apply_patch(record: &JsValue, patch: Patch) {
    if let Some(name) = patch.name {
        set(record, "name", name);
    }
    if let Some(duration) = patch.duration_ms {
        set(record, "durationMs", opt_num(duration));
    }
    if let Some(tags) = patch.tags {
        set(record, "tags", strings(&tags));
    }
    if let Some(custom) = patch.custom {
        set(record, "custom", custom);
    }
    set(record, "updatedAt", platform::now_ms());
    set_state(record, SyncState::Pending);
}

/// The patch as a sync edit. Custom fields are replaced as a whole: keys the record has and the
/// patch lacks are removed.
fn to_edit(record: &JsValue, patch: Patch) -> Result<Edit> {
    let mut edit = Edit {
        name: patch.name,
        tags: patch.tags,
        duration_ms: patch.duration_ms,
        ..Edit::default()
    };
    if let Some(custom) = patch.custom {
        let new: serde_json::Map<String, serde_json::Value> = entries::from_js(custom, "custom")?;
        let old: serde_json::Map<String, serde_json::Value> =
            entries::from_js(Reflect::get(record, &"custom".into())?, "custom")?;
        for key in old.keys() {
            if !new.contains_key(key) {
                edit.custom.insert(key.clone(), None);
            }
        }
        for (key, value) in new {
            edit.custom.insert(key, Some(value));
        }
    }
    Ok(edit)
}

fn not_found(id: &RecordingId) -> Error {
    Error::new(
        Code::NotFound,
        format!("there is no recording with id {id}"),
    )
}

/// Sets `key` on a fresh object the store owns; it cannot fail for plain objects.
pub(crate) fn set(obj: &JsValue, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &key.into(), &value.into());
}

fn set_state(record: &JsValue, state: SyncState) {
    set(record, "syncState", state.as_str());
    set(record, "synced", state.is_synced());
}

fn opt_num(n: Option<f64>) -> JsValue {
    n.map(JsValue::from).unwrap_or(JsValue::NULL)
}

fn strings(items: &[String]) -> Array {
    items.iter().map(|s| JsValue::from_str(s)).collect()
}

/// Where a page ended: the `[createdAt, id]` of its last item, as an opaque string.
struct Cursor {
    created_at: f64,
    id: RecordingId,
}

impl Cursor {
    fn of(record: &JsValue) -> Result<Cursor> {
        let created_at = Reflect::get(record, &"createdAt".into())?
            .as_f64()
            .unwrap_or(0.0);
        let id = Reflect::get(record, &"id".into())?
            .as_string()
            .unwrap_or_default();
        let id = RecordingId::parse(&id).map_err(|e| Error::new(Code::Internal, e.to_string()))?;
        Ok(Cursor { created_at, id })
    }

    fn encode(&self) -> String {
        // Ids never hold ':', so the first one separates the parts.
        format!("{}:{}", self.created_at, self.id)
    }

    fn parse(s: &str) -> Result<Cursor> {
        let bad = || Error::invalid(format!("{s:?} is not a cursor returned by list()"));
        let (t, id) = s.split_once(':').ok_or_else(bad)?;
        let created_at = super::platform::parse_decimal(t).ok_or_else(bad)?;
        if !created_at.is_finite() {
            return Err(bad());
        }
        let id = RecordingId::parse(id).map_err(|_| bad())?;
        Ok(Cursor { created_at, id })
    }

    fn key(&self, state: Option<SyncState>) -> JsValue {
        let key = Array::new();
        if let Some(state) = state {
            key.push(&state.as_str().into());
        }
        key.push(&self.created_at.into());
        key.push(&self.id.as_str().into());
        key.into()
    }

    fn range_after(&self, order: Order) -> std::result::Result<IdbKeyRange, JsValue> {
        match order {
            Order::OldestFirst => IdbKeyRange::lower_bound_with_open(&self.key(None), true),
            Order::NewestFirst => IdbKeyRange::upper_bound_with_open(&self.key(None), true),
        }
    }
}

/// The keys of `bySyncState` for one state, after `cursor` when given.
fn state_range(
    state: SyncState,
    after: Option<&Cursor>,
    order: Order,
) -> std::result::Result<IdbKeyRange, JsValue> {
    // `[state]` sorts before every `[state, createdAt, id]`, and `[state, []]` after them: arrays
    // sort above numbers in IndexedDB's key order.
    let low: JsValue = Array::of1(&state.as_str().into()).into();
    let high: JsValue = Array::of2(&state.as_str().into(), &Array::new()).into();
    match (after, order) {
        (None, _) => IdbKeyRange::bound(&low, &high),
        (Some(c), Order::OldestFirst) => IdbKeyRange::bound_with_lower_open_and_upper_open(
            &c.key(Some(state)),
            &high,
            true,
            false,
        ),
        (Some(c), Order::NewestFirst) => IdbKeyRange::bound_with_lower_open_and_upper_open(
            &low,
            &c.key(Some(state)),
            false,
            true,
        ),
    }
}
