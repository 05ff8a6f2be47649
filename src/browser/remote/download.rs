//! Audio downloads that resume: a body cut off midway (a dropped connection, a stalled transfer
//! aborted at its deadline) is continued with a ranged GET from the bytes already received,
//! instead of starting over. Every backend's `get_audio` runs through [`get_resumable`].
//!
//! The body is read from its stream in the parts the browser delivers, kept as JS `Uint8Array`s
//! and joined into one `Blob` by the browser: the bytes never enter wasm memory. The whole take is
//! checked against its SHA-256 at the end, so a resumed download that joined the wrong bytes is
//! refused like any damaged one.
//!
//! A download that fails after bringing bytes (the connection dropped and the continuation could
//! not be sent either: a train in a tunnel) keeps them, joined into one `Blob`, until the engine's
//! retry of the same take asks again: it continues where they end. At most [`STASH_BYTES`] are
//! kept (oldest dropped first), for the life of the page.

use futures::future::LocalBoxFuture;

use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Blob, Response};

use super::http::Failure;
use crate::browser::hash;
use crate::core::fields::ContentHash;

/// One GET of a download (see [`get_resumable`]); boxed, so that the three backends share one
/// copy of the code instead of one each.
pub type Fetch<'a> = LocalBoxFuture<'a, Result<Response, Failure>>;

/// Resumes of one download at most: each must have brought new bytes.
const MAX_RESUMES: u32 = 8;

/// The bytes of failed downloads kept for their retry, in all (see the module docs).
pub const STASH_BYTES: f64 = 128.0 * 1024.0 * 1024.0;

/// A failed download's bytes: the take's hash, what arrived (one `Blob`), the object's size if an
/// answer gave it.
struct Stashed {
    hash: String,
    bytes: Blob,
    total: Option<f64>,
}

thread_local! {
    static STASH: std::cell::RefCell<Vec<Stashed>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Keeps what a download of `hash` that failed with `why` brought, for its retry: when no answer
/// came (the network, a stall, a cancel). An answer (a 404, a 416, a 5xx) lets the retry start over, so a
/// prefix the server will not continue cannot stall the take for good.
fn stash(hash: &ContentHash, parts: &Array, total: Option<f64>, why: &Failure) {
    if !matches!(
        why,
        Failure::Network(_) | Failure::Timeout | Failure::Aborted
    ) {
        return;
    }
    let Ok(bytes) = Blob::new_with_blob_sequence(parts) else {
        return;
    };
    if bytes.size() == 0.0 || bytes.size() > STASH_BYTES {
        return;
    }
    STASH.with(|s| {
        let mut s = s.borrow_mut();
        s.retain(|x| x.hash != hash.as_str());
        s.push(Stashed {
            hash: hash.as_str().to_owned(),
            bytes,
            total,
        });
        while s.iter().map(|x| x.bytes.size()).sum::<f64>() > STASH_BYTES {
            s.remove(0);
        }
    });
}

/// What an earlier, failed download of `hash` brought, taken out of the stash.
fn unstash(hash: &ContentHash) -> Option<Stashed> {
    STASH.with(|s| {
        let mut s = s.borrow_mut();
        let at = s.iter().position(|x| x.hash == hash.as_str())?;
        Some(s.remove(at))
    })
}

fn js_text(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".to_owned())
}

/// The `Content-Range` of a 206 answer, `bytes {start}-{end}/{total}`: `(start, end, total)`,
/// `None` for anything else (a `*` total, a malformed or inconsistent header).
///
/// ```text
/// assert_eq!(content_range("bytes 100-199/200"), Some((100, 199, 200)));
/// assert_eq!(content_range("bytes 100-199/*"), None);
/// ```
pub fn content_range(header: &str) -> Option<(u64, u64, u64)> {
    let rest = header.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let (start, end, total): (u64, u64, u64) = (
        start.trim().parse().ok()?,
        end.trim().parse().ok()?,
        total.trim().parse().ok()?,
    );
    (start <= end && end < total).then_some((start, end, total))
}

/// Reads `response`'s body to its end, appending each part to `parts` and counting bytes in
/// `got`. `Err` when the body stops early; what arrived until then stays in `parts`.
async fn read_body(response: &Response, parts: &Array, got: &mut f64) -> Result<(), Failure> {
    // Through Reflect: `Response.body` needs web-sys's ReadableStream bindings, which this reads
    // only two methods of.
    let body = Reflect::get(response, &"body".into())
        .ok()
        .filter(|b| b.is_object());
    let Some(body) = body else {
        // No stream (an engine without response bodies as streams): the whole body at once.
        let read = response.blob().map_err(|e| Failure::Network(js_text(&e)))?;
        let blob: Blob = JsFuture::from(read)
            .await
            .map_err(|e| Failure::Network(js_text(&e)))?
            .into();
        *got += blob.size();
        parts.push(&blob);
        return Ok(());
    };
    let method = |target: &JsValue, name: &str| -> Result<Function, Failure> {
        Reflect::get(target, &name.into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or_else(|| Failure::Network(format!("the response body has no {name}()")))
    };
    let reader = method(&body, "getReader")?
        .call0(&body)
        .map_err(|e| Failure::Network(js_text(&e)))?;
    let read = method(&reader, "read")?;
    loop {
        let next: Promise = read
            .call0(&reader)
            .map_err(|e| Failure::Network(js_text(&e)))?
            .dyn_into()
            .map_err(|_| Failure::Network("read() gave no Promise".into()))?;
        let chunk = JsFuture::from(next)
            .await
            .map_err(|e| Failure::Network(format!("the download stopped: {}", js_text(&e))))?;
        if Reflect::get(&chunk, &"done".into())
            .map(|d| d.is_truthy())
            .unwrap_or(true)
        {
            return Ok(());
        }
        let value = Reflect::get(&chunk, &"value".into()).unwrap_or(JsValue::UNDEFINED);
        let Some(bytes) = value.dyn_ref::<js_sys::Uint8Array>() else {
            return Err(Failure::invalid(
                "the response body gave something else than bytes",
            ));
        };
        *got += f64::from(bytes.length());
        parts.push(bytes);
    }
}

/// Downloads audio whose SHA-256 must be `expected` (its size is the caller's to check against
/// the log: a `Content-Length` may count an encoded body): `fetch(from)` sends the GET (with
/// `Range: bytes={from}-` when `from` is `Some`) and answers the response. A body cut off midway
/// is continued from where it stopped; a server that answers a ranged GET with the whole object
/// (200), or with a range that is not the one asked for, starts over on that answer. A failure to
/// get an answer at all is the caller's (the sync engine retries the download with backoff).
///
/// ```text
/// let blob = download::get_resumable(|from| self.fetch_audio(key, from, cancel), hash, cancel).await?;
/// ```
pub async fn get_resumable<'a>(
    fetch: &dyn Fn(Option<f64>) -> Fetch<'a>,
    expected: &ContentHash,
    cancel: Option<&AbortSignal>,
) -> Result<Blob, Failure> {
    let parts = Array::new();
    let mut got = 0.0;
    let mut total: Option<f64> = None;
    if let Some(earlier) = unstash(expected) {
        got = earlier.bytes.size();
        total = earlier.total;
        parts.push(&earlier.bytes);
    }
    let mut resumes = 0;
    loop {
        let from = (got > 0.0).then_some(got);
        let response = match fetch(from).await {
            Ok(r) => r,
            Err(e) => {
                stash(expected, &parts, total, &e);
                return Err(e);
            }
        };
        let status = response.status();
        let headers = response.headers();
        if let Some(from) = from {
            // Content-Range is not a CORS-safelisted header: where the bucket does not expose
            // it, a 206 is taken as the range asked for (the SHA-256 of the whole take decides).
            let range = headers.get("Content-Range").ok().flatten();
            let fits = status == 206
                && range.as_deref().map_or(true, |r| {
                    content_range(r).is_some_and(|(s, _, t)| {
                        s as f64 == from && total.map_or(true, |total| total == t as f64)
                    })
                });
            if !fits {
                // The whole object again, or a range we did not ask for: what we hold cannot
                // be joined to it. A 206 of another range is dropped and asked for whole.
                parts.set_length(0);
                got = 0.0;
                if status == 206 {
                    resumes += 1;
                    if resumes > MAX_RESUMES {
                        return Err(Failure::invalid(
                            "the server keeps answering other ranges than asked for",
                        ));
                    }
                    continue;
                }
            }
        } else if status == 200 {
            total = headers
                .get("Content-Length")
                .ok()
                .flatten()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|v| v as f64);
        }
        let before = got;
        match read_body(&response, &parts, &mut got).await {
            Ok(()) => break,
            Err(e) => {
                if cancel.is_some_and(AbortSignal::aborted) {
                    stash(expected, &parts, total, &Failure::Aborted);
                    return Err(Failure::Aborted);
                }
                resumes += 1;
                // Only worth another request if this one brought bytes and more are due.
                let more_due = total.map_or(true, |t| got < t);
                if got <= before || resumes > MAX_RESUMES || !more_due {
                    if more_due {
                        stash(expected, &parts, total, &e);
                    }
                    return Err(e);
                }
            }
        }
    }
    let blob = Blob::new_with_blob_sequence(&parts)
        .map_err(|e| Failure::Network(format!("joining the download: {}", js_text(&e))))?;
    let hex = hash::digest_hex(&blob).await.map_err(|e| {
        Failure::invalid(format!(
            "the downloaded audio could not be read: {}",
            js_text(&e)
        ))
    })?;
    if hex != expected.as_str() {
        return Err(Failure::invalid(format!(
            "the downloaded audio ({} bytes) has SHA-256 {hex}, not {}",
            blob.size(),
            expected.as_str()
        )));
    }
    Ok(blob)
}
