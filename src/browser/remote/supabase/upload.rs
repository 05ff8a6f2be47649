//! Audio uploads: one create-only request up to one chunk, TUS resumable uploads above it.
//!
//! The TUS upload URL (`{url}/storage/v1/upload/resumable/...`) is handed to the caller after
//! every chunk to keep in IndexedDB, with its 24-hour expiry; after a reload, HEAD says where the
//! server stands (`Upload-Offset`, bounds-checked) and the upload goes on from there. An expired
//! or vanished upload starts over; a stale offset (409) is read again. The upload counts only when
//! the server's offset reached the length and the object's info shows our size.

use gloo_net::http::{Method, RequestBuilder};
use web_sys::{AbortSignal, RequestCache};

use super::rules::{self, CHUNK};
use super::{js_text, Supabase, BACKEND, SESSION_LIFETIME_MS};
use crate::browser::remote::http::Failure;
use crate::browser::remote::{Upload, UploadSession};

impl Supabase {
    /// Writes audio create-only: up to one chunk (6 MiB) in one request, above that with TUS,
    /// resuming `upload.session` when it is ours, unexpired and the server still has it. Done only
    /// when the object's info shows our size.
    ///
    /// ```text
    /// remote.put_blob(Upload { key, blob, content_type, chunk, session }, &|s| keep(s), signal).await?;
    /// ```
    pub async fn put_blob(
        &self,
        upload: Upload<'_>,
        on_progress: &dyn Fn(&UploadSession),
        cancel: Option<&AbortSignal>,
    ) -> Result<(), Failure> {
        let Upload {
            key,
            blob,
            content_type,
            session,
            ..
        } = upload;
        let size = blob.size();
        let now = js_sys::Date::now();
        let session = session.filter(|s| {
            s.backend == BACKEND
                && s.size == size
                && self.ours(&s.url)
                && s.expires_at.map_or(true, |t| t > now)
        });
        if size <= CHUNK as f64 && session.is_none() {
            self.post_object(key, blob.into(), content_type, cancel)
                .await?;
            self.confirm(key, size, cancel).await?;
            on_progress(&UploadSession {
                sent: size,
                ..UploadSession::new(BACKEND, size)
            });
            return Ok(());
        }
        let mut session = match session {
            Some(s) => match self.offset(&s.url, size, cancel).await {
                Ok(Some(sent)) => UploadSession {
                    sent: sent as f64,
                    ..s
                },
                // Gone (expired, finished and cleaned up, never there) or implausible: anew.
                Ok(None) | Err(Failure::Invalid(_)) => {
                    self.create(key, size, content_type, cancel).await?
                }
                Err(e) => return Err(e),
            },
            None => self.create(key, size, content_type, cancel).await?,
        };
        on_progress(&session);
        // Requests in a row that moved nothing: a few are a flaky connection, more are the
        // engine's to retry later. One fresh upload when the session vanished midway or its end
        // does not hold up (a stored session whose bytes never became the object).
        let (mut stalls, mut restarted) = (0, false);
        loop {
            while session.sent < size {
                let start = session.sent;
                let end = (start + CHUNK as f64).min(size);
                let part = blob
                    .slice_with_f64_and_f64(start, end)
                    .map_err(|e| Failure::Network(js_text(&e)))?;
                let offset = start.to_string();
                let url = session.url.clone();
                let result = self
                    .call(
                        || {
                            RequestBuilder::new(&url)
                                .method(Method::PATCH)
                                .header("Tus-Resumable", "1.0.0")
                                .header("Upload-Offset", &offset)
                                .header("Content-Type", "application/offset+octet-stream")
                        },
                        Some(part.into()),
                        cancel,
                    )
                    .await;
                let reread = match result {
                    Ok(response) => {
                        let got = response.headers().get("Upload-Offset");
                        let _ = response.text().await;
                        match rules::tus_offset(got.as_deref(), None, size as u64) {
                            Ok(got) if got as f64 > start && got as f64 <= end => {
                                session.sent = got as f64;
                                stalls = 0;
                                false
                            }
                            Ok(got) => {
                                return Err(Failure::invalid(format!(
                                    "a chunk of {start}..{end} left the upload at {got}"
                                )))
                            }
                            Err(why) => return Err(Failure::invalid(why)),
                        }
                    }
                    // A stale offset (another attempt got there first): ask where it stands.
                    // Stalled or dropped: the server keeps what arrived; go on from there.
                    Err(
                        e @ (Failure::Status { status: 409, .. }
                        | Failure::Timeout
                        | Failure::Network(_)),
                    ) => {
                        stalls += 1;
                        if stalls >= 3 {
                            return Err(e);
                        }
                        true
                    }
                    Err(Failure::Status {
                        status: 404 | 410, ..
                    }) if !restarted => {
                        restarted = true;
                        session = self.create(key, size, content_type, cancel).await?;
                        on_progress(&session);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if reread {
                    match self.offset(&session.url, size, cancel).await? {
                        Some(sent) => {
                            if sent as f64 > session.sent {
                                stalls = 0;
                            }
                            session.sent = sent as f64;
                        }
                        None => return Err(Failure::Network("the upload session was lost".into())),
                    }
                }
                on_progress(&session);
            }
            // The server's offset reached the length: the object must now hold our size.
            match self.confirm(key, size, cancel).await {
                Err(Failure::Invalid(_)) if !restarted => {
                    restarted = true;
                    session = self.create(key, size, content_type, cancel).await?;
                    on_progress(&session);
                }
                other => return other,
            }
        }
    }

    /// Creates a TUS upload of `size` bytes for `key`, create-only.
    async fn create(
        &self,
        key: &str,
        size: f64,
        content_type: &str,
        cancel: Option<&AbortSignal>,
    ) -> Result<UploadSession, Failure> {
        let url = self.tus_url();
        let name = self.name(key);
        let metadata = rules::tus_metadata(&[
            ("bucketName", &self.bucket),
            ("objectName", &name),
            ("contentType", content_type),
            ("cacheControl", "3600"),
        ]);
        let length = size.to_string();
        let response = self
            .call(
                || {
                    RequestBuilder::new(&url)
                        .method(Method::POST)
                        .header("Tus-Resumable", "1.0.0")
                        .header("Upload-Length", &length)
                        .header("Upload-Metadata", &metadata)
                        .header("x-upsert", "false")
                },
                None,
                cancel,
            )
            .await?;
        let location = response.headers().get("Location");
        let _ = response.text().await;
        let location = location.ok_or_else(|| {
            Failure::invalid("the resumable upload was created without a Location")
        })?;
        if !self.ours(&location) {
            return Err(Failure::invalid(
                "the server's resumable upload URL is not on the configured origin",
            ));
        }
        Ok(UploadSession {
            url: location,
            expires_at: Some(js_sys::Date::now() + SESSION_LIFETIME_MS),
            ..UploadSession::new(BACKEND, size)
        })
    }

    /// Where a TUS upload of `size` bytes stands (HEAD): its offset, or `None` when the server
    /// no longer has it (404, 410). An offset that cannot be true is a [`Failure::Invalid`].
    async fn offset(
        &self,
        url: &str,
        size: f64,
        cancel: Option<&AbortSignal>,
    ) -> Result<Option<u64>, Failure> {
        if !self.ours(url) {
            return Ok(None);
        }
        let result = self
            .call(
                || {
                    RequestBuilder::new(url)
                        .method(Method::HEAD)
                        .header("Tus-Resumable", "1.0.0")
                        .cache(RequestCache::NoStore)
                },
                None,
                cancel,
            )
            .await;
        let response = match result {
            Ok(r) => r,
            Err(Failure::Status {
                status: 404 | 410, ..
            }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let headers = response.headers();
        let (offset, length) = (headers.get("Upload-Offset"), headers.get("Upload-Length"));
        rules::tus_offset(offset.as_deref(), length.as_deref(), size as u64)
            .map(Some)
            .map_err(Failure::invalid)
    }

    /// Confirms with the info route that `key` holds `size` bytes.
    async fn confirm(
        &self,
        key: &str,
        size: f64,
        cancel: Option<&AbortSignal>,
    ) -> Result<(), Failure> {
        match self.head(key, cancel).await? {
            Some(got) if got as f64 == size => Ok(()),
            Some(got) => Err(Failure::invalid(format!(
                "the finished upload holds {got} bytes of {size}"
            ))),
            None => Err(Failure::invalid(
                "the upload was finished but there is no such object",
            )),
        }
    }
}
