//! What the browser gives the core: the clock, randomness, IndexedDB and the storage manager, read
//! from whichever global scope the code runs in (a page, a dedicated worker or a service worker).

use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};

use super::error::{Code, Error, Result};
use crate::core::id::RecordingId;

fn global_get(name: &str) -> Option<JsValue> {
    Reflect::get(&js_sys::global(), &name.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// `n` bytes from the platform's cryptographic random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(crypto) = global_get("crypto").and_then(|c| c.dyn_into::<web_sys::Crypto>().ok()) {
        if crypto.get_random_values_with_u8_array(&mut out).is_ok() {
            return out;
        }
    }
    // Every context that runs wasm has `crypto.getRandomValues`; this fallback only keeps ids
    // unique should one not, it is not used for secrets.
    for b in out.iter_mut() {
        *b = (js_sys::Math::random() * 256.0) as u8;
    }
    out
}

/// A new time-ordered id.
pub fn new_id() -> RecordingId {
    RecordingId::new_v7(now_ms() as u64, random_bytes())
}

/// The IndexedDB factory of this scope.
pub fn indexed_db() -> Result<web_sys::IdbFactory> {
    global_get("indexedDB")
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| {
            Error::new(
                Code::StorageUnavailable,
                "IndexedDB is not available here (some private modes and sandboxed frames disable it)",
            )
        })
}

/// The `navigator.storage` manager of this scope, if the browser has one.
pub fn storage_manager() -> Option<web_sys::StorageManager> {
    let navigator = global_get("navigator")?;
    Reflect::get(&navigator, &"storage".into())
        .ok()?
        .dyn_into()
        .ok()
}

/// `navigator.storage`, read as a plain object: present where the browser has the Storage API
/// (Chrome 55, Firefox 57, Safari 15.2; WebKitGTK ships it off, so there it is absent).
fn storage() -> Option<JsValue> {
    let navigator = global_get("navigator")?;
    Reflect::get(&navigator, &"storage".into())
        .ok()
        .filter(|s| s.is_object())
}

/// Calls `storage.<method>()` if it is a function and awaits it; `None` if the method is missing
/// (`persist` is not exposed in workers), throws or rejects.
async fn call_storage(storage: &JsValue, method: &str) -> Option<JsValue> {
    let f: js_sys::Function = Reflect::get(storage, &method.into())
        .ok()?
        .dyn_into()
        .ok()?;
    let promise = js_sys::Promise::resolve(&f.call0(storage).ok()?);
    wasm_bindgen_futures::JsFuture::from(promise).await.ok()
}

/// `{ usage, quota, persisted }` from `navigator.storage.estimate()` and `persisted()`. Never
/// fails: where the Storage API is missing (WebKitGTK, Safari before 15.2/17 for `estimate`) or
/// refuses, `usage` and `quota` are `null` and `persisted` is `false`.
///
/// ```text
/// let estimate = platform::estimate().await; // { usage: 1234, quota: 5e9, persisted: false }
/// ```
pub async fn estimate() -> JsValue {
    let out = js_sys::Object::new();
    let storage = storage();
    let estimate = match &storage {
        Some(s) => call_storage(s, "estimate").await,
        None => None,
    };
    for field in ["usage", "quota"] {
        let v = estimate
            .as_ref()
            .and_then(|e| Reflect::get(e, &field.into()).ok())
            .filter(|v| v.as_f64().is_some())
            .unwrap_or(JsValue::NULL);
        let _ = Reflect::set(&out, &field.into(), &v);
    }
    let persisted = match &storage {
        Some(s) => call_storage(s, "persisted").await,
        None => None,
    };
    let persisted = persisted.and_then(|v| v.as_bool()).unwrap_or(false);
    let _ = Reflect::set(&out, &"persisted".into(), &persisted.into());
    out.into()
}

/// Asks the browser to keep this origin's data under storage pressure
/// (`navigator.storage.persist()`); whether it will. `false`, never an error, where the Storage
/// API or `persist` is missing (WebKitGTK, workers) or refuses.
///
/// Firefox asks the user with a prompt and this stays pending until they answer: nothing in
/// tapesync awaits it (opening, saving and syncing never do), and apps should not await it
/// before those either.
///
/// ```text
/// let granted = platform::persist().await;
/// ```
pub async fn persist() -> bool {
    let Some(storage) = storage() else {
        return false;
    };
    call_storage(&storage, "persist")
        .await
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}
