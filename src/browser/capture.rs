//! Captures: recordings still being recorded, stored chunk by chunk as `MediaRecorder` delivers
//! them, so that a tab that dies mid-recording keeps everything up to its last chunk.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::channel::oneshot;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;
use web_sys::{IdbKeyRange, IdbTransactionMode as Mode};

use super::error::{Code, Error, Result};
use super::events::ChangeKind;
use super::platform;
use super::schema::{BLOBS, CAPTURES, CHUNKS, META, RECORDINGS, UNHASHED};
use super::store::{new_record, set, NewRecording, Store};
use super::{audio, idb};
use crate::core::id::RecordingId;
use crate::core::recording::SyncState;

/// A capture in progress. Its id becomes the recording's id when it is finished.
pub struct Capture {
    store: Rc<Store>,
    id: RecordingId,
    /// The next chunk's sequence number, taken when `append` is called (not when it completes), so
    /// chunks keep their order even when the app does not await each append.
    next_seq: Cell<u32>,
    /// The end of the queue of appends and finish, in call order: each waits for the one called
    /// before it (its sender dropped), so chunks are committed in order (a crash keeps a prefix of
    /// them, never a recording with a hole) and finish sees every chunk appended before it was
    /// called, even when the app did not await the appends. (An async mutex would not do:
    /// futures' `Mutex` is not fair, and let later appends, or finish, overtake earlier ones.)
    turn: RefCell<Option<oneshot::Receiver<()>>>,
    info: JsValue,
}

impl Capture {
    /// Starts a capture whose chunks will have `mime_type`.
    pub async fn start(store: &Rc<Store>, mime_type: String, name: String) -> Result<Capture> {
        let id = platform::new_id();
        let now = platform::now_ms();
        let info = Object::new();
        set(&info, "id", id.as_str());
        set(&info, "name", name);
        set(&info, "mimeType", mime_type);
        set(&info, "startedAt", now);
        set(&info, "updatedAt", now);
        set(&info, "size", 0);
        set(&info, "chunks", 0);
        let tx = store.tx(&[CAPTURES], Mode::Readwrite)?;
        idb::issue(tx.store(CAPTURES)?.add(&info), "starting the capture")?;
        tx.commit("starting the capture").await?;
        store.events().changed(ChangeKind::Capture, &[id.as_str()]);
        Ok(Capture {
            store: store.clone(),
            id,
            next_seq: Cell::new(0),
            turn: RefCell::new(None),
            info: info.into(),
        })
    }

    /// The captures left unfinished, oldest first.
    pub async fn unfinished(store: &Rc<Store>) -> Result<Vec<Capture>> {
        let context = "listing captures";
        let tx = store.tx(&[CAPTURES, CHUNKS], Mode::Readonly)?;
        let all: Array = idb::cast(
            idb::call(tx.store(CAPTURES)?.get_all(), context).await?,
            "captures",
        )?;
        let mut out = Vec::new();
        for info in all.iter() {
            let id = Reflect::get(&info, &"id".into())?
                .as_string()
                .unwrap_or_default();
            let Ok(id) = RecordingId::parse(&id) else {
                continue;
            };
            let capture = Capture {
                store: store.clone(),
                id,
                next_seq: Cell::new(0),
                turn: RefCell::new(None),
                info,
            };
            // Continue after the highest stored chunk: a failed append leaves a gap in the
            // numbers, so the count of chunks is not the next number.
            let keys = idb::call(
                tx.store(CHUNKS)?
                    .get_all_keys_with_key(&capture.chunk_range()?.into()),
                context,
            )
            .await?;
            let last = idb::cast::<Array>(keys, "chunk keys")?.pop();
            if let Some(seq) =
                idb::some(last).and_then(|k| Reflect::get(&k, &1.into()).ok()?.as_f64())
            {
                capture.next_seq.set(seq as u32 + 1);
            }
            out.push(capture);
        }
        tx.finish(context).await?;
        // By insertion, not `sort_by`: a few captures, and a driftsort instance is kilobytes of
        // wasm (issue 14). IndexedDB's getAll already gives them in key order, usually.
        for i in 1..out.len() {
            let mut j = i;
            while j > 0 && out[j - 1].id > out[j].id {
                out.swap(j - 1, j);
                j -= 1;
            }
        }
        Ok(out)
    }

    /// The capture's id (the future recording's id).
    pub fn id(&self) -> &RecordingId {
        &self.id
    }

    /// `{ id, name, mimeType, startedAt, updatedAt, size, chunks }` as of the last append.
    pub fn info(&self) -> &JsValue {
        &self.info
    }

    /// Stores one chunk, together with the capture's updated size, in one transaction.
    pub async fn append(&self, chunk: &web_sys::Blob) -> Result<()> {
        let seq = self.next_seq.get();
        self.next_seq.set(seq + 1);
        let _turn = self.my_turn().await;
        let stored = audio::to_stored(chunk, self.store.audio_form()).await?;
        let tx = self.store.tx(&[CAPTURES, CHUNKS], Mode::Readwrite)?;
        let captures = tx.store(CAPTURES)?;
        let context = "storing the recorded chunk";
        let info = idb::some(idb::call(captures.get(&self.key()), context).await?)
            .ok_or_else(|| self.gone())?;
        let size = Reflect::get(&info, &"size".into())?.as_f64().unwrap_or(0.0);
        let chunks = Reflect::get(&info, &"chunks".into())?
            .as_f64()
            .unwrap_or(0.0);
        set(&info, "size", size + chunk.size());
        set(&info, "chunks", chunks + 1.0);
        set(&info, "updatedAt", platform::now_ms());
        idb::issue(
            tx.store(CHUNKS)?
                .put_with_key(&stored, &self.chunk_key(seq)),
            context,
        )?;
        idb::issue(captures.put(&info), context)?;
        tx.commit(context).await?;
        self.store.wrote();
        // Keep `info` current for the app; the stored object is the truth.
        set(&self.info, "size", size + chunk.size());
        set(&self.info, "chunks", chunks + 1.0);
        Ok(())
    }

    /// Turns the capture into a recording: one transaction writes the recording and its audio
    /// and removes the capture, so a crash leaves either the capture or the recording, never both
    /// or neither.
    pub async fn finish(&self, extra: NewRecording) -> Result<JsValue> {
        let context = "finishing the capture";
        // After the appends called before: `onstop` calls finish while the last append runs.
        let _turn = self.my_turn().await;
        // The chunks' bytes are read first, in a transaction of their own (reading them inside
        // the writing one would let it commit early), and the audio is stored from memory: see
        // [`audio::parts_of`] for why a Blob joined from stored Blobs is not stored.
        let (seen, parts) = {
            let tx = self.store.tx(&[CAPTURES, CHUNKS], Mode::Readonly)?;
            let info = idb::some(idb::call(tx.store(CAPTURES)?.get(&self.key()), context).await?)
                .ok_or_else(|| self.gone())?;
            let chunks: Array = idb::cast(
                idb::call(
                    tx.store(CHUNKS)?
                        .get_all_with_key(&self.chunk_range()?.into()),
                    context,
                )
                .await?,
                "chunks",
            )?;
            tx.finish(context).await?;
            (chunk_count(&info)?, audio::parts_of(&chunks).await?)
        };
        let tx = self.store.tx(
            &[CAPTURES, CHUNKS, RECORDINGS, BLOBS, UNHASHED, META],
            Mode::Readwrite,
        )?;
        let captures = tx.store(CAPTURES)?;
        let info = idb::some(idb::call(captures.get(&self.key()), context).await?)
            .ok_or_else(|| self.gone())?;
        if chunk_count(&info)? != seen {
            return Err(Error::new(
                Code::Conflict,
                format!(
                    "capture {} got a chunk while finishing: finish it again",
                    self.id
                ),
            ));
        }
        let chunks_store = tx.store(CHUNKS)?;
        let range = self.chunk_range()?;
        let mime_type = Reflect::get(&info, &"mimeType".into())?
            .as_string()
            .unwrap_or_default();
        let size = audio::parts_size(&parts);
        let audio = audio::from_parts(&parts, &mime_type, self.store.audio_form())?;
        let mut extra = extra;
        if extra.name.is_none() {
            extra.name = Reflect::get(&info, &"name".into())?.as_string();
        }
        let created_at = extra
            .created_at
            .or_else(|| Reflect::get(&info, &"startedAt".into()).ok()?.as_f64())
            .unwrap_or_else(platform::now_ms);
        let record = new_record(&self.id, extra, mime_type, size, created_at);
        idb::issue(tx.store(RECORDINGS)?.add(&record), context)?;
        tx.tally().moved(None, Some(SyncState::Pending));
        idb::issue(tx.store(BLOBS)?.put_with_key(&audio, &self.key()), context)?;
        idb::issue(chunks_store.delete(&range.into()), context)?;
        idb::issue(captures.delete(&self.key()), context)?;
        super::hashing::enqueue(&tx, &self.id)?;
        tx.commit(context).await?;
        self.store.saved_in(self.id.as_str());
        Ok(record.into())
    }

    /// Drops the capture and its chunks.
    pub async fn discard(&self) -> Result<()> {
        let tx = self.store.tx(&[CAPTURES, CHUNKS], Mode::Readwrite)?;
        let context = "discarding the capture";
        idb::issue(
            tx.store(CHUNKS)?.delete(&self.chunk_range()?.into()),
            context,
        )?;
        idb::issue(tx.store(CAPTURES)?.delete(&self.key()), context)?;
        tx.commit(context).await?;
        self.store
            .events()
            .changed(ChangeKind::Capture, &[self.id.as_str()]);
        Ok(())
    }

    /// Waits for the appends and finish called before this one; the returned sender is this
    /// one's turn: dropping it lets the next one go. The place in the queue is taken when the
    /// future is first polled, which is in call order (each API call is a task of its own).
    async fn my_turn(&self) -> oneshot::Sender<()> {
        let (turn, next) = oneshot::channel();
        if let Some(previous) = self.turn.replace(Some(next)) {
            // Err(Canceled) is the previous one's end: its sender was dropped.
            let _ = previous.await;
        }
        turn
    }

    fn key(&self) -> JsValue {
        self.id.as_str().into()
    }

    fn chunk_key(&self, seq: u32) -> JsValue {
        Array::of2(&self.key(), &seq.into()).into()
    }

    fn chunk_range(&self) -> Result<IdbKeyRange> {
        // `[id]` < `[id, n]` < `[id, []]` for every number n.
        IdbKeyRange::bound(
            &Array::of1(&self.key()),
            &Array::of2(&self.key(), &Array::new()),
        )
        .map_err(|e| Error::from_js("selecting the chunks", &e))
    }

    fn gone(&self) -> Error {
        Error::new(
            Code::NotFound,
            format!("capture {} was finished or discarded already", self.id),
        )
    }
}

/// How many chunks a capture's stored info counts.
fn chunk_count(info: &JsValue) -> Result<f64> {
    Ok(Reflect::get(info, &"chunks".into())?
        .as_f64()
        .unwrap_or(0.0))
}
