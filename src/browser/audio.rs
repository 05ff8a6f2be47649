//! How audio is kept in IndexedDB: as the `Blob` itself, or, where the engine refuses Blobs in
//! IndexedDB, as its bytes in `ArrayBuffer` parts plus its type.
//!
//! Why two forms: WebKit refuses to store a Blob in an ephemeral session (Safari's private mode,
//! and any app whose web view keeps no data on disk) with "UnknownError: Error preparing Blob/File
//! data to be stored in object store"; worse, a transaction that also writes anything else then
//! never settles, and every later request on the database waits behind it. So the form is chosen
//! before anything is written: once per database, by a probe write in a throwaway database, and
//! remembered in the database's `meta` store. Both forms read back as a Blob of the same bytes and
//! type, and a database may hold both (a store opened with `audioStorage: "chunks"` after Blobs).
//!
//! The parts are read from the Blob with `slice().arrayBuffer()` in JavaScript: the bytes never
//! pass through wasm memory.

use futures::future::Either;
use js_sys::{Array, ArrayBuffer, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, IdbDatabase, IdbFactory, IdbTransactionMode as Mode};

use super::error::{Code, Error, Result};
use super::idb::{self, Tx};
use super::schema::META;

/// The largest part of audio kept as one `ArrayBuffer`: reading and writing stay in bounded
/// pieces, and no single allocation grows with the recording.
pub const PART_BYTES: f64 = (1 << 20) as f64;

/// Where the chosen form is remembered, in [`META`].
pub(crate) const FORM_KEY: &str = "audioStorage";
/// The throwaway database of the probe write.
const PROBE_DB: &str = "tapesync-probe";
/// How long the probe may take before the engine counts as refusing Blobs: a refusal that hangs
/// must not hang the open. Chunks work everywhere, so a slow engine that gets them loses only a
/// little speed.
const PROBE_MS: u32 = 5_000;

/// How a database keeps audio.
///
/// ```text
/// let stored = audio::to_stored(&blob, store.audio_form()).await?;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// The Blob itself: the engine stores it as a file and reads it lazily.
    Blob,
    /// `{ type, parts: ArrayBuffer[] }`: for engines that refuse Blobs in IndexedDB.
    Chunks,
}

impl Form {
    /// `"blob"` or `"chunks"`: what `store.audioStorage` says.
    pub fn as_str(self) -> &'static str {
        match self {
            Form::Blob => "blob",
            Form::Chunks => "chunks",
        }
    }
}

/// The form of `db`: remembered, or found by the probe and remembered. `forced` (the open option
/// `audioStorage: "chunks"`) wins and is remembered too, so every later open keeps the same form.
pub async fn form_of(factory: &IdbFactory, db: &IdbDatabase, forced: Option<Form>) -> Result<Form> {
    let context = "reading how audio is stored";
    let tx = Tx::new(db, &[META], Mode::Readonly)?;
    let known = idb::call(tx.store(META)?.get(&FORM_KEY.into()), context).await?;
    tx.finish(context).await?;
    let known = match known.as_string().as_deref() {
        Some("blob") => Some(Form::Blob),
        Some("chunks") => Some(Form::Chunks),
        _ => None,
    };
    let form = match (forced, known) {
        (Some(f), _) => f,
        (None, Some(k)) => return Ok(k),
        (None, None) => probe(factory).await,
    };
    if known != Some(form) {
        let context = "remembering how audio is stored";
        let tx = Tx::new(db, &[META], Mode::Readwrite)?;
        idb::issue(
            tx.store(META)?
                .put_with_key(&form.as_str().into(), &FORM_KEY.into()),
            context,
        )?;
        tx.commit(context).await?;
    }
    Ok(form)
}

/// Whether this engine stores a Blob in IndexedDB: one small write in a throwaway database, which
/// is deleted again. Anything but a clean commit within [`PROBE_MS`] counts as a refusal.
async fn probe(factory: &IdbFactory) -> Form {
    let write = Box::pin(probe_write(factory));
    let deadline = gloo_timers::future::TimeoutFuture::new(PROBE_MS);
    let outcome = match futures::future::select(write, deadline).await {
        Either::Left((written, _)) => written,
        Either::Right(_) => Err(Error::new(Code::StorageUnavailable, "the probe hung")),
    };
    let _ = factory.delete_database(PROBE_DB);
    match outcome {
        Ok(()) => Form::Blob,
        Err(_) => Form::Chunks,
    }
}

async fn probe_write(factory: &IdbFactory) -> Result<()> {
    let request = factory
        .open_with_u32(PROBE_DB, 1)
        .map_err(|e| Error::from_js("probing Blob storage", &e))?;
    let on_upgrade = wasm_bindgen::closure::Closure::<dyn FnMut()>::new({
        let request = request.clone();
        move || {
            if let Ok(db) = request.result() {
                let _ = db
                    .unchecked_into::<IdbDatabase>()
                    .create_object_store("probe");
            }
        }
    });
    request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    let db = idb::request(&request, "probing Blob storage").await;
    request.set_onupgradeneeded(None);
    let db: IdbDatabase = idb::cast(db?, "probe database")?;
    let result = async {
        let tx = Tx::new(&db, &["probe"], Mode::Readwrite)?;
        let blob = in_memory(&Array::of1(&JsValue::from_str("probe")), "audio/webm")?;
        idb::issue(tx.store("probe")?.put_with_key(&blob, &1.into()), "probe")?;
        tx.commit("probing Blob storage").await
    }
    .await;
    db.close();
    result
}

/// What to store for `blob` in `form`: the Blob itself, or its bytes in parts of at most
/// [`PART_BYTES`], read in JavaScript.
pub async fn to_stored(blob: &Blob, form: Form) -> Result<JsValue> {
    match form {
        Form::Blob => Ok(blob.clone().into()),
        Form::Chunks => Ok(chunks_value(&blob.type_(), &read_parts(blob).await?).into()),
    }
}

/// The bytes of each stored piece (Blobs or chunk values), as `ArrayBuffer` parts in order.
///
/// Why: WebKit makes a Blob joined from Blobs it read from IndexedDB unreadable for a while after
/// it is stored (`NotFoundError` on every read until the engine restarts or some later moment),
/// which broke a capture finished after a restart: hashing, upload and playback all read it at
/// once. A Blob made from bytes in memory has no such link.
pub async fn parts_of(pieces: &Array) -> Result<Array> {
    let out = Array::new();
    for piece in pieces.iter() {
        match parts_value(&piece) {
            Some(parts) => parts.iter().for_each(|p| {
                out.push(&p);
            }),
            None => {
                let blob: Blob = idb::cast(piece, "audio")?;
                read_parts(&blob).await?.iter().for_each(|p| {
                    out.push(&p);
                });
            }
        }
    }
    Ok(out)
}

/// The value to store for audio already in memory as `parts`, in `form`.
pub fn from_parts(parts: &Array, mime_type: &str, form: Form) -> Result<JsValue> {
    match form {
        Form::Blob => Ok(in_memory(parts, mime_type)?.into()),
        Form::Chunks => Ok(chunks_value(mime_type, parts).into()),
    }
}

/// `stored` typed `mime_type`: the audio of a recording always carries the recording's type.
pub fn typed(stored: &JsValue, mime_type: &str) -> Result<JsValue> {
    match parts_value(stored) {
        Some(parts) => Ok(chunks_value(mime_type, &parts).into()),
        None => {
            let blob: Blob = idb::cast(stored.clone(), "audio")?;
            if blob.type_() == mime_type {
                Ok(blob.into())
            } else {
                Ok(retype(&blob, mime_type)?.into())
            }
        }
    }
}

/// `blob` with another MIME type, sharing its bytes.
pub fn retype(blob: &Blob, mime_type: &str) -> Result<Blob> {
    let options = BlobPropertyBag::new();
    options.set_type(mime_type);
    Blob::new_with_blob_sequence_and_options(&Array::of1(blob), &options)
        .map_err(|e| Error::from_js("preparing the audio", &e))
}

/// The Blob a stored value holds: the value itself, or one made of its parts and type.
pub fn from_stored(value: JsValue) -> Result<Blob> {
    if let Some(parts) = parts_value(&value) {
        let mime = Reflect::get(&value, &"type".into())?
            .as_string()
            .unwrap_or_default();
        return in_memory(&parts, &mime);
    }
    idb::cast(value, "audio")
}

/// The size in bytes of a stored value, without making a Blob of it; `None` for anything else.
pub fn stored_size(value: &JsValue) -> Option<f64> {
    match parts_value(value) {
        Some(parts) => Some(parts_size(&parts)),
        None => value.dyn_ref::<Blob>().map(Blob::size),
    }
}

/// The bytes in `parts` (ArrayBuffers).
pub fn parts_size(parts: &Array) -> f64 {
    parts
        .iter()
        .map(|p| p.unchecked_into::<ArrayBuffer>().byte_length() as f64)
        .sum()
}

fn chunks_value(mime_type: &str, parts: &Array) -> Object {
    let value = Object::new();
    let _ = Reflect::set(&value, &"type".into(), &mime_type.into());
    let _ = Reflect::set(&value, &"parts".into(), parts);
    value
}

fn parts_value(value: &JsValue) -> Option<Array> {
    if value.is_instance_of::<Blob>() || !value.is_object() {
        return None;
    }
    Reflect::get(value, &"parts".into())
        .ok()?
        .dyn_into::<Array>()
        .ok()
}

/// A Blob of `parts` (ArrayBuffers or strings) typed `mime_type`.
fn in_memory(parts: &Array, mime_type: &str) -> Result<Blob> {
    let options = BlobPropertyBag::new();
    options.set_type(mime_type);
    Blob::new_with_buffer_source_sequence_and_options(parts, &options)
        .map_err(|e| Error::from_js("assembling the audio", &e))
}

async fn read_parts(blob: &Blob) -> Result<Array> {
    let context = "reading the audio";
    let size = blob.size();
    let parts = Array::new();
    let mut offset = 0.0;
    while offset < size {
        let end = (offset + PART_BYTES).min(size);
        let slice = blob
            .slice_with_f64_and_f64(offset, end)
            .map_err(|e| Error::from_js(context, &e))?;
        let bytes = JsFuture::from(slice.array_buffer())
            .await
            .map_err(|e| Error::from_js(context, &e))?;
        parts.push(&bytes);
        offset = end;
    }
    Ok(parts)
}
