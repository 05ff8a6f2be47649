//! Reading and writing the sync core's state in IndexedDB: entries, the device clock, the device's
//! sync meta. Every write of an entry also writes the public `Recording` it shows, in the same
//! transaction, so the two never disagree.

use js_sys::Array;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::JsValue;
use web_sys::{IdbKeyRange, IdbObjectStore};

use super::counts::Tally;
use super::error::{Code, Error, Result};
use super::idb;
use crate::core::commit::SyncMeta;
use crate::core::device::DeviceId;
use crate::core::entry::LocalEntry;
use crate::core::hlc::Clock;
use crate::core::id::RecordingId;
use crate::core::log::Segment;

/// The `meta` key of the device's hybrid logical clock.
pub const CLOCK: &str = "clock";
/// The `meta` key of the device's sync meta (next sequence number, checkpoints; the outbox is
/// kept apart, see [`OUTBOX`]).
pub const SYNC_META: &str = "syncMeta";
/// The `meta` keys of the outbox: each segment sealed and not yet confirmed in the cloud, as
/// the JSON text it is uploaded as, under `outbox/{seq}` (20 digits, so keys sort by `seq`).
/// Schema 5: every commit writes the sync meta whole, and with the outbox in it a bulk push
/// wrote every unconfirmed segment again in each commit (a long task once a few were queued);
/// a segment is written once here, and deleted with its confirmation.
pub const OUTBOX: &str = "outbox/";

/// A Rust value as a plain JS object (not a `Map`), as IndexedDB and apps expect.
///
/// Through JSON text: `serde_json` plus one `JSON.parse` took half the time of building the object
/// property by property across the wasm boundary (`serde-wasm-bindgen`; measured per sync entry in
/// Chromium, both ways), and sync commits read and write hundreds of entries at a time.
pub fn to_js<T: Serialize>(value: &T) -> Result<JsValue> {
    let text = serde_json::to_string(value)
        .map_err(|e| Error::new(Code::Internal, format!("encoding sync state: {e}")))?;
    js_sys::JSON::parse(&text)
        .map_err(|_| Error::new(Code::Internal, "encoding sync state: JSON.parse failed"))
}

/// A JS value read from the store as a Rust value (through `JSON.stringify`, see [`to_js`]).
pub fn from_js<T: DeserializeOwned>(value: JsValue, what: &str) -> Result<T> {
    let unreadable = |why: String| {
        Error::new(
            Code::Internal,
            format!("stored {what} is unreadable: {why}"),
        )
    };
    let text = js_sys::JSON::stringify(&value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| unreadable("not JSON".into()))?;
    serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))
}

/// Records read per request of [`read_all`].
const PAGE: u32 = 1000;

/// Every record of `store` (keyed by string ids), in key order, read in requests of [`PAGE`]:
/// the browser decodes a request's records in one task of the page, and one `getAll` of 50,000
/// sync entries blocked it for 600 ms.
pub async fn read_all(store: &IdbObjectStore, context: &str) -> Result<Array> {
    let out = Array::new();
    let mut after: Option<JsValue> = None;
    loop {
        let page: Array = match &after {
            None => idb::cast(
                idb::call(
                    store.get_all_with_key_and_limit(&JsValue::UNDEFINED, PAGE),
                    context,
                )
                .await?,
                "records",
            )?,
            Some(key) => {
                let range = IdbKeyRange::lower_bound_with_open(key, true)
                    .map_err(|e| Error::from_js(context, &e))?;
                idb::cast(
                    idb::call(store.get_all_with_key_and_limit(&range, PAGE), context).await?,
                    "records",
                )?
            }
        };
        for v in page.iter() {
            out.push(&v);
        }
        if page.length() < PAGE {
            return Ok(out);
        }
        let last = js_sys::Reflect::get(&page.get(page.length() - 1), &"id".into())?;
        if last.is_undefined() {
            return Err(Error::new(Code::Internal, "a stored record has no id"));
        }
        after = Some(last);
    }
}

/// The entry of `id`, if the store has one.
pub async fn read(sync: &IdbObjectStore, id: &RecordingId) -> Result<Option<LocalEntry>> {
    let value = idb::call(sync.get(&id.as_str().into()), "reading sync state").await?;
    idb::some(value)
        .map(|v| from_js(v, "sync entry"))
        .transpose()
}

/// The hash of the audio the entry of `id` has on this device, read without decoding the whole
/// entry (`LocalEntry::audio_here`, stored as `audioHere`).
pub async fn audio_here(sync: &IdbObjectStore, id: &RecordingId) -> Result<Option<String>> {
    let value = idb::call(sync.get(&id.as_str().into()), "reading sync state").await?;
    Ok(idb::some(value)
        .and_then(|v| js_sys::Reflect::get(&v, &"audioHere".into()).ok())
        .and_then(|h| h.as_string()))
}

/// Writes `entry` and the public recording it shows (or removes that recording when the entry is
/// deleted), given the entry as it was read in the same transaction (`None`: there was none, and no
/// recording of that id either). A recording whose audio is not here is shown too, with
/// `audioHere: false`: the metadata lands first. The public recording is only written when what it
/// shows changed (a confirmed upload, say, changes nothing there); the change is noted in `tally`,
/// the transaction's recording counts (see [`super::counts`]). `Ok(true)` when it was written, i.e.
/// what apps see of the recording changed (its sync state, say).
pub fn write_over(
    sync: &IdbObjectStore,
    recordings: &IdbObjectStore,
    entry: &LocalEntry,
    before: Option<&LocalEntry>,
    tally: &Tally,
) -> Result<bool> {
    idb::issue(sync.put(&to_js(entry)?), "writing sync state")?;
    let shown = LocalEntry::public;
    let recording = shown(entry);
    let was = before.map(shown);
    if was.as_ref().is_some_and(|b| *b == recording) {
        return Ok(false);
    }
    tally.moved(
        was.flatten().map(|r| r.sync_state),
        recording.as_ref().map(|r| r.sync_state),
    );
    let key: JsValue = entry.id.as_str().into();
    match recording {
        Some(recording) => idb::issue(recordings.put(&to_js(&recording)?), "writing the recording"),
        None => idb::issue(recordings.delete(&key), "removing the recording"),
    }?;
    Ok(true)
}

/// The device's clock, new if none was stored yet.
pub async fn read_clock(meta: &IdbObjectStore, device: &DeviceId) -> Result<Clock> {
    let value = idb::call(meta.get(&CLOCK.into()), "reading the clock").await?;
    match idb::some(value) {
        Some(v) => from_js(v, "clock"),
        None => Ok(Clock::new(device.clone())),
    }
}

/// Stores the device's clock.
pub fn write_clock(meta: &IdbObjectStore, clock: &Clock) -> Result<()> {
    idb::issue(
        meta.put_with_key(&to_js(clock)?, &CLOCK.into()),
        "writing the clock",
    )
}

/// The device's sync meta, new if none was stored yet.
pub async fn read_meta(meta: &IdbObjectStore, device: &DeviceId) -> Result<SyncMeta> {
    let context = "reading sync meta";
    let value = idb::call(meta.get(&SYNC_META.into()), context).await?;
    let Some(value) = idb::some(value) else {
        return Ok(SyncMeta::new(device.clone()));
    };
    let mut state: SyncMeta = from_js(value, "sync meta")?;
    // Schema 4 kept the outbox inline: such a state is read as it is, and its segments move to
    // records of their own with the next commit.
    let (keys, texts) = outbox_records(meta, true).await?;
    for (key, text) in keys.iter().zip(texts.iter()) {
        let Some(seq) = seq_of(&key) else { continue };
        if state.outbox.iter().any(|s| s.seq == seq) {
            continue;
        }
        let text = text
            .as_string()
            .ok_or_else(|| Error::new(Code::Internal, "a stored outbox segment is not text"))?;
        let seg = Segment::decode(text.as_bytes(), &state.device, seq).map_err(|e| {
            Error::new(
                Code::Internal,
                format!("stored outbox segment {seq} is unreadable: {e}"),
            )
        })?;
        state.outbox.push(seg);
    }
    state.outbox.sort_by_key(|s| s.seq);
    Ok(state)
}

/// The keys of the stored outbox segments, in order, and (with `texts`) their JSON text, in the
/// same order.
async fn outbox_records(meta: &IdbObjectStore, texts: bool) -> Result<(Array, Array)> {
    let context = "reading the sync outbox";
    // Every key in `outbox/`: '0' is the character after '/'.
    let range = IdbKeyRange::bound(&OUTBOX.into(), &"outbox0".into())
        .map_err(|e| Error::from_js(context, &e))?;
    let keys: Array = idb::cast(
        idb::call(meta.get_all_keys_with_key(&range), context).await?,
        "keys",
    )?;
    let values = if texts {
        idb::cast(
            idb::call(meta.get_all_with_key(&range), context).await?,
            "outbox",
        )?
    } else {
        Array::new()
    };
    Ok((keys, values))
}

/// The segment number an outbox key names.
fn seq_of(key: &JsValue) -> Option<u64> {
    key.as_string()?.strip_prefix(OUTBOX)?.parse().ok()
}

fn outbox_key(seq: u64) -> JsValue {
    format!("{OUTBOX}{seq:020}").into()
}

/// The sequence numbers of the outbox segments stored, for [`write_meta`]. Read before the
/// transaction writes anything: a read after a write that fails (a full quota) would fail with the
/// transaction's abort and hide why.
pub async fn outbox_seqs(meta: &IdbObjectStore) -> Result<Vec<u64>> {
    Ok(outbox_records(meta, false)
        .await?
        .0
        .iter()
        .filter_map(|k| seq_of(&k))
        .collect())
}

/// Stores the device's sync meta: the state itself, each outbox segment not among `stored` (what
/// [`outbox_seqs`] read in this transaction), and the removal of those no longer in the outbox
/// (confirmed in the cloud, or reset).
pub fn write_meta(meta: &IdbObjectStore, value: &SyncMeta, stored: &[u64]) -> Result<()> {
    let context = "writing sync meta";
    for seg in &value.outbox {
        if !stored.contains(&seg.seq) {
            let text = String::from_utf8(seg.encode())
                .map_err(|_| Error::new(Code::Internal, "a segment did not encode as text"))?;
            idb::issue(
                meta.put_with_key(&text.into(), &outbox_key(seg.seq)),
                context,
            )?;
        }
    }
    for &seq in stored {
        if !value.outbox.iter().any(|s| s.seq == seq) {
            idb::issue(meta.delete(&outbox_key(seq)), context)?;
        }
    }
    idb::issue(
        meta.put_with_key(&to_js(&value.without_outbox())?, &SYNC_META.into()),
        context,
    )
}
