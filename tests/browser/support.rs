//! Helpers shared by the browser test binaries: opening fresh stores, making blobs, reading
//! fields and error codes of what the JS API returns.

#![allow(dead_code)]

use js_sys::{Array, Object, Reflect, Uint8Array};
use tapesync::api::{Capture, RecordingStore};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// A store with a name no other test uses.
pub async fn fresh_store() -> (RecordingStore, String) {
    let name = format!("test-{}", js_sys::Math::random().to_bits());
    (open(&name).await, name)
}

pub async fn open(name: &str) -> RecordingStore {
    let opts = obj(&[("name", name.into())]);
    let store = JsFuture::from(RecordingStore::open(Some(opts.unchecked_into())))
        .await
        .expect("open");
    store_from(store)
}

pub fn store_from(v: JsValue) -> RecordingStore {
    use wasm_bindgen::convert::TryFromJsValue;
    RecordingStore::try_from_js_value(v).expect("a RecordingStore")
}

pub fn capture_from(v: JsValue) -> Capture {
    use wasm_bindgen::convert::TryFromJsValue;
    Capture::try_from_js_value(v).expect("a Capture")
}

pub fn obj(fields: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in fields {
        Reflect::set(&o, &(*k).into(), v).unwrap();
    }
    o.into()
}

pub fn blob(bytes: &[u8], mime: &str) -> web_sys::Blob {
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let parts = Array::of1(&Uint8Array::from(bytes));
    web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &opts).unwrap()
}

pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

pub async fn bytes_of(blob: &web_sys::Blob) -> Vec<u8> {
    let buf = JsFuture::from(blob.array_buffer()).await.unwrap();
    Uint8Array::new(&buf).to_vec()
}

pub fn field(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap()
}

pub fn string(v: &JsValue, key: &str) -> String {
    field(v, key)
        .as_string()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

pub fn number(v: &JsValue, key: &str) -> f64 {
    field(v, key)
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number"))
}

/// Awaits a promise that must resolve.
pub async fn ok(p: js_sys::Promise) -> JsValue {
    JsFuture::from(p)
        .await
        .unwrap_or_else(|e| panic!("rejected: {e:?}"))
}

/// Awaits a promise that must reject with a `TapesyncError`, and returns its code.
pub async fn err_code(p: js_sys::Promise) -> String {
    let e = JsFuture::from(p).await.expect_err("should have rejected");
    assert!(
        e.is_instance_of::<js_sys::Error>(),
        "rejects with an Error: {e:?}"
    );
    assert_eq!(string(&e, "name"), "TapesyncError");
    assert!(!string(&e, "message").is_empty());
    string(&e, "code")
}

pub fn items(page: &JsValue) -> Vec<JsValue> {
    field(page, "items")
        .unchecked_into::<Array>()
        .iter()
        .collect()
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
// Databases as earlier releases wrote them, built with raw IndexedDB: the stores and indexes of
// schema versions 1 and 2, and one pending recording whose content hash was never computed.
export function writeOldDatabase(name, version, id, bytes) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, version);
    req.onupgradeneeded = () => {
      const db = req.result;
      const recordings = db.createObjectStore("recordings", { keyPath: "id" });
      recordings.createIndex("byCreated", ["createdAt", "id"]);
      recordings.createIndex("bySyncState", ["syncState", "createdAt", "id"]);
      db.createObjectStore("blobs");
      db.createObjectStore("captures", { keyPath: "id" });
      db.createObjectStore("chunks");
      db.createObjectStore("meta");
      if (version === 1) {
        db.createObjectStore("tombstones", { keyPath: "id" });
      } else {
        db.createObjectStore("sync", { keyPath: "id" }).createIndex("byWork", "work");
        db.createObjectStore("uploads");
      }
    };
    req.onerror = () => reject(req.error);
    req.onsuccess = () => {
      const db = req.result;
      const tx = db.transaction(["recordings", "blobs"], "readwrite");
      const blob = new Blob([bytes], { type: "audio/webm" });
      tx.objectStore("recordings").put({
        id, name: "old", mimeType: "audio/webm", size: blob.size, durationMs: null,
        createdAt: 1700000000000, updatedAt: 1700000000000, tags: [], custom: {},
        contentHash: null, syncState: "pending", synced: false,
      });
      tx.objectStore("blobs").put(blob, id);
      tx.oncomplete = () => { db.close(); resolve(); };
      tx.onerror = () => reject(tx.error);
    };
  });
}
"#)]
extern "C" {
    /// Writes database `name` as schema `version` (1 or 2) did, with one unhashed recording `id`.
    #[wasm_bindgen(js_name = writeOldDatabase)]
    pub fn write_old_database(name: &str, version: u32, id: &str, bytes: &[u8]) -> js_sys::Promise;
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
export function storesBlobs() {
  // A raw IndexedDB write of a Blob in a database of its own: the oracle the store's choice is
  // checked against. WebKit's ephemeral sessions abort it; a hang counts as a refusal.
  return new Promise((resolve) => {
    const name = "oracle-" + Math.random();
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => open.result.createObjectStore("s");
    open.onerror = () => resolve(false);
    open.onsuccess = () => {
      const db = open.result;
      let timer;
      const end = (v) => { clearTimeout(timer); db.close(); indexedDB.deleteDatabase(name); resolve(v); };
      // Long: a loaded machine may take seconds, and a refusal aborts rather than hangs.
      timer = setTimeout(() => end(false), 60000);
      try {
        const tx = db.transaction("s", "readwrite");
        tx.objectStore("s").put(new Blob(["x"]), 1);
        tx.oncomplete = () => end(true);
        tx.onabort = () => end(false);
      } catch (e) { end(false); }
    };
  });
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = storesBlobs)]
    fn stores_blobs_promise() -> js_sys::Promise;
}

/// Whether this engine stores a Blob in IndexedDB (false in WebKit's ephemeral sessions).
pub async fn engine_stores_blobs() -> bool {
    JsFuture::from(stores_blobs_promise())
        .await
        .map(|v| v.is_truthy())
        .unwrap_or(false)
}

/// Opens `name` with `audioStorage: "chunks"`.
pub async fn open_chunked(name: &str) -> RecordingStore {
    let opts = obj(&[("name", name.into()), ("audioStorage", "chunks".into())]);
    store_from(
        JsFuture::from(RecordingStore::open(Some(opts.unchecked_into())))
            .await
            .expect("open"),
    )
}
