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
