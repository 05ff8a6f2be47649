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

fn lock_manager() -> Option<JsValue> {
    Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|n| Reflect::get(&n, &"locks".into()))
        .ok()
        .filter(|l| !l.is_undefined() && !l.is_null())
}

/// A shared Web Lock held for as long as this value lives (released on drop): an open store holds
/// one on its database's name, so [`if_unheld`] can tell that it is open somewhere.
#[must_use = "the lock is released when this is dropped"]
pub struct Shared {
    release: Option<Function>,
    _callback: Closure<dyn FnMut(JsValue) -> Promise>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
    }
}

/// Takes the shared lock `name` for the life of the returned guard; `None` where Web Locks are
/// missing.
///
/// The request is granted at once unless an exclusive holder ([`if_unheld`]) has it, which only
/// lasts while a database is being deleted.
pub fn hold_shared(name: &str) -> Option<Shared> {
    let locks = lock_manager()?;
    let request: Function = Reflect::get(&locks, &"request".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let mut release = None;
    let held = Promise::new(&mut |resolve, _| release = Some(resolve));
    let callback = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |_lock| held.clone());
    let options = js_sys::Object::new();
    let _ = Reflect::set(&options, &"mode".into(), &"shared".into());
    let granted = request
        .call3(
            &locks,
            &name.into(),
            &options,
            callback.as_ref().unchecked_ref(),
        )
        .ok()?;
    // Its rejection (the page going away) needs no handling; keep it from surfacing as uncaught.
    super::idb::ignore_rejection(&Promise::from(granted));
    Some(Shared {
        release,
        _callback: callback,
    })
}

/// Runs `work` holding the exclusive lock `name` if nobody holds it (shared or exclusive);
/// `Ok(None)` without running it otherwise. Where Web Locks are missing, `work` just runs.
pub async fn if_unheld<F>(name: &str, work: F) -> Result<Option<JsValue>, JsValue>
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    let Some(locks) = lock_manager() else {
        return work.await.map(Some);
    };
    let request: Function = Reflect::get(&locks, &"request".into())?.unchecked_into();
    let options = js_sys::Object::new();
    Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE)?;
    let ran = std::rc::Rc::new(std::cell::Cell::new(false));
    let mut work = Some(work);
    let callback = Closure::once({
        let ran = ran.clone();
        move |lock: JsValue| -> Promise {
            match work.take() {
                Some(w) if !lock.is_null() => {
                    ran.set(true);
                    future_to_promise(w)
                }
                _ => Promise::resolve(&JsValue::UNDEFINED),
            }
        }
    });
    let held = request.call3(
        &locks,
        &name.into(),
        &options,
        callback.as_ref().unchecked_ref(),
    )?;
    let result = JsFuture::from(Promise::from(held)).await;
    drop(callback);
    Ok(if ran.get() { Some(result?) } else { None })
}
