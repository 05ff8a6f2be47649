//! Audio staged for upload: the Blobs and stored upload sessions of the next few uploads, read in
//! one read-only transaction.
//!
//! Why: reading them per upload puts every upload's transaction behind the sync's read-write
//! commits on the same stores (IndexedDB runs overlapping transactions in the order they were
//! created), so uploads were paced by local commits instead of by the network. One read for
//! several uploads leaves one wait where there were many.
//!
//! What is staged stays correct when the recording changes afterwards: the Blob and the hash were
//! read together, so the bytes uploaded are the bytes of the key's hash; the engine's commit
//! confirms an upload only for the audio the entry still has.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use futures::future::{join_all, FutureExt, LocalBoxFuture, Shared};
use wasm_bindgen::JsValue;
use web_sys::{Blob, IdbObjectStore, IdbTransactionMode as Mode};

use super::entries;
use super::error::Result;
use super::idb;
use super::remote::UploadSession;
use super::schema::{BLOBS, SYNC, UPLOADS};
use super::store::Store;
use crate::core::engine::QueuedUpload;
use crate::core::fields::ContentHash;
use crate::core::id::RecordingId;

/// How many queued uploads one read stages, the one about to start included.
pub const READ_AHEAD: usize = 16;
/// The most audio staged ahead of the upload about to start, in bytes. Staged audio is sent even
/// if the recording is deleted or re-recorded before its turn (the engine deletes it from the
/// cloud later), so big recordings are read one at a time.
const AHEAD_BYTES: u64 = 4 << 20;
/// Staged items left when the next read starts in the background.
const REFILL_BELOW: usize = READ_AHEAD / 2;

/// What an upload needs from the store.
pub enum Staged {
    /// The audio still has the upload's hash: its Blob, and the session of an upload started
    /// earlier, if one was stored.
    Ready(Blob, Option<UploadSession>),
    /// The recording's audio changed (or it was deleted) since the engine planned the upload.
    Changed,
}

/// Staged audio of one sync round, keyed by cloud key.
#[derive(Default)]
pub struct Staging {
    ready: RefCell<HashMap<String, Staged>>,
    /// The read under way: an upload that needs it waits for it rather than reading again.
    reading: RefCell<Option<Shared<LocalBoxFuture<'static, ()>>>>,
}

impl Staging {
    /// What the upload of `recording`'s audio `hash` to `key` needs; reads it, with the queued
    /// uploads `next`, unless a read already staged it. Each staged item is handed out once.
    /// When few staged items are left, the next ones are read in the background, so uploads
    /// rarely wait for a read at all.
    pub async fn take(
        self: &Rc<Self>,
        store: &Rc<Store>,
        key: &str,
        recording: &RecordingId,
        hash: &ContentHash,
        next: Vec<QueuedUpload>,
    ) -> Result<Staged> {
        loop {
            let staged = self.ready.borrow_mut().remove(key);
            if let Some(staged) = staged {
                if self.running_low() {
                    let batch = self.batch(None, next);
                    if !batch.is_empty() {
                        let (this, store) = (self.clone(), store.clone());
                        // A failed read here is reported by the upload that then reads itself.
                        super::platform::spawn(async move {
                            let _ = this.read_into(&store, &batch).await;
                        });
                    }
                }
                return Ok(staged);
            }
            match self.pending() {
                // Another read may stage this upload too: wait, then look again.
                Some(read) => read.await,
                None => break,
            }
        }
        let wanted = QueuedUpload {
            key: key.to_owned(),
            recording: recording.clone(),
            hash: hash.clone(),
            size: 0, // only the uploads read ahead count against the budget
        };
        let batch = self.batch(Some(wanted), next);
        self.read_into(store, &batch).await?;
        let staged = self.ready.borrow_mut().remove(key);
        Ok(staged.unwrap_or(Staged::Changed))
    }

    /// Whether the next upload should bring the queued ones with it (few staged, none being
    /// read): saves listing the queue for every upload.
    pub fn running_low(&self) -> bool {
        self.ready.borrow().len() < REFILL_BELOW && self.pending().is_none()
    }

    /// The read under way, if any. A finished one (also one dropped mid-way) is none.
    fn pending(&self) -> Option<Shared<LocalBoxFuture<'static, ()>>> {
        self.reading.borrow().clone().filter(|r| r.peek().is_none())
    }

    /// `first`, then the uploads of `next` not staged yet, within the byte budget.
    fn batch(&self, first: Option<QueuedUpload>, next: Vec<QueuedUpload>) -> Vec<QueuedUpload> {
        let ready = self.ready.borrow();
        let mut bytes = 0u64;
        let mut batch: Vec<QueuedUpload> = first.into_iter().collect();
        let fresh: Vec<QueuedUpload> = next
            .into_iter()
            .filter(|u| !ready.contains_key(&u.key) && batch.iter().all(|b| b.key != u.key))
            .take_while(|u| {
                bytes = bytes.saturating_add(u.size);
                bytes <= AHEAD_BYTES
            })
            .collect();
        batch.extend(fresh);
        batch
    }

    /// Reads `batch` into the staged items; uploads needing it meanwhile wait for it.
    async fn read_into(&self, store: &Store, batch: &[QueuedUpload]) -> Result<()> {
        let (done, finished) = futures::channel::oneshot::channel::<()>();
        *self.reading.borrow_mut() = Some(finished.map(drop).boxed_local().shared());
        let read = read(store, batch).await;
        self.reading.borrow_mut().take();
        let _ = done.send(());
        self.ready.borrow_mut().extend(read?);
        Ok(())
    }
}

/// Reads the entries, Blobs and sessions of `batch` in one read-only transaction, all requests
/// issued at once.
async fn read(store: &Store, batch: &[QueuedUpload]) -> Result<HashMap<String, Staged>> {
    let context = "reading audio to upload";
    let tx = store.tx(&[SYNC, BLOBS, UPLOADS], Mode::Readonly)?;
    let (sync, blobs, uploads) = (tx.store(SYNC)?, tx.store(BLOBS)?, tx.store(UPLOADS)?);
    // Sessions are few (only unfinished resumable uploads): two requests read them all.
    let (keys, sessions, audio) = futures::join!(
        idb::call(uploads.get_all_keys(), context),
        idb::call(uploads.get_all(), context),
        join_all(batch.iter().map(|u| read_one(&sync, &blobs, u))),
    );
    tx.finish(context).await?;
    let keys: js_sys::Array = idb::cast(keys?, "upload session keys")?;
    let sessions: js_sys::Array = idb::cast(sessions?, "upload sessions")?;
    let mut sessions: HashMap<String, JsValue> = keys
        .iter()
        .zip(sessions.iter())
        .filter_map(|(k, v)| Some((k.as_string()?, v)))
        .collect();
    batch
        .iter()
        .zip(audio)
        .map(|(u, blob)| {
            let staged = match blob? {
                Some(blob) => Staged::Ready(
                    blob,
                    // An unreadable session only means the upload starts over.
                    sessions
                        .remove(&u.key)
                        .and_then(|s| entries::from_js(s, "upload session").ok()),
                ),
                None => Staged::Changed,
            };
            Ok((u.key.clone(), staged))
        })
        .collect()
}

/// The audio of one upload, if the recording still has the upload's hash. Both requests are
/// polled together, so each has its handlers before either can succeed.
async fn read_one(
    sync: &IdbObjectStore,
    blobs: &IdbObjectStore,
    u: &QueuedUpload,
) -> Result<Option<Blob>> {
    let context = "reading audio to upload";
    let (here, blob) = futures::join!(
        entries::audio_here(sync, &u.recording),
        idb::call(blobs.get(&u.recording.as_str().into()), context),
    );
    let current = here?.is_some_and(|h| h == u.hash.as_str());
    match idb::some(blob?) {
        Some(b) if current => Ok(Some(super::audio::from_stored(b)?)),
        _ => Ok(None),
    }
}
