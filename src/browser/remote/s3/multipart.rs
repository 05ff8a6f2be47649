//! Multipart uploads of audio larger than one chunk, resumable across reloads.
//!
//! The session the caller keeps: `url` = the UploadId, `parts` = the ETags of parts 1.. sent so
//! far (`""` for a part not sent), `sent` = their bytes. On resume, ListParts says what the server
//! really holds (bounds-checked: part numbers in range, sizes exactly the chunk, the last one the
//! remainder); parts it does not hold are sent again. A session that cannot be resumed (another
//! part size, gone, refused) is aborted (AbortMultipartUpload) so its parts cost nothing, and the
//! upload starts over. Completion counts only when the answer names our key and a HeadObject
//! then finds our size.

use gloo_net::http::Method;
use web_sys::AbortSignal;

use super::rules;
use super::xml::{self, CompleteError};
use super::{network, Body, Failure, Req, Upload, UploadSession, BACKEND, S3};

/// Sends of one part that fail without an answer, in a row, before giving the failure to the
/// engine (which retries later, resuming from the kept session).
const PART_TRIES: u32 = 3;
/// ListParts pages read at most (1,000 parts each: S3's 10,000 parts).
const MAX_PART_PAGES: u32 = 10;

/// Uploads `upload` in parts of `upload.chunk` bytes, continuing `session` if it can.
pub(super) async fn upload(
    s3: &S3,
    upload: Upload<'_>,
    session: Option<UploadSession>,
    on_progress: &dyn Fn(&UploadSession),
    cancel: Option<&AbortSignal>,
) -> Result<(), Failure> {
    let Upload {
        key,
        blob,
        content_type,
        chunk,
        ..
    } = upload;
    let size = blob.size();
    let count = rules::part_count(size, chunk).map_err(Failure::invalid)?;
    let resumed = match session {
        Some(s) => resume(s3, key, s, size, chunk, count, cancel).await?,
        None => Resumed::Restart,
    };
    let mut session = match resumed {
        Resumed::Continue(s) => {
            on_progress(&s);
            s
        }
        Resumed::Restart => UploadSession::new(BACKEND, size),
        Resumed::Done(s) => {
            on_progress(&s);
            return Ok(());
        }
    };
    if session.url.is_empty() {
        let req = Req::new(Method::POST, Some(key))
            .query("uploads", "")
            .header("content-type", content_type);
        let response = s3.send(&req, cancel).await?;
        let text = response.text().await.map_err(network)?;
        session.url =
            xml::parse_initiate(&text, &s3.bucket, &s3.name(key)).map_err(Failure::invalid)?;
        session.parts = vec![String::new(); count as usize];
        session.sent = 0.0;
        on_progress(&session);
    }
    for n in 1..=count {
        if !session.parts[n as usize - 1].is_empty() {
            continue;
        }
        let (start, end) = rules::part_range(n, size, chunk);
        let part = blob
            .slice_with_f64_and_f64(start, end)
            .map_err(|e| Failure::Network(super::js_text(&e)))?;
        let body = s3.blob_body(&part).await?;
        let mut req = Req::new(Method::PUT, Some(key))
            .query("partNumber", &n.to_string())
            .query("uploadId", &session.url);
        req.body = Some(body);
        let mut tries = 0;
        let etag = loop {
            match s3.send(&req, cancel).await {
                Ok(response) => {
                    let etag = response.headers().get("ETag");
                    let _ = response.text().await;
                    break etag.map(|e| e.trim().to_owned()).filter(|e| {
                        !e.is_empty() && e.len() <= 256 && !e.chars().any(char::is_control)
                    });
                }
                // Sending a part again replaces it: a lost answer just means another try.
                Err(Failure::Timeout | Failure::Network(_)) if tries + 1 < PART_TRIES => tries += 1,
                Err(e) => return Err(e),
            }
        };
        let etag = etag.ok_or_else(|| {
            Failure::invalid("a part's answer has no ETag (does the bucket's CORS expose ETag?)")
        })?;
        session.parts[n as usize - 1] = etag;
        session.sent += end - start;
        on_progress(&session);
    }
    complete(s3, key, &session, size, cancel).await?;
    session.sent = size;
    on_progress(&session);
    Ok(())
}

/// What a kept session comes to.
enum Resumed {
    /// These parts are on the server; send the others.
    Continue(UploadSession),
    /// Completed already (by a request whose answer was lost), and the object checked.
    Done(UploadSession),
    /// Nothing usable (aborted if it existed): start a new upload.
    Restart,
}

/// What of `session` the server still holds.
async fn resume(
    s3: &S3,
    key: &str,
    mut session: UploadSession,
    size: f64,
    chunk: f64,
    count: u32,
    cancel: Option<&AbortSignal>,
) -> Result<Resumed, Failure> {
    if session.size != size {
        abort(s3, key, &session.url, cancel).await;
        return Ok(Resumed::Restart);
    }
    let mut held = Vec::new();
    let mut marker: Option<u32> = None;
    for _ in 0..MAX_PART_PAGES {
        let mut req = Req::new(Method::GET, Some(key)).query("uploadId", &session.url);
        if let Some(m) = marker {
            req = req.query("part-number-marker", &m.to_string());
        }
        let response = match s3.send(&req, cancel).await {
            Ok(r) => r,
            // Completed (by a request whose answer was lost) or aborted: done if the object is.
            Err(Failure::Status { status: 404, .. }) => {
                if confirm(s3, key, size, cancel).await.is_ok() {
                    return Ok(Resumed::Done(UploadSession {
                        sent: size,
                        ..session
                    }));
                }
                return Ok(Resumed::Restart);
            }
            Err(e) => return Err(e),
        };
        let text = response.text().await.map_err(network)?;
        let (parts, next) = match xml::parse_parts(&text, &s3.bucket, &s3.name(key), &session.url) {
            Ok(p) => p,
            Err(_) => {
                abort(s3, key, &session.url, cancel).await;
                return Ok(Resumed::Restart);
            }
        };
        held.extend(parts);
        match next {
            Some(m) if marker.map_or(true, |old| m > old) => marker = Some(m),
            _ => break,
        }
    }
    let mut etags = vec![String::new(); count as usize];
    let mut sent = 0.0;
    for p in &held {
        let (start, end) = rules::part_range(p.number.min(count), size, chunk);
        if p.number > count || p.size as f64 != end - start {
            // Parts of another size: this session was made with another chunk size.
            abort(s3, key, &session.url, cancel).await;
            return Ok(Resumed::Restart);
        }
        if etags[p.number as usize - 1].is_empty() {
            sent += end - start;
        }
        etags[p.number as usize - 1] = p.etag.clone();
    }
    session.parts = etags;
    session.sent = sent;
    Ok(Resumed::Continue(session))
}

/// CompleteMultipartUpload, then a HeadObject that must find `size` bytes. A lost answer
/// (or NoSuchUpload after one) is settled by the HeadObject.
async fn complete(
    s3: &S3,
    key: &str,
    session: &UploadSession,
    size: f64,
    cancel: Option<&AbortSignal>,
) -> Result<(), Failure> {
    let body = xml::complete_body(&session.parts);
    let mut req = Req::new(Method::POST, Some(key))
        .query("uploadId", &session.url)
        .header("content-type", "application/xml");
    req.body = Some(Body {
        sha256: s3
            .signs_payload()
            .then(|| super::sigv4::sha256_hex(body.as_bytes())),
        value: body.into(),
    });
    match s3.send(&req, cancel).await {
        Ok(response) => {
            let text = response.text().await.map_err(network)?;
            match xml::parse_complete(&text, &s3.bucket, &s3.name(key)) {
                Ok(()) => {}
                // A 200 whose body is an error: its code decides what it means.
                Err(CompleteError::S3(e)) => {
                    return Err(Failure::Status {
                        status: 200,
                        message: rules::message(&e.code, &e.message),
                        retry_after_ms: None,
                    })
                }
                Err(CompleteError::Invalid(why)) => return Err(Failure::invalid(why)),
            }
        }
        Err(Failure::Status { status: 404, .. }) => {}
        Err(e @ (Failure::Timeout | Failure::Network(_))) => {
            return confirm(s3, key, size, cancel).await.map_err(|_| e);
        }
        Err(e) => {
            let hopeless = matches!(&e, Failure::Status { message, .. } if matches!(
                rules::code_of(message),
                Some("EntityTooSmall" | "InvalidPart" | "InvalidPartOrder" | "MalformedXML")
            ));
            if hopeless {
                // This session will never complete: free its parts.
                abort(s3, key, &session.url, cancel).await;
            }
            return Err(e);
        }
    }
    confirm(s3, key, size, cancel).await
}

/// A HeadObject that must find `size` bytes at `key`.
async fn confirm(
    s3: &S3,
    key: &str,
    size: f64,
    cancel: Option<&AbortSignal>,
) -> Result<(), Failure> {
    match s3.head(key, cancel).await? {
        Some(got) if got as f64 == size => Ok(()),
        Some(got) => Err(Failure::invalid(format!(
            "the completed upload holds {got} bytes of {size}"
        ))),
        None => Err(Failure::invalid(
            "the upload was completed but there is no such object",
        )),
    }
}

/// AbortMultipartUpload, best effort: its parts would cost storage until a lifecycle rule
/// removes them.
async fn abort(s3: &S3, key: &str, upload_id: &str, cancel: Option<&AbortSignal>) {
    let req = Req::new(Method::DELETE, Some(key)).query("uploadId", upload_id);
    if let Ok(r) = s3.send(&req, cancel).await {
        let _ = r.text().await;
    }
}
