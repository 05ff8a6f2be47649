//! Downloaded audio landing in the store: the downloads that finish while one is being written
//! are written together, in the next transaction.
//!
//! Why: one read-write transaction per downloaded recording made a first pull of thousands of
//! recordings slow, and slower with every Blob already stored (Chromium's read-write commits cost
//! more with the Blobs a database holds; BENCHMARKS.md). Batches form by themselves exactly when
//! the writes are the bottleneck, and a batch is one commit: all of it lands or none.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use futures::channel::oneshot;
use futures::future::join_all;
use wasm_bindgen::JsValue;
use web_sys::{Blob, IdbTransactionMode as Mode};

use super::audio;
use super::entries;
use super::error::{Code, Error, Result};
use super::idb;
use super::remote::wire::audio_mime;
use super::schema::{BLOBS, META, RECORDINGS, SYNC};
use super::store::Store;
use crate::core::commit::audio_arrived;
use crate::core::fields::ContentHash;
use crate::core::id::RecordingId;

/// One downloaded take waiting to be written, and who waits for the write.
struct Arrival {
    recording: RecordingId,
    hash: ContentHash,
    /// The audio in the store's form (see [`audio`]), not yet typed.
    audio: JsValue,
    done: oneshot::Sender<Result<()>>,
}

/// The downloads of one sync round waiting to be written.
#[derive(Default)]
pub struct Landing {
    waiting: RefCell<Vec<Arrival>>,
    writing: Cell<bool>,
}

impl Landing {
    /// Stores `blob` (already checked against `hash`) as the audio `hash` of `recording`, if the recording still wants that take
    /// (it may have been deleted or re-recorded meanwhile), together with the other downloads
    /// waiting. Resolves once the transaction holding it committed.
    pub async fn store(
        &self,
        store: &Store,
        recording: RecordingId,
        hash: ContentHash,
        blob: Blob,
    ) -> Result<()> {
        let audio = audio::to_stored(&blob, store.audio_form()).await?;
        let (done, written) = oneshot::channel();
        self.waiting.borrow_mut().push(Arrival {
            recording,
            hash,
            audio,
            done,
        });
        if !self.writing.replace(true) {
            // This download writes batches until none is waiting; the others wait for theirs.
            let _writer = Writer(self);
            loop {
                let batch = std::mem::take(&mut *self.waiting.borrow_mut());
                if batch.is_empty() {
                    break;
                }
                let result = write(store, &batch).await;
                for arrival in batch {
                    let _ = arrival.done.send(result.clone());
                }
            }
        }
        written.await.unwrap_or_else(|_| {
            Err(Error::new(
                Code::Aborted,
                "storing downloaded audio was abandoned",
            ))
        })
    }
}

/// Hands the writer's role back when the writing download ends, also when it is dropped mid-way:
/// the downloads still waiting then fail (and are downloaded again next round) instead of hanging.
struct Writer<'a>(&'a Landing);

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        self.0.writing.set(false);
        self.0.waiting.borrow_mut().clear();
    }
}

/// Writes `batch` in one read-write transaction: each take's Blob and its entry (and public
/// recording), for the recordings that still want it.
async fn write(store: &Store, batch: &[Arrival]) -> Result<()> {
    let context = "storing downloaded audio";
    // `meta` for the recording counts (see `super::counts`).
    let tx = store.tx(&[RECORDINGS, BLOBS, SYNC, META], Mode::Readwrite)?;
    let (recordings, blobs, sync) = (tx.store(RECORDINGS)?, tx.store(BLOBS)?, tx.store(SYNC)?);
    let ids: Vec<&RecordingId> = batch.iter().map(|a| &a.recording).collect();
    let read = join_all(ids.iter().map(|id| entries::read(&sync, id))).await;
    let mut current: BTreeMap<&RecordingId, Option<_>> = BTreeMap::new();
    for (id, entry) in ids.into_iter().zip(read) {
        current.insert(id, entry?);
    }
    let mut slices = super::platform::Slices::new();
    for a in batch {
        idb::breathe(&sync, &mut slices, context).await?;
        let before = current.get(&a.recording).cloned().flatten();
        let Some(entry) = audio_arrived(before.clone(), &a.hash) else {
            continue;
        };
        // The type the recording declares (another device's log says so), if it is audio;
        // whatever the server sent is ignored. Anything else lands as application/octet-stream,
        // so that a log cannot make the app treat the bytes as a page, an image or a script.
        let declared = entry.public().map(|r| r.mime_type).unwrap_or_default();
        let mime = audio_mime(&declared);
        idb::issue(
            blobs.put_with_key(&audio::typed(&a.audio, mime)?, &a.recording.as_str().into()),
            context,
        )?;
        entries::write_over(&sync, &recordings, &entry, before.as_ref(), tx.tally())?;
        current.insert(&a.recording, Some(entry));
    }
    tx.commit(context).await?;
    store.wrote();
    Ok(())
}
