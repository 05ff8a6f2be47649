//! The engine-dependent answers in a dedicated worker, which has no document and (per the
//! Storage spec) no `navigator.storage.persist`: `playable` is `true` there whatever the type,
//! and `persist()` resolves `false` instead of rejecting.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[path = "browser/support.rs"]
mod support;
use support::*;

#[wasm_bindgen_test]
async fn playable_is_true_where_no_audio_element_can_answer() {
    assert!(
        js_sys::Reflect::get(&js_sys::global(), &"document".into())
            .unwrap()
            .is_undefined(),
        "a worker"
    );
    let (store, _) = fresh_store().await;
    let odd = obj(&[("mimeType", "audio/x-not-a-codec".into())]);
    let rec = ok(store.save(blob(b"????", "").into(), Some(odd.unchecked_into()))).await;
    assert_eq!(field(&rec, "playable"), JsValue::TRUE);
    let page = ok(store.list(None)).await;
    assert_eq!(field(&items(&page)[0], "playable"), JsValue::TRUE);
    store.close();
}

#[wasm_bindgen_test]
async fn estimate_and_persist_resolve_in_a_worker() {
    let (store, _) = fresh_store().await;
    let est = ok(store.estimate()).await;
    assert!(field(&est, "persisted").as_bool().is_some());
    let usage = field(&est, "usage");
    assert!(usage.is_null() || usage.as_f64().is_some());
    assert_eq!(ok(store.persist()).await, JsValue::FALSE);
    store.close();
}
