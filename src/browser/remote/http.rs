//! One HTTP exchange over `fetch`, with a deadline and cancellation, and failures described as
//! data (status, server message, `Retry-After`) so the sync core can classify them (retry, new
//! token, give up) without reading any message.

use gloo_net::http::{RequestBuilder, Response};
use js_sys::Array;
use wasm_bindgen::JsValue;
use web_sys::AbortSignal;

use super::wire;
use crate::core::engine::Failure as CoreFailure;
use crate::core::error_class::{classify, ErrorClass, ErrorCode};

/// Why an HTTP exchange failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with this status (and, for Supabase-style bodies, the real code).
    Status {
        /// The HTTP status, or the status code a 400 body says it really is.
        status: u16,
        /// The server's error text, shortened, without the status (which is data).
        message: String,
        /// How long the server asked us to wait (`Retry-After`, seconds or an HTTP date on the
        /// wire), in milliseconds.
        retry_after_ms: Option<u64>,
    },
    /// The server answered with a success, but the answer does not hold up: an upload it does
    /// not confirm, a download whose bytes are not the ones asked for, an offset out of bounds,
    /// a body that cannot be read. Retryable, code Remote, and no status: what the server did is
    /// not known (for a write, the engine asks with a metadata read before sending it again).
    Invalid(String),
    /// No answer: the network is down, the connection dropped, CORS refused it.
    Network(String),
    /// No answer within the deadline: a stalled transfer.
    Timeout,
    /// The app's `AbortSignal` fired.
    Aborted,
}

impl Failure {
    /// A failure that is the server's answer `status`.
    ///
    /// ```text
    /// Failure::status_only(401, "getToken() rejected").status() == Some(401)
    /// ```
    pub fn status_only(status: u16, message: impl Into<String>) -> Self {
        Failure::Status {
            status,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// An answer that does not hold up (see [`Failure::Invalid`]).
    ///
    /// ```text
    /// Failure::invalid("the server stored 3 bytes of 4")
    /// ```
    pub fn invalid(message: impl Into<String>) -> Self {
        Failure::Invalid(message.into())
    }

    /// The server's `Retry-After`, in milliseconds.
    ///
    /// ```text
    /// Failure::Timeout.retry_after_ms() == None
    /// ```
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Failure::Status { retry_after_ms, .. } => *retry_after_ms,
            _ => None,
        }
    }

    /// The HTTP status of the failure: `None` when there was no answer (network failures,
    /// timeouts, cancellation) or its outcome is unknown ([`Failure::Invalid`]).
    ///
    /// ```text
    /// Failure::Network("offline".into()).status() == None
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            Failure::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The one conversion to the sync core's failure: class from the status, code from the
    /// backend's table `code_of` (e.g. [`wire::firebase_code`]), the message as the server
    /// gave it (never prefixed with the status), `Retry-After` carried along. An answer that does
    /// not hold up is Retryable with code `Remote`; no answer is Retryable with code `Network`.
    ///
    /// ```text
    /// let f = Failure::status_only(403, "Permission denied.").to_core(wire::firebase_code);
    /// assert_eq!((f.code, f.status, f.message.as_str()), (ErrorCode::Forbidden, Some(403), "Permission denied."));
    /// ```
    pub fn to_core(&self, code_of: impl Fn(u16) -> ErrorCode) -> CoreFailure {
        match self {
            Failure::Status {
                status,
                message,
                retry_after_ms,
            } => CoreFailure::new(
                classify(Some(*status)),
                code_of(*status),
                Some(*status),
                message.as_str(),
            )
            .with_retry_after(*retry_after_ms),
            Failure::Invalid(message) => CoreFailure::new(
                ErrorClass::Retryable,
                ErrorCode::Remote,
                None,
                message.as_str(),
            ),
            Failure::Network(m) => CoreFailure::network(m.as_str()),
            Failure::Timeout => CoreFailure::network("no answer before the deadline"),
            Failure::Aborted => CoreFailure::network("aborted"),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status {
                status, message, ..
            } => write!(f, "{message} (status {status})"),
            Failure::Invalid(m) => write!(f, "an answer that does not hold up: {m}"),
            Failure::Network(m) => write!(f, "network error: {m}"),
            Failure::Timeout => f.write_str("no answer before the deadline"),
            Failure::Aborted => f.write_str("aborted"),
        }
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
fn real_status(status: u16, body: &str) -> u16 {
    if status != 400 {
        return status;
    }
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| match v.get("statusCode")? {
            serde_json::Value::String(s) => s.parse().ok(),
            serde_json::Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            _ => None,
        })
        .unwrap_or(status)
}
