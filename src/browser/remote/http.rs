//! One HTTP exchange over `fetch`, with a deadline and cancellation, and failures described as
//! data (status, server message, `Retry-After`) so the sync core can classify them (retry, new
//! token, give up) without reading any message.
//!
//! The deadline and the app's cancel signal become one request signal ([`Deadline`]):
//! `AbortSignal.timeout` + `AbortSignal.any` where the browser has both (Chrome 116, Firefox
//! 124, Safari 17.4), else one `AbortController` aborted by a timer and by a listener on the
//! cancel signal. The web-sys bindings of `timeout`/`any` are not `catch`: calling them where
//! they are missing would throw through wasm frames, so they are only called once seen.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_events::EventListener;
use gloo_net::http::{RequestBuilder, Response};
use js_sys::{Array, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::{AbortController, AbortSignal, DomException};

use super::wire;

/// Why an HTTP exchange failed (defined with the pure rules in [`wire`], to be tested natively).
pub use super::wire::Failure;

#[wasm_bindgen]
extern "C" {
    // The global `setTimeout` of whichever scope this runs in (page, worker, service worker).
    #[wasm_bindgen(js_name = setTimeout, catch)]
    fn set_timeout(handler: &JsValue, ms: i32) -> Result<JsValue, JsValue>;
}

/// Whether `AbortSignal.<name>` is a function in this scope.
fn has_static(name: &str) -> bool {
    Reflect::get(&js_sys::global(), &"AbortSignal".into())
        .and_then(|ctor| Reflect::get(&ctor, &name.into()))
        .map(|f| f.is_function())
        .unwrap_or(false)
}

/// The signal of one request: aborted when `deadline_ms` have passed or when the app's `cancel`
/// aborts, whichever comes first. Where `AbortSignal.timeout` or `AbortSignal.any` is missing
/// (Safari before 16 and 17.4, Firefox before 100 and 124), it is an `AbortController` of its
/// own: a timer aborts it with a `TimeoutError` and a listener on `cancel` with `cancel`'s reason.
/// That listener is removed at the deadline (when the timer fires), or earlier by
/// [`Deadline::release`]; it stays until then on success so that a cancel still stops the
/// caller's read of the body, as the native signal would.
///
/// ```text
/// let deadline = Deadline::new(120_000, cancel);
/// let request = builder.abort_signal(deadline.signal());
/// // ... on an error: deadline.timed_out() tells a stalled transfer from a dropped connection
/// ```
pub struct Deadline {
    signal: Option<AbortSignal>,
    /// The native deadline signal (`AbortSignal.timeout`), when that is what runs.
    native_deadline: Option<AbortSignal>,
    cancel: Option<AbortSignal>,
    /// The fallback's listener on `cancel`, shared with the timer that drops it.
    link: Rc<RefCell<Option<EventListener>>>,
}

impl Deadline {
    /// The signal for a request with `deadline_ms`, cancelled early by `cancel`.
    ///
    /// ```text
    /// let deadline = Deadline::new(self.timeout_ms, cancel); // cancel: Option<&AbortSignal>
    /// ```
    pub fn new(deadline_ms: u32, cancel: Option<&AbortSignal>) -> Deadline {
        let link = Rc::new(RefCell::new(None));
        let cancel = cancel.cloned();
        let native = has_static("timeout") && (cancel.is_none() || has_static("any"));
        if native {
            let deadline = AbortSignal::timeout_with_u32(deadline_ms);
            let signal = match &cancel {
                Some(c) => AbortSignal::any(&Array::of2(c, &deadline)),
                None => deadline.clone(),
            };
            return Deadline {
                signal: Some(signal),
                native_deadline: Some(deadline),
                cancel,
                link,
            };
        }
        // AbortController itself is older than every engine tapesync's wasm runs in; should it be
        // missing, the request simply goes without a deadline rather than failing.
        let Ok(controller) = AbortController::new() else {
            return Deadline {
                signal: None,
                native_deadline: None,
                cancel,
                link,
            };
        };
        let signal = controller.signal();
        if let Some(c) = &cancel {
            if c.aborted() {
                controller.abort_with_reason(&c.reason());
            } else {
                let (controller, source) = (controller.clone(), c.clone());
                *link.borrow_mut() = Some(EventListener::once(c, "abort", move |_| {
                    controller.abort_with_reason(&source.reason())
                }));
            }
        }
        if !signal.aborted() {
            let timer = {
                let link = link.clone();
                let controller = controller.clone();
                // Freed when it runs; it always runs (after deadline_ms), unless the scope dies.
                Closure::once_into_js(move || {
                    let reason = DomException::new_with_message_and_name(
                        "the request's deadline passed",
                        "TimeoutError",
                    )
                    .map(JsValue::from)
                    .unwrap_or(JsValue::UNDEFINED);
                    controller.abort_with_reason(&reason);
                    link.borrow_mut().take();
                })
            };
            let ms = i32::try_from(deadline_ms).unwrap_or(i32::MAX);
            // setTimeout does not throw for a function and a number; should it, the request
            // just has no deadline.
            let _ = set_timeout(&timer, ms);
        }
        Deadline {
            signal: Some(signal),
            native_deadline: None,
            cancel,
            link,
        }
    }

    /// The request's signal (`None` only where `AbortController` is missing).
    ///
    /// ```text
    /// let request = builder.abort_signal(deadline.signal());
    /// ```
    pub fn signal(&self) -> Option<&AbortSignal> {
        self.signal.as_ref()
    }

    /// Whether the app's cancel signal has fired.
    ///
    /// ```text
    /// if deadline.cancelled() { return Err(Failure::Aborted) }
    /// ```
    pub fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.aborted())
    }

    /// Whether the deadline passed (and the app did not cancel first: a cancel wins).
    ///
    /// ```text
    /// if deadline.timed_out() { return Err(Failure::Timeout) }
    /// ```
    pub fn timed_out(&self) -> bool {
        if self.cancelled() {
            return false;
        }
        match &self.native_deadline {
            Some(d) => d.aborted(),
            // The fallback's controller aborts only at the deadline or on cancel.
            None => self.signal.as_ref().is_some_and(|s| s.aborted()),
        }
    }

    /// Removes the fallback's listener on the cancel signal now, when nothing of the exchange is
    /// left to abort (it failed, or its body has been read).
    ///
    /// ```text
    /// let text = response.text().await;
    /// deadline.release();
    /// ```
    pub fn release(&self) {
        self.link.borrow_mut().take();
    }

    /// Whether the fallback's listener on the cancel signal is still there (for tests).
    ///
    /// ```text
    /// deadline.release();
    /// assert!(!deadline.listening());
    /// ```
    pub fn listening(&self) -> bool {
        self.link.borrow().is_some()
    }
}

/// Sends `request` with `deadline_ms`, cancelled early by `cancel`. A non-2xx answer is a
/// [`Failure::Status`] carrying the body's message and `Retry-After`.
///
/// ```text
/// let response = http::send(RequestBuilder::new(&url), None, 120_000, signal).await?;
/// ```
pub async fn send(
    request: RequestBuilder,
    body: Option<JsValue>,
    deadline_ms: u32,
    cancel: Option<&AbortSignal>,
) -> Result<Response, Failure> {
    let deadline = Deadline::new(deadline_ms, cancel);
    let response = match exchange(request, body, &deadline).await {
        Ok(r) => r,
        Err(e) => {
            deadline.release();
            return Err(e);
        }
    };
    if response.ok() {
        return Ok(response);
    }
    let status = response.status();
    let now = js_sys::Date::now().max(0.0) as u64;
    let retry_after_ms = response
        .headers()
        .get("Retry-After")
        .and_then(|v| wire::parse_retry_after(&v, now));
    let body = response.text().await;
    deadline.release();
    let status = match &body {
        Ok(text) => real_status(status, text),
        // A 400 whose body was cut off (the connection dropped mid-answer) cannot say what
        // Supabase meant either: as a damaged one below.
        Err(_) if status == 400 => 502,
        Err(_) => status,
    };
    let text = body.unwrap_or_default();
    Err(Failure::Status {
        status,
        message: wire::error_message(status, &text),
        retry_after_ms,
    })
}

/// One `fetch` under `deadline`; any status is an answer. A failure to get one is
/// [`Failure::Aborted`] if the app cancelled, [`Failure::Timeout`] if the deadline passed, else
/// [`Failure::Network`].
///
/// ```text
/// let deadline = Deadline::new(30_000, cancel);
/// let response = http::exchange(RequestBuilder::new(&url), None, &deadline).await?;
/// ```
pub async fn exchange(
    request: RequestBuilder,
    body: Option<JsValue>,
    deadline: &Deadline,
) -> Result<Response, Failure> {
    let request = request.abort_signal(deadline.signal());
    let request = match body {
        Some(body) => request.body(body),
        None => request.build(),
    }
    .map_err(|e| Failure::Network(e.to_string()))?;
    request.send().await.map_err(|e| {
        if deadline.cancelled() {
            Failure::Aborted
        } else if deadline.timed_out() {
            Failure::Timeout
        } else {
            Failure::Network(e.to_string())
        }
    })
}

/// Supabase Storage answers most errors with HTTP 400 and the real status in the body's
/// `statusCode` (a string); everyone else means what the status line says.
///
/// A 400 whose body was damaged on the way (JSON cut short, bytes that are not UTF-8) cannot
/// say what the server meant: it may be Supabase's 409 "Duplicate" for a write whose first
/// answer was lost, which the engine settles with a metadata read. Taken as a 400 it failed the
/// recording for good (found by tests/js/chaos-supabase.test.mjs); it is a 502 instead, an
/// answer that does not hold up, retried with backoff.
fn real_status(status: u16, body: &str) -> u16 {
    if status != 400 {
        return status;
    }
    let parsed = serde_json::from_str::<serde_json::Value>(body);
    let start = body.trim_start();
    if parsed.is_err()
        && (start.starts_with('{') || start.starts_with('[') || body.contains('\u{FFFD}'))
    {
        return 502;
    }
    parsed
        .ok()
        .and_then(|v| match v.get("statusCode")? {
            serde_json::Value::String(s) => s.parse().ok(),
            serde_json::Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            _ => None,
        })
        .unwrap_or(status)
}
