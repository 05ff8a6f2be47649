//! One sync per origin at a time, across tabs and workers: a Web Lock held for the whole sync.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// Runs `work` while holding the exclusive Web Lock `name`; other tabs asking for it wait.
/// Where Web Locks are missing (Safari before 15.4, Firefox before 96) or refuse the request
/// (`navigator.locks.request` throwing or rejecting before it grants, e.g. a `SecurityError` in
/// an opaque origin), `work` runs unguarded: the sync protocol is still correct then (its writes
/// are idempotent), only less efficient.
///
/// ```text
/// let report = lock::with_lock(&format!("tapesync-sync/{name}"), async move { round.await }).await?;
/// ```
pub async fn with_lock<F>(name: &str, work: F) -> Result<JsValue, JsValue>
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    let Some(locks) = lock_manager() else {
        return work.await;
    };
    // The lock is held until the promise the callback returns settles, i.e. until `work` ends.
    let work = Rc::new(RefCell::new(Some(work)));
    let callback = Closure::once({
        let work = work.clone();
        move |_lock: JsValue| -> Promise {
            match work.borrow_mut().take() {
                Some(w) => super::platform::to_promise(Box::pin(w)),
                None => Promise::resolve(&JsValue::UNDEFINED),
            }
        }
    });
    let result = request(&locks, name, None, callback.as_ref().unchecked_ref()).await;
    drop(callback);
    // Still here: the callback never ran, so the lock manager refused. Run without it.
    let unguarded = work.borrow_mut().take();
    match unguarded {
        Some(w) => w.await,
        None => result,
    }
}

/// `locks.request(name, options?, callback)`, its synchronous throw as a rejection.
async fn request(
    locks: &JsValue,
    name: &str,
    options: Option<&js_sys::Object>,
    callback: &Function,
) -> Result<JsValue, JsValue> {
    let request: Function = Reflect::get(locks, &"request".into())?.dyn_into()?;
    let held = match options {
        Some(o) => request.call3(locks, &name.into(), o, callback)?,
        None => request.call2(locks, &name.into(), callback)?,
    };
    JsFuture::from(Promise::resolve(&held)).await
}

/// `navigator.locks`, if this scope has Web Locks.
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
/// lasts while a database is being deleted. Where the lock manager refuses (a rejection), the
/// guard holds nothing and `destroy` cannot see this store open.
///
/// ```text
/// let open_guard = lock::hold_shared(&account::open_lock(name)); // kept by the open store
/// ```
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
    super::idb::ignore_rejection(&Promise::resolve(&granted));
    Some(Shared {
        release,
        _callback: callback,
    })
}

/// Runs `work` holding the exclusive lock `name` if nobody holds it (shared or exclusive);
/// `Ok(None)` without running it otherwise. Where Web Locks are missing or refuse the request
/// (see [`with_lock`]), `work` just runs.
///
/// ```text
/// match lock::if_unheld(&account::open_lock(name), delete).await? {
///     Some(_) => { /* deleted */ }
///     None => { /* open somewhere: refused */ }
/// }
/// ```
pub async fn if_unheld<F>(name: &str, work: F) -> Result<Option<JsValue>, JsValue>
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    let Some(locks) = lock_manager() else {
        return work.await.map(Some);
    };
    let options = js_sys::Object::new();
    Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE)?;
    let ran = Rc::new(Cell::new(false));
    let answered = Rc::new(Cell::new(false));
    let work = Rc::new(RefCell::new(Some(work)));
    let callback = Closure::once({
        let (ran, answered, work) = (ran.clone(), answered.clone(), work.clone());
        move |lock: JsValue| -> Promise {
            answered.set(true);
            match work.borrow_mut().take() {
                Some(w) if !lock.is_null() => {
                    ran.set(true);
                    super::platform::to_promise(Box::pin(w))
                }
                _ => Promise::resolve(&JsValue::UNDEFINED),
            }
        }
    });
    let result = request(
        &locks,
        name,
        Some(&options),
        callback.as_ref().unchecked_ref(),
    )
    .await;
    drop(callback);
    if !answered.get() {
        // Refused before answering (granted or not): run without the lock.
        let unguarded = work.borrow_mut().take();
        if let Some(w) = unguarded {
            return w.await.map(Some);
        }
    }
    Ok(if ran.get() { Some(result?) } else { None })
}
