//! One sync per origin at a time, across tabs and workers: a Web Lock held for the whole sync.

use std::future::Future;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

/// Runs `work` while holding the exclusive Web Lock `name`; other tabs asking for it wait.
/// Where Web Locks are missing (old browsers), `work` runs unguarded: the sync protocol is still
/// correct then (its writes are idempotent), only less efficient.
pub async fn with_lock<F>(name: &str, work: F) -> Result<JsValue, JsValue>
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    let locks = Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|n| Reflect::get(&n, &"locks".into()))
        .ok()
        .filter(|l| !l.is_undefined() && !l.is_null());
    let Some(locks) = locks else {
        return work.await;
    };
    let request: Function = Reflect::get(&locks, &"request".into())?.unchecked_into();
    // The lock is held until the promise the callback returns settles, i.e. until `work` ends.
    let mut work = Some(work);
    let callback = Closure::once(move |_lock: JsValue| -> Promise {
        match work.take() {
            Some(w) => future_to_promise(w),
            None => Promise::resolve(&JsValue::UNDEFINED),
        }
    });
    let held = request.call2(&locks, &name.into(), callback.as_ref().unchecked_ref())?;
    let result = JsFuture::from(Promise::from(held)).await;
    drop(callback);
    result
}
