//! The fallbacks for browser APIs some engines lack, shown by taking each API away in a page and
//! using what relies on it: `AbortSignal.any`/`timeout` (request deadlines and cancel), Web
//! Locks, `navigator.storage`, IndexedDB's directional `getAll` and `IDBTransaction.commit`; and
//! the `playable` flag recordings carry, which is computed per engine and never stored.
#![cfg(target_arch = "wasm32")]

use gloo_net::http::RequestBuilder;
use js_sys::{Promise, Reflect};
use tapesync::browser::lock;
use tapesync::browser::remote::http::{self, Deadline, Failure};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::AbortController;

wasm_bindgen_test_configure!(run_in_browser);

#[path = "browser/support.rs"]
mod support;
use support::*;

#[wasm_bindgen(inline_js = r#"
// Takes `obj[prop]` away (as an engine without it would have it) and returns the function that
// puts it back. A property found on the prototype chain (a getter such as navigator.locks) is
// shadowed by an own property of `obj`; an own one (a static method) is replaced.
export function take(obj, prop, value) {
  const own = Object.getOwnPropertyDescriptor(obj, prop);
  Object.defineProperty(obj, prop, { value, configurable: true, writable: true });
  return () => {
    if (own) Object.defineProperty(obj, prop, own);
    else delete obj[prop];
  };
}
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
// Resolves "pending" if `promise` has not settled within `ms`.
export function settledWithin(promise, ms) {
  return Promise.race([promise.then(() => "settled", () => "settled"), sleep(ms).then(() => "pending")]);
}
// A function whose promise never settles, like Firefox's persist() before the user answers.
export function neverSettles() {
  return () => new Promise(() => {});
}
export function rejects(name) {
  return () => Promise.reject(new DOMException("refused", name));
}
// The raw record of recording `id` in store `name`'s database, as IndexedDB holds it.
export function rawRecord(name, id) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("tapesync/" + name);
    req.onerror = () => reject(req.error);
    req.onsuccess = () => {
      const db = req.result;
      const get = db.transaction("recordings").objectStore("recordings").get(id);
      get.onsuccess = () => { db.close(); resolve(get.result); };
      get.onerror = () => { db.close(); reject(get.error); };
    };
  });
}
export function fakeStorage(persist, estimate) {
  return { persist, estimate, persisted: () => Promise.resolve(false) };
}
"#)]
extern "C" {
    fn take(obj: &JsValue, prop: &str, value: &JsValue) -> js_sys::Function;
    fn sleep(ms: u32) -> Promise;
    #[wasm_bindgen(js_name = settledWithin)]
    fn settled_within(promise: &Promise, ms: u32) -> Promise;
    #[wasm_bindgen(js_name = neverSettles)]
    fn never_settles() -> js_sys::Function;
    fn rejects(name: &str) -> js_sys::Function;
    #[wasm_bindgen(js_name = rawRecord)]
    fn raw_record(name: &str, id: &str) -> Promise;
    #[wasm_bindgen(js_name = fakeStorage)]
    fn fake_storage(persist: &JsValue, estimate: &JsValue) -> JsValue;
}

/// Puts back what [`take`] took away when dropped.
struct Taken(Vec<js_sys::Function>);

impl Drop for Taken {
    fn drop(&mut self) {
        for restore in self.0.drain(..).rev() {
            let _ = restore.call0(&JsValue::NULL);
        }
    }
}

fn global(name: &str) -> JsValue {
    Reflect::get(&js_sys::global(), &name.into()).unwrap()
}

fn navigator() -> JsValue {
    global("navigator")
}

/// An engine without `AbortSignal.any` and `AbortSignal.timeout` (Safari before 16).
fn without_abort_statics() -> Taken {
    let ctor = global("AbortSignal");
    Taken(vec![
        take(&ctor, "any", &JsValue::UNDEFINED),
        take(&ctor, "timeout", &JsValue::UNDEFINED),
    ])
}

async fn wait(ms: u32) {
    JsFuture::from(sleep(ms)).await.unwrap();
}

/// A URL of the test server itself (the page's own origin, 127.0.0.1).
fn own_url() -> String {
    let location = Reflect::get(&js_sys::global(), &"location".into()).unwrap();
    Reflect::get(&location, &"origin".into())
        .unwrap()
        .as_string()
        .unwrap()
        + "/"
}

#[wasm_bindgen_test]
async fn deadline_without_abort_signal_timeout_times_out() {
    let _taken = without_abort_statics();
    assert!(Reflect::get(&global("AbortSignal"), &"timeout".into())
        .unwrap()
        .is_undefined());
    let deadline = Deadline::new(30, None);
    let signal = deadline.signal().expect("a signal").clone();
    assert!(!signal.aborted());
    wait(120).await;
    assert!(signal.aborted(), "the timer aborted it");
    assert!(deadline.timed_out());
    assert!(!deadline.cancelled());
    let reason = signal.reason();
    // `reason` is there from Safari 15.4 / Firefox 97 / Chrome 98.
    if !reason.is_undefined() {
        assert_eq!(string(&reason, "name"), "TimeoutError");
    }
}

#[wasm_bindgen_test]
async fn deadline_without_abort_signal_any_follows_the_cancel_signal() {
    let _taken = without_abort_statics();
    let cancel = AbortController::new().unwrap();
    let deadline = Deadline::new(60_000, Some(&cancel.signal()));
    let signal = deadline.signal().unwrap().clone();
    assert!(deadline.listening(), "a listener on the cancel signal");
    assert!(!signal.aborted());
    cancel.abort_with_reason(&"user".into());
    assert!(
        signal.aborted(),
        "cancel aborts the request's signal at once"
    );
    assert!(deadline.cancelled());
    assert!(!deadline.timed_out(), "a cancel is not a timeout");
    if !signal.reason().is_undefined() {
        assert_eq!(signal.reason(), JsValue::from("user"));
    }
    deadline.release();
    assert!(!deadline.listening(), "release removes the listener");

    // Already cancelled: aborted from the start, nothing left listening.
    let deadline = Deadline::new(60_000, Some(&cancel.signal()));
    assert!(deadline.signal().unwrap().aborted());
    assert!(!deadline.listening());
}

#[wasm_bindgen_test]
async fn deadline_fallback_drops_its_cancel_listener_at_the_deadline() {
    let _taken = without_abort_statics();
    let cancel = AbortController::new().unwrap();
    let deadline = Deadline::new(30, Some(&cancel.signal()));
    assert!(deadline.listening());
    wait(120).await;
    assert!(deadline.timed_out());
    assert!(
        !deadline.listening(),
        "the listener on the long-lived cancel signal went with the deadline"
    );
    assert!(!cancel.signal().aborted());
}

#[wasm_bindgen_test]
async fn fetch_without_abort_signal_statics_answers_times_out_and_aborts() {
    let _taken = without_abort_statics();
    // An answer within the deadline.
    let response = http::send(RequestBuilder::new(&own_url()), None, 30_000, None)
        .await
        .expect("the test server answers");
    assert!(response.ok());

    // A deadline that has passed: the fetch is refused and the failure is a timeout. (Waiting for
    // the timer first keeps it deterministic: a 0 ms deadline raced against a local answer is
    // not, and WebKit's answer sometimes wins.)
    let cancel = AbortController::new().unwrap();
    let deadline = Deadline::new(0, Some(&cancel.signal()));
    wait(50).await;
    let failure = http::exchange(RequestBuilder::new(&own_url()), None, &deadline)
        .await
        .err();
    assert_eq!(failure, Some(Failure::Timeout));
    assert!(
        !deadline.listening(),
        "the timer took the cancel listener with it"
    );

    // Cancelled by the app while in flight.
    let cancel = AbortController::new().unwrap();
    let signal = cancel.signal();
    let request = http::send(
        RequestBuilder::new(&format!("{}?cancel", own_url())),
        None,
        30_000,
        Some(&signal),
    );
    // Runs once the request is sent and waiting for its answer.
    wasm_bindgen_futures::spawn_local({
        let cancel = cancel.clone();
        async move { cancel.abort() }
    });
    assert_eq!(request.await.err(), Some(Failure::Aborted));
    // Before it is sent: aborted at once.
    let failure = http::send(
        RequestBuilder::new(&own_url()),
        None,
        30_000,
        Some(&cancel.signal()),
    )
    .await
    .err();
    assert_eq!(failure, Some(Failure::Aborted));
}

#[wasm_bindgen_test]
async fn fetch_with_the_native_signals_behaves_the_same() {
    // Where the engine has them (Chrome 116, Firefox 124, Safari 17.4) the native path runs.
    let ctor = global("AbortSignal");
    if !Reflect::get(&ctor, &"any".into()).unwrap().is_function() {
        return;
    }
    let cancel = AbortController::new().unwrap();
    let deadline = Deadline::new(60_000, Some(&cancel.signal()));
    assert!(
        !deadline.listening(),
        "no hand-made listener on the native path"
    );
    cancel.abort();
    assert!(deadline.signal().unwrap().aborted());
    assert!(deadline.cancelled() && !deadline.timed_out());
    let deadline = Deadline::new(0, None);
    wait(50).await;
    let failure = http::exchange(RequestBuilder::new(&own_url()), None, &deadline)
        .await
        .err();
    assert_eq!(failure, Some(Failure::Timeout));
}

async fn forty_two() -> Result<JsValue, JsValue> {
    wait(5).await;
    Ok(42.into())
}

#[wasm_bindgen_test]
async fn locks_missing_or_refusing_run_the_work_unguarded() {
    {
        let _taken = Taken(vec![take(&navigator(), "locks", &JsValue::UNDEFINED)]);
        assert_eq!(
            lock::with_lock("compat-a", forty_two()).await.unwrap(),
            JsValue::from(42)
        );
        assert_eq!(
            lock::if_unheld("compat-a", forty_two()).await.unwrap(),
            Some(JsValue::from(42))
        );
        assert!(lock::hold_shared("compat-a").is_none());
    }
    // A lock manager that refuses every request (as an opaque origin's does).
    let refusing = obj(&[("request", rejects("SecurityError").into())]);
    {
        let _taken = Taken(vec![take(&navigator(), "locks", &refusing)]);
        assert_eq!(
            lock::with_lock("compat-b", forty_two()).await.unwrap(),
            JsValue::from(42)
        );
        assert_eq!(
            lock::if_unheld("compat-b", forty_two()).await.unwrap(),
            Some(JsValue::from(42))
        );
        let _shared = lock::hold_shared("compat-b");
    }
    // And a store opens, saves and is destroyed without Web Locks.
    let _taken = Taken(vec![take(&navigator(), "locks", &JsValue::UNDEFINED)]);
    let (store, name) = fresh_store().await;
    ok(store.save(blob(b"abc", "audio/wav").into(), None)).await;
    store.close();
    ok(tapesync::api::RecordingStore::destroy(name.into())).await;
}

#[wasm_bindgen_test]
async fn real_locks_still_exclude() {
    if Reflect::get(&navigator(), &"locks".into())
        .unwrap()
        .is_undefined()
    {
        return;
    }
    let held = lock::hold_shared("compat-held").expect("a shared lock");
    assert_eq!(
        lock::if_unheld("compat-held", forty_two()).await.unwrap(),
        None,
        "held elsewhere: the work does not run"
    );
    drop(held);
    wait(20).await;
    assert_eq!(
        lock::if_unheld("compat-held", forty_two()).await.unwrap(),
        Some(JsValue::from(42))
    );
}

#[wasm_bindgen_test]
async fn estimate_and_persist_without_navigator_storage() {
    let (store, _) = fresh_store().await;
    {
        let _taken = Taken(vec![take(&navigator(), "storage", &JsValue::UNDEFINED)]);
        let est = ok(store.estimate()).await;
        assert!(field(&est, "usage").is_null());
        assert!(field(&est, "quota").is_null());
        assert_eq!(field(&est, "persisted"), JsValue::FALSE);
        assert_eq!(ok(store.persist()).await, JsValue::FALSE);
    }
    {
        // A Storage API whose calls reject (or whose persist is missing, as in workers).
        let storage = fake_storage(&JsValue::UNDEFINED, &rejects("SecurityError"));
        let _taken = Taken(vec![take(&navigator(), "storage", &storage)]);
        let est = ok(store.estimate()).await;
        assert!(field(&est, "usage").is_null() && field(&est, "quota").is_null());
        assert_eq!(ok(store.persist()).await, JsValue::FALSE);
    }
    store.close();
}

#[wasm_bindgen_test]
async fn a_pending_persist_blocks_nothing() {
    // Firefox's persist() waits for the user's answer to a prompt: here, forever.
    let storage = fake_storage(&never_settles(), &JsValue::UNDEFINED);
    let _taken = Taken(vec![take(&navigator(), "storage", &storage)]);
    let (store, name) = fresh_store().await;
    let asked = store.persist();
    let rec = ok(store.save(blob(b"abcd", "audio/wav").into(), None)).await;
    let id = string(&rec, "id");
    assert_eq!(number(&ok(store.get(id.into())).await, "size"), 4.0);
    assert_eq!(items(&ok(store.list(None)).await).len(), 1);
    store.close();
    let again = open(&name).await;
    assert_eq!(ok(again.count(None)).await, JsValue::from(1));
    assert_eq!(
        JsFuture::from(settled_within(&asked, 50)).await.unwrap(),
        JsValue::from("pending"),
        "persist() is still waiting, and nothing waited for it"
    );
    again.close();
}

#[wasm_bindgen_test]
async fn newest_first_lists_without_directional_get_all_and_commit() {
    let (store, _) = fresh_store().await;
    for i in 0..5 {
        let opts = obj(&[("createdAt", (1_700_000_000_000f64 + i as f64).into())]);
        ok(store.save(
            blob(&[i as u8], "audio/wav").into(),
            Some(opts.unchecked_into()),
        ))
        .await;
    }
    let limit = || Some(obj(&[("limit", 3.into())]).unchecked_into());
    let created = |page: &JsValue| -> Vec<f64> {
        items(page).iter().map(|r| number(r, "createdAt")).collect()
    };
    let native = created(&ok(store.list(limit())).await);

    let index_proto = Reflect::get(&global("IDBIndex"), &"prototype".into()).unwrap();
    let tx_proto = Reflect::get(&global("IDBTransaction"), &"prototype".into()).unwrap();
    let _taken = Taken(vec![
        take(&index_proto, "getAllRecords", &JsValue::UNDEFINED),
        take(&tx_proto, "commit", &JsValue::UNDEFINED),
    ]);
    let fallback = created(&ok(store.list(limit())).await);
    let t = 1_700_000_000_000f64;
    assert_eq!(native, vec![t + 4.0, t + 3.0, t + 2.0]);
    assert_eq!(fallback, native, "the reverse cursor gives the same page");
    // Writes without IDBTransaction.commit (Safari < 15, Firefox < 74) still commit.
    let rec = ok(store.save(blob(b"late", "audio/wav").into(), None)).await;
    assert_eq!(
        string(&ok(store.get(string(&rec, "id").into())).await, "id"),
        string(&rec, "id")
    );
    store.close();
}

#[wasm_bindgen_test]
async fn recordings_say_whether_this_engine_plays_them() {
    let (store, name) = fresh_store().await;
    let odd = obj(&[("mimeType", "audio/x-not-a-codec".into())]);
    let rec = ok(store.save(blob(b"????", "").into(), Some(odd.unchecked_into()))).await;
    assert_eq!(field(&rec, "playable"), JsValue::FALSE, "save's result");
    let odd_id = string(&rec, "id");
    let wav = ok(store.save(blob(b"RIFF", "audio/wav").into(), None)).await;
    assert_eq!(field(&wav, "playable"), JsValue::TRUE);
    let wav_id = string(&wav, "id");

    let got = ok(store.get(odd_id.clone().into())).await;
    assert_eq!(field(&got, "playable"), JsValue::FALSE, "get");
    let page = ok(store.list(None)).await;
    let by_id = |id: &str| {
        items(&page)
            .into_iter()
            .find(|r| string(r, "id") == id)
            .unwrap()
    };
    assert_eq!(field(&by_id(&odd_id), "playable"), JsValue::FALSE, "list");
    assert_eq!(field(&by_id(&wav_id), "playable"), JsValue::TRUE, "list");
    let changes = obj(&[("name", "renamed".into())]);
    let updated = ok(store.update(odd_id.clone().into(), changes.unchecked_into())).await;
    assert_eq!(field(&updated, "playable"), JsValue::FALSE, "update");
    let replaced = ok(store.replace_audio(
        odd_id.clone().into(),
        blob(b"RIFF", "audio/wav").into(),
        None,
    ))
    .await;
    assert_eq!(field(&replaced, "playable"), JsValue::TRUE, "replaceAudio");

    // A finished capture.
    let opts = obj(&[("mimeType", "audio/x-not-a-codec".into())]);
    let capture = capture_from(ok(store.start_capture(opts.unchecked_into())).await);
    ok(capture.append(blob(b"chunk", "").into())).await;
    let finished = ok(capture.finish(None)).await;
    assert_eq!(field(&finished, "playable"), JsValue::FALSE, "finish");
    store.close();

    // Never stored: the records in IndexedDB have no such field.
    for id in [&odd_id, &wav_id, &string(&finished, "id")] {
        let raw = JsFuture::from(raw_record(&name, id)).await.unwrap();
        assert_eq!(string(&raw, "id"), *id);
        assert!(
            !Reflect::has(&raw, &"playable".into()).unwrap(),
            "playable is not stored"
        );
    }
}
