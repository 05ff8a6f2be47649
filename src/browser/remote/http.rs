//! One HTTP exchange over `fetch`, with a deadline and cancellation, and failures described so the
//! sync core can classify them (retry, new token, give up).

use gloo_net::http::{RequestBuilder, Response};
use js_sys::Array;
use wasm_bindgen::JsValue;
use web_sys::AbortSignal;

/// Why an HTTP exchange failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with this status (and, for Supabase-style bodies, the real code).
    Status {
        /// The HTTP status, or the status code a 400 body says it really is.
        status: u16,
        /// The server's error text, shortened.
        message: String,
        /// How long the server asked us to wait (`Retry-After`, in seconds on the wire).
        retry_after_ms: Option<u64>,
    },
    /// No answer: the network is down, the connection dropped, CORS refused it.
    Network(String),
    /// No answer within the deadline: a stalled transfer.
    Timeout,
    /// The app's `AbortSignal` fired.
    Aborted,
}

impl Failure {
    /// A failure that is the server's answer `status`.
    pub fn status_only(status: u16, message: impl Into<String>) -> Self {
        Failure::Status {
            status,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// The server's `Retry-After`, in milliseconds.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Failure::Status { retry_after_ms, .. } => *retry_after_ms,
            _ => None,
        }
    }

    /// The HTTP status the sync core classifies: `None` for network failures and timeouts,
    /// which are retried like a 503.
    pub fn status(&self) -> Option<u16> {
        match self {
            Failure::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status {
                status, message, ..
            } => write!(f, "HTTP {status}: {message}"),
            Failure::Network(m) => write!(f, "network error: {m}"),
            Failure::Timeout => f.write_str("no progress before the deadline"),
            Failure::Aborted => f.write_str("aborted"),
        }
    }
}

/// Sends `request` with `deadline_ms`, cancelled early by `cancel`. A non-2xx answer is a
/// [`Failure::Status`] carrying the body's message.
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
    let retry_after_ms = response
        .headers()
        .get("Retry-After")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| s.saturating_mul(1000));
    let text = response.text().await.unwrap_or_default();
    Err(Failure::Status {
        status: real_status(status, &text),
        message: text.chars().take(300).collect(),
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
