//! One HTTP exchange over `fetch`, with a deadline and cancellation, and failures described as
//! data (status, server message, `Retry-After`) so the sync core can classify them (retry, new
//! token, give up) without reading any message.

use gloo_net::http::{RequestBuilder, Response};
use js_sys::Array;
use wasm_bindgen::JsValue;
use web_sys::AbortSignal;

use super::wire;

/// Why an HTTP exchange failed (defined with the pure rules in [`wire`], to be tested natively).
pub use super::wire::Failure;

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
    let deadline = AbortSignal::timeout_with_u32(deadline_ms);
    let signal = match cancel {
        Some(c) => AbortSignal::any(&Array::of2(c, &deadline)),
        None => deadline.clone(),
    };
    let request = request.abort_signal(Some(&signal));
    let request = match body {
        Some(body) => request.body(body),
        None => request.build(),
    }
    .map_err(|e| Failure::Network(e.to_string()))?;
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return Err(if cancel.is_some_and(|c| c.aborted()) {
                Failure::Aborted
            } else if deadline.aborted() {
                Failure::Timeout
            } else {
                Failure::Network(e.to_string())
            })
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
    let text = response.text().await.unwrap_or_default();
    let status = real_status(status, &text);
    Err(Failure::Status {
        status,
        message: wire::error_message(status, &text),
        retry_after_ms,
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
