//! What the browser gives the core: the clock, randomness, IndexedDB and the storage manager, read
//! from whichever global scope the code runs in (a page, a dedicated worker or a service worker).

use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};

use super::error::{Code, Error, Result};
use crate::core::id::RecordingId;

/// Runs `work` in the background on the page's microtask queue.
///
/// Every background task of the crate goes through here: `wasm_bindgen_futures::spawn_local` is
/// generic, and each future type it is called with gets its own copy of the executor's glue
/// (task allocation, waker, the JSPI path). Boxed first, they share one (issue 14: size).
///
/// ```ignore
/// platform::spawn(async move { flush_played(&store).await });
/// ```
pub fn spawn(work: impl std::future::Future<Output = ()> + 'static) {
    spawn_boxed(Box::pin(work));
}

#[inline(never)]
fn spawn_boxed(work: futures::future::LocalBoxFuture<'static, ()>) {
    wasm_bindgen_futures::spawn_local(work);
}

/// `wasm_bindgen_futures::future_to_promise` for every caller, boxed for the same reason as
/// [`spawn`]: one copy of the Promise glue instead of one per exported async method.
#[inline(never)]
pub fn to_promise(
    work: futures::future::LocalBoxFuture<'static, std::result::Result<JsValue, JsValue>>,
) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(work)
}

/// A decimal number as `f64` `Display` writes it (digits, at most one `.`, a leading `-`), parsed
/// by the engine's `parseFloat`, or `None`. Not `str::parse::<f64>`: its exact algorithm brings a
/// 10 KB table of powers of five into the wasm, for one use (list cursors; issue 14: size).
///
/// ```ignore
/// assert_eq!(platform::parse_decimal("-1.5"), Some(-1.5));
/// assert_eq!(platform::parse_decimal("0x10"), None);
/// ```
pub fn parse_decimal(text: &str) -> Option<f64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let plain = digits.bytes().any(|b| b.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() <= 1;
    if !plain {
        return None;
    }
    // parseFloat reads the whole of it: the check above left nothing for it to skip.
    Some(js_sys::Number::parse_float(text)).filter(|n| n.is_finite())
}

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

/// `storagepressure` fires when a check finds usage at or above this share of the quota: early
/// enough for the app to free space (e.g. evict synced audio) before saves fail with
/// `QuotaExceeded`. (Chromium may report a static quota, usage + 10 GiB, to pages: there only a
/// refused write, see [`Pressure::refused`], tells.)
pub const PRESSURE_SHARE: f64 = 0.8;

/// At most one usage check per this many milliseconds, however many writes there are; a write
/// inside the window is checked at its end.
pub const PRESSURE_EVERY_MS: u32 = 10_000;

/// `(usage, quota)` from `navigator.storage.estimate()`; `None` where there is no Storage API,
/// it refuses, or it answers with anything but finite numbers.
async fn usage_and_quota() -> Option<(f64, f64)> {
    let estimate = call_storage(&storage()?, "estimate").await?;
    let number = |field: &str| {
        Reflect::get(&estimate, &field.into())
            .ok()?
            .as_f64()
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    Some((number("usage")?, number("quota")?))
}

/// Watches the storage usage after writes and fires `storagepressure` with `{ usage, quota }` on
/// `target` when it nears the quota ([`PRESSURE_SHARE`]), checking at most once per
/// [`PRESSURE_EVERY_MS`].
///
/// ```text
/// let watch = Rc::new(Pressure::default());
/// watch.wrote(events.target()); // after a write that added audio
/// ```
#[derive(Default)]
pub struct Pressure {
    /// When the last check started (ms since the epoch), 0 before the first.
    last: std::cell::Cell<f64>,
    /// A check is waiting or running: later writes are covered by it.
    scheduled: std::cell::Cell<bool>,
}

impl Pressure {
    /// Notes a write: checks now if no check ran in the last [`PRESSURE_EVERY_MS`], otherwise at
    /// the end of that window. Never fails and never delays the write.
    pub fn wrote(self: &std::rc::Rc<Self>, target: &web_sys::EventTarget) {
        if self.scheduled.replace(true) {
            return;
        }
        let wait = (self.last.get() + PRESSURE_EVERY_MS as f64 - now_ms()).max(0.0);
        let (me, target) = (self.clone(), target.clone());
        spawn(async move {
            if wait > 0.0 {
                gloo_timers::future::TimeoutFuture::new(wait.ceil() as u32).await;
            }
            me.last.set(now_ms());
            me.scheduled.set(false);
            let Some((usage, quota)) = usage_and_quota().await else {
                return;
            };
            if quota > 0.0 && usage >= PRESSURE_SHARE * quota {
                pressure_event(&target, Some((usage, quota)), false);
            }
        });
    }

    /// Notes a write the browser refused for quota (`QuotaExceeded`): fires `storagepressure`
    /// with `exceeded: true` at once, whatever the estimate says.
    pub fn refused(&self, target: &web_sys::EventTarget) {
        let target = target.clone();
        spawn(async move {
            pressure_event(&target, usage_and_quota().await, true);
        });
    }
}

/// Fires `storagepressure` with `{ usage, quota, exceeded }` (`null`s where not known).
fn pressure_event(target: &web_sys::EventTarget, estimate: Option<(f64, f64)>, exceeded: bool) {
    let detail = js_sys::Object::new();
    let (usage, quota) = match estimate {
        Some((u, q)) => (JsValue::from(u), JsValue::from(q)),
        None => (JsValue::NULL, JsValue::NULL),
    };
    let _ = Reflect::set(&detail, &"usage".into(), &usage);
    let _ = Reflect::set(&detail, &"quota".into(), &quota);
    let _ = Reflect::set(&detail, &"exceeded".into(), &exceeded.into());
    let init = web_sys::CustomEventInit::new();
    init.set_detail(&detail);
    if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict("storagepressure", &init) {
        // A listener that throws is reported by the browser; nothing to do here.
        let _ = target.dispatch_event(&event);
    }
}

/// How long the library works on the calling thread before it lets the event loop run: well under
/// the 50 ms that makes a long task (input waits for it), and long enough that yielding costs
/// little.
pub const SLICE_MS: f64 = 10.0;

/// Lets the event loop run (input, rendering, other tasks) before continuing: `scheduler.yield()`
/// where the scope has it (Chromium 129), else a 0 ms timeout. Works in pages, workers and service
/// workers alike, so no worker is needed to keep long work off a long task.
pub async fn yield_now() {
    let scheduler = global_get("scheduler");
    let yielded = scheduler.as_ref().and_then(|s| {
        let f: js_sys::Function = Reflect::get(s, &"yield".into()).ok()?.dyn_into().ok()?;
        f.call0(s).ok()?.dyn_into::<js_sys::Promise>().ok()
    });
    match yielded {
        Some(promise) => {
            let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        }
        None => gloo_timers::future::TimeoutFuture::new(0).await,
    }
}

/// Bounds the work done between two turns of the event loop: [`Slices::next`] yields once
/// [`SLICE_MS`] have passed since the last yield.
///
/// ```text
/// let mut slices = Slices::new();
/// for item in items { work(item); slices.next().await; }
/// ```
pub struct Slices {
    since: f64,
}

impl Default for Slices {
    fn default() -> Self {
        Slices::new()
    }
}

impl Slices {
    /// Starts counting now.
    pub fn new() -> Slices {
        Slices { since: perf_now() }
    }

    /// Yields if this slice has run for [`SLICE_MS`]; returns at once otherwise.
    pub async fn next(&mut self) {
        if self.due() {
            yield_now().await;
            self.since = perf_now();
        }
    }

    /// Whether this slice has run for [`SLICE_MS`].
    pub fn due(&self) -> bool {
        perf_now() - self.since >= SLICE_MS
    }

    /// Starts a new slice: the caller just waited on the event loop anyway (an IndexedDB request,
    /// the network).
    pub fn waited(&mut self) {
        self.since = perf_now();
    }
}

/// `performance.now()` where the scope has it (monotonic, sub-millisecond), else `Date.now()`.
fn perf_now() -> f64 {
    global_get("performance")
        .and_then(|p| {
            let now: js_sys::Function = Reflect::get(&p, &"now".into()).ok()?.dyn_into().ok()?;
            now.call0(&p).ok()?.as_f64()
        })
        .unwrap_or_else(now_ms)
}
