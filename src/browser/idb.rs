//! A small promise bridge over IndexedDB: requests and transactions as futures.
//!
//! Why not `indexed_db_futures`: its `Transaction::commit` turns an aborted transaction into
//! `TransactionAborted` and drops the DOM error that caused the abort, so a `QuotaExceededError`
//! could not be told from any other failure, and the raw handles it wraps are sealed. Saving must
//! report exactly that error, so this module keeps the raw `web_sys` handles and reads
//! `transaction.error` itself. The handlers are the promise's own `resolve`/`reject` functions, so
//! no Rust closure is created or leaked per request.

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbRequest, IdbTransaction, IdbTransactionMode};

use super::error::{Error, Result};

/// Awaits one request and returns its `result`.
///
/// Awaiting inside a transaction is safe: `wasm-bindgen-futures` resumes the task in a microtask of
/// the success event, while the transaction is still active.
pub async fn request(req: &IdbRequest, context: &str) -> Result<JsValue> {
    let done = Promise::new(&mut |resolve: Function, reject: Function| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject));
    });
    let outcome = JsFuture::from(done).await;
    req.set_onsuccess(None);
    req.set_onerror(None);
    match outcome {
        Ok(_) => req.result().map_err(|e| Error::from_js(context, &e)),
        Err(_) => Err(match req.error() {
            Ok(Some(dom)) => Error::from_js(context, &dom),
            _ => Error::from_js(context, &JsValue::from_str("the request failed")),
        }),
    }
}

thread_local! {
    /// One handler for every promise whose rejection is reported another way; made once.
    static IGNORE: Closure<dyn FnMut(JsValue)> = Closure::new(|_: JsValue| {});
}

/// Marks `promise` as handled: its rejection is reported another way (or means nothing), and
/// must not surface in the page as an uncaught error.
pub fn ignore_rejection(promise: &Promise) {
    IGNORE.with(|ignore| {
        let _ = promise.catch(ignore);
    });
}

/// A transaction that rolls back unless [`Tx::commit`] is awaited: dropping it, or returning early
/// with `?`, leaves nothing half-written.
#[must_use = "a transaction rolls back unless committed"]
pub struct Tx {
    raw: IdbTransaction,
    done: Promise,
    finished: bool,
    on_quota: Option<QuotaHook>,
    tally: super::counts::Tally,
}

/// What a transaction that failed for quota awaits before it reports the failure: the store's
/// reconnection (see `Store::reconnect`).
pub type QuotaHook = std::rc::Rc<dyn Fn() -> futures::future::LocalBoxFuture<'static, ()>>;

impl Tx {
    /// Starts a transaction over `stores`.
    pub fn new(db: &IdbDatabase, stores: &[&str], mode: IdbTransactionMode) -> Result<Tx> {
        let names: Array = stores.iter().map(|s| JsValue::from_str(s)).collect();
        let raw = db
            .transaction_with_str_sequence_and_mode(&names, mode)
            .map_err(|e| Error::from_js("starting a transaction", &e))?;
        // Listen from the start: `complete` may fire before the caller awaits it.
        let done = Promise::new(&mut |resolve: Function, reject: Function| {
            raw.set_oncomplete(Some(&resolve));
            raw.set_onabort(Some(&reject));
        });
        // A transaction dropped on an error path (rolled back) has nobody awaiting `done`: without
        // a handler its rejection would surface in the page as an uncaught `Event`.
        ignore_rejection(&done);
        Ok(Tx {
            raw,
            done,
            finished: false,
            on_quota: None,
            tally: Default::default(),
        })
    }

    /// Runs `hook` when the transaction fails with `QuotaExceeded`, before the failure is reported,
    /// so the caller's next transaction already has what the hook did.
    pub fn on_quota(mut self, hook: QuotaHook) -> Tx {
        self.on_quota = Some(hook);
        self
    }

    /// One of the transaction's object stores.
    pub fn store(&self, name: &str) -> Result<web_sys::IdbObjectStore> {
        self.raw
            .object_store(name)
            .map_err(|e| Error::from_js("opening an object store", &e))
    }

    /// Waits until the data is written; reports the error that aborted it otherwise.
    ///
    /// The transaction commits by itself once its requests are done. It is never hurried with
    /// `IDBTransaction.commit()`: after that call WebKit commits even when a request of the
    /// transaction failed (a refused Blob, an `add` of an existing key), keeping the other writes:
    /// half a save, reported as done.
    ///
    /// The changes to the recording counts noted in [`Tx::tally`] are written first, in this
    /// transaction (which must then cover `meta`), so they commit or roll back with the rest.
    pub async fn commit(mut self, context: &str) -> Result<()> {
        self.finished = true;
        if let Some(delta) = self.tally.take() {
            let applied = match self.store(super::schema::META) {
                Ok(meta) => super::counts::apply(delta, &meta).await,
                Err(e) => Err(e),
            };
            if let Err(e) = applied {
                // Committing without the counts would leave them wrong: nothing is written. A
                // request that failed already aborted the transaction; its error says why.
                let _ = self.raw.abort();
                let aborted = self.wait(context).await;
                return match (aborted, self.raw.error()) {
                    (Err(cause), Some(_)) => Err(cause),
                    _ => Err(e),
                };
            }
        }
        self.wait(context).await
    }

    /// The changes to the recording counts this transaction makes (see [`super::counts`]).
    pub fn tally(&self) -> &super::counts::Tally {
        &self.tally
    }

    /// Waits for a read-only transaction's end, so that reads issued without awaiting are done.
    pub async fn finish(mut self, context: &str) -> Result<()> {
        self.finished = true;
        self.wait(context).await
    }

    /// Ends a read-only transaction whose every request was awaited, without waiting for its
    /// `complete` event: the results are final once they arrive (a read-only transaction writes
    /// nothing that could still fail), and `complete` costs one more round trip to the browser's
    /// storage (2 to 12 ms each at 4x CPU throttling, measured in `bench/startup.mjs`). The
    /// transaction commits on its own; it is not aborted.
    ///
    /// ```text
    /// let value = idb::call(tx.store(META)?.get(&key), context).await?;
    /// tx.done_reading();
    /// ```
    pub fn done_reading(mut self) {
        self.finished = true;
    }

    async fn wait(&self, context: &str) -> Result<()> {
        if JsFuture::from(self.done.clone()).await.is_ok() {
            return Ok(());
        }
        let error = match self.raw.error() {
            Some(dom) => Error::from_js(context, &dom),
            None => Error::new(
                super::error::Code::Aborted,
                format!("{context} was aborted"),
            ),
        };
        if let (super::error::Code::QuotaExceeded, Some(hook)) = (error.code, &self.on_quota) {
            hook().await;
        }
        Err(error)
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.raw.abort();
        }
    }
}

/// `work` as a future of its own, for steps that seldom run (a database's first open, an older
/// engine's fallback).
///
/// Why: an `async fn`'s awaited futures are compiled into its own poll function, and browsers
/// compile WebAssembly lazily, a function at its first call (Chromium: 266 functions, 77 KB, on
/// the way to the first `list()`), so the rare steps of `open` made its poll function, the
/// biggest one on that way, cost compile time on every start. Boxed (and hidden from the
/// optimizer, which would otherwise call, and inline, the known poll function directly) a step is
/// a function of its own, compiled only where it runs.
///
/// ```text
/// let id = idb::cold(load_device_id(&db)).await?;
/// ```
pub fn cold<'a, T>(
    work: impl std::future::Future<Output = T> + 'a,
) -> futures::future::LocalBoxFuture<'a, T> {
    std::hint::black_box(Box::pin(work))
}

/// Lets the event loop run in the middle of a long transaction once `slices` says the current
/// slice is used up, without letting the transaction commit: it awaits a cheap read on `store` (a
/// transaction with a request pending stays active, and the answer comes in a task of its own).
pub async fn breathe(
    store: &web_sys::IdbObjectStore,
    slices: &mut super::platform::Slices,
    context: &str,
) -> Result<()> {
    if slices.due() {
        call(store.count_with_key(&JsValue::from_str("")), context).await?;
        slices.waited();
    }
    Ok(())
}

/// Issues a request and awaits it, for the common `store.get(key)`-style call.
pub async fn call(req: std::result::Result<IdbRequest, JsValue>, context: &str) -> Result<JsValue> {
    let req = req.map_err(|e| Error::from_js(context, &e))?;
    request(&req, context).await
}

/// Issues a request whose result is not needed; the transaction's commit reports its failure.
pub fn issue(req: std::result::Result<IdbRequest, JsValue>, context: &str) -> Result<()> {
    req.map(drop).map_err(|e| Error::from_js(context, &e))
}

/// `value` when it is neither `undefined` nor `null`.
pub fn some(value: JsValue) -> Option<JsValue> {
    (!value.is_undefined() && !value.is_null()).then_some(value)
}

/// A cheap conversion used where a JS value is known to be of a type (e.g. a `Blob` read back from
/// the `blobs` store).
pub fn cast<T: JsCast>(value: JsValue, what: &str) -> Result<T> {
    value.dyn_into::<T>().map_err(|_| {
        Error::new(
            super::error::Code::Internal,
            format!("stored {what} has an unexpected type"),
        )
    })
}
