//! Firebase Storage over its REST API (the one the web SDK speaks), with `fetch`.
//!
//! Objects are addressed as `{prefix}/{key}` in one bucket. Small bodies go in one request; audio
//! larger than one chunk uses the resumable protocol, whose session URL the caller keeps so an
//! upload resumes after a reload. Firebase has no conditional writes: correctness comes from the
//! layout (immutable, content-addressed audio; one writer per log folder), not from preconditions.
//!
//! Nothing the server answers is taken on trust: an upload counts only when its final answer names
//! our object with our size; resumable offsets are bounds-checked; a downloaded recording is
//! checked against its SHA-256 before it is handed on; URLs the server gives (resumable sessions)
//! get the token only if they are on the configured origin.

use gloo_net::http::{Method, RequestBuilder, Response};
use js_sys::Uint8Array;
use wasm_bindgen::JsValue;
use web_sys::{AbortSignal, Blob, RequestCache};

use super::auth::Auth;
use super::download;
use super::http::{self, Failure};
use super::wire::{self, SessionState};
use super::{Call, Listing, Remote, Upload, UploadSession};
use crate::core::engine::Failure as CoreFailure;
use crate::core::fields::ContentHash;

/// The production endpoint; tests and the demo point `baseUrl` at the emulator.
pub const DEFAULT_BASE_URL: &str = "https://firebasestorage.googleapis.com";

/// Default deadline for one request, which moves at most one chunk. A transfer with no answer by
/// then is treated as stalled: aborted, and resumed from what the server has.
pub const DEFAULT_TIMEOUT_MS: u32 = 120_000;

/// The tag of this backend's upload sessions and bindings.
const BACKEND: &str = "firebase";

/// A failure of this backend as the sync core sees it: Firebase's status table
/// ([`wire::firebase_code`]) on [`Failure::to_core`]. The driver's only conversion.
///
/// ```text
/// Err(e) => Outcome::Failed(firebase::to_core(&e)),
/// ```
pub fn to_core(failure: &Failure) -> CoreFailure {
    failure.to_core(wire::firebase_code)
}

/// A Firebase Storage bucket seen through one prefix.
pub struct Firebase {
    base: String,
    bucket: String,
    prefix: String,
    auth: Auth,
    timeout_ms: u32,
}

impl Firebase {
    /// A remote on `bucket` under `prefix` (no leading or trailing `/`), whose requests are
    /// abandoned as stalled after `timeout_ms` without an answer. `base` should have passed
    /// [`super::check_base_url`].
    ///
    /// ```text
    /// Firebase::new(DEFAULT_BASE_URL.into(), "app.appspot.com".into(), "users/u1".into(), auth, DEFAULT_TIMEOUT_MS)
    /// ```
    pub fn new(base: String, bucket: String, prefix: String, auth: Auth, timeout_ms: u32) -> Self {
        Firebase {
            base: base.trim_end_matches('/').to_owned(),
            bucket,
            prefix,
            auth,
            timeout_ms,
        }
    }

    fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    fn objects_url(&self) -> String {
        format!("{}/v0/b/{}/o", self.base, encode(&self.bucket))
    }

    fn object_url(&self, key: &str) -> String {
        format!("{}/{}", self.objects_url(), encode(&self.name(key)))
    }

    /// Sends one request with the current token; on 401 asks the app for a fresh token and
    /// tries once more.
    async fn call(
        &self,
        build: impl Fn() -> RequestBuilder,
        body: Option<JsValue>,
        cancel: Option<&AbortSignal>,
    ) -> Result<gloo_net::http::Response, Failure> {
        let (build, body) = (&build, &body);
        self.auth
            .with_token(|token| async move {
                let request = build().header("Authorization", &format!("Firebase {token}"));
                http::send(request, body.clone(), self.timeout_ms, cancel).await
            })
            .await
    }

    /// Asks the app for a fresh token now (the engine does after a 401).
    ///
    /// ```text
    /// remote.refresh_token().await?;
    /// ```
    pub async fn refresh_token(&self) -> Result<(), Failure> {
        self.auth.token(true).await.map(drop)
    }

    /// One page of the objects and folders directly under `dir` (relative to the prefix).
    ///
    /// ```text
    /// let page = remote.list("log", None, signal).await?;
    /// ```
    pub async fn list(
        &self,
        dir: &str,
        page_token: Option<&str>,
        cancel: Option<&AbortSignal>,
    ) -> Result<Listing, Failure> {
        let mut prefix = self.name(dir);
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        let mut url = format!(
            "{}?prefix={}&delimiter=%2F&maxResults=1000",
            self.objects_url(),
            encode(&prefix)
        );
        if let Some(t) = page_token {
            url.push_str("&pageToken=");
            url.push_str(&encode(t));
        }
        let response = self
            .call(|| RequestBuilder::new(&url), None, cancel)
            .await?;
        let text = response
            .text()
            .await
            .map_err(|e| Failure::Network(e.to_string()))?;
        parse_listing(&text, &prefix).map_err(Failure::invalid)
    }

    /// Whether `url` (handed to us by the server) is on the configured origin, so it may get
    /// the token.
    fn ours(&self, url: &str) -> bool {
        wire::same_origin(url, &self.base)
    }

    /// The bytes of a small object (a log segment). Bypasses the HTTP cache: a segment found
    /// unreadable is read again later, and must not be replayed from the cache then.
    ///
    /// ```text
    /// let bytes = remote.get_bytes("log/d1/00000000000000000000.json", signal).await?;
    /// ```
    pub async fn get_bytes(
        &self,
        key: &str,
        cancel: Option<&AbortSignal>,
    ) -> Result<Vec<u8>, Failure> {
        let url = format!("{}?alt=media", self.object_url(key));
        let response = self
            .call(
                || RequestBuilder::new(&url).cache(RequestCache::NoStore),
                None,
                cancel,
            )
            .await?;
        response
            .binary()
            .await
            .map_err(|e| Failure::Network(e.to_string()))
    }

    /// The size of the object `key` (a metadata read), `None` if there is none: how the engine
    /// learns whether a write whose answer was lost happened. Bypasses the HTTP cache, which could
    /// answer from before the write.
    ///
    /// ```text
    /// match remote.head(&key, signal).await? { Some(size) => .., None => .. }
    /// ```
    pub async fn head(
        &self,
        key: &str,
        cancel: Option<&AbortSignal>,
    ) -> Result<Option<u64>, Failure> {
        let url = self.object_url(key);
        let result = self
            .call(
                || RequestBuilder::new(&url).cache(RequestCache::NoStore),
                None,
                cancel,
            )
            .await;
        let response = match result {
            Ok(r) => r,
            Err(Failure::Status { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let text = response
            .text()
            .await
            .map_err(|e| Failure::Network(e.to_string()))?;
        wire::stored_size(&text, None, &self.name(key), &self.bucket)
            .map(Some)
            .map_err(Failure::invalid)
    }

    /// A recording's audio as a `Blob`, checked: its SHA-256 must be `hash` (computed in bounded
    /// chunks, so the recording never sits whole in wasm memory) before it is handed on. A
    /// mismatch is a [`Failure::Invalid`] (Retryable, code Remote): the engine downloads again,
    /// and reports the recording if it keeps failing. The request and its retries bypass the HTTP
    /// cache (`cache: "no-store"`), which would otherwise replay a corrupted body.
    ///
    /// ```text
    /// let blob = remote.get_audio(&key, &hash, signal).await?;   // bytes whose SHA-256 is `hash`
    /// ```
    pub async fn get_audio(
        &self,
        key: &str,
        expected: &ContentHash,
        cancel: Option<&AbortSignal>,
    ) -> Result<Blob, Failure> {
        let url = format!("{}?alt=media", self.object_url(key));
        let fetch = |from: Option<f64>| -> download::Fetch<'_> {
            let url = &url;
            Box::pin(async move {
                let response = self
                    .call(
                        || {
                            let request = RequestBuilder::new(url).cache(RequestCache::NoStore);
                            match from {
                                Some(n) => request.header("Range", &format!("bytes={n}-")),
                                None => request,
                            }
                        },
                        None,
                        cancel,
                    )
                    .await?;
                Ok(web_sys::Response::from(response))
            })
        };
        download::get_resumable(&fetch, expected, cancel).await
    }

    /// Writes a small object in one request; done only when the answer confirms it.
    ///
    /// ```text
    /// remote.put_bytes(&key, &segment, "application/json", signal).await?;
    /// ```
    pub async fn put_bytes(
        &self,
        key: &str,
        bytes: &[u8],
        content_type: &str,
        cancel: Option<&AbortSignal>,
    ) -> Result<(), Failure> {
        let body: JsValue = Uint8Array::from(bytes).into();
        self.put_media(key, body, bytes.len() as f64, content_type, cancel)
            .await
    }

    /// One `uploadType=media` request of `size` bytes, its answer checked (see [`Self::stored`]).
    async fn put_media(
        &self,
        key: &str,
        body: JsValue,
        size: f64,
        content_type: &str,
        cancel: Option<&AbortSignal>,
    ) -> Result<(), Failure> {
        let url = format!(
            "{}?uploadType=media&name={}",
            self.objects_url(),
            encode(&self.name(key))
        );
        let response = self
            .call(
                || {
                    RequestBuilder::new(&url)
                        .method(Method::POST)
                        .header("Content-Type", content_type)
                },
                Some(body),
                cancel,
            )
            .await?;
        self.stored(response, key, size).await
    }

    /// Writes audio: in one request up to `chunk` bytes, with the resumable protocol above that.
    /// Done only when the server's final answer confirms the object (name, bucket, size).
    ///
    /// A stored session is used only if its URL is on the configured origin and the server still
    /// holds a plausible part of it; otherwise the upload starts over. `on_progress(session)` is
    /// called after each chunk so the caller can keep the session.
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
            chunk,
            session,
        } = upload;
        let size = blob.size();
        // A session for other bytes or on another origin (the token must not go there) is dropped.
        let session =
            session.filter(|s| s.backend == BACKEND && s.size == size && self.ours(&s.url));
        if size <= chunk && session.is_none() {
            self.put_media(key, blob.into(), size, content_type, cancel)
                .await?;
            on_progress(&UploadSession {
                url: String::new(),
                sent: size,
                ..UploadSession::new(BACKEND, size)
            });
            return Ok(());
        }
        let resumed = match session {
            Some(s) => match self.query(&s.url, size, cancel).await {
                Ok(SessionState::Active(sent)) => Some(UploadSession {
                    sent: sent as f64,
                    ..s
                }),
                // Finalized by a request whose answer was lost: done if the object is right.
                Ok(SessionState::Final) => match self.confirm(key, size, cancel).await {
                    Ok(()) => {
                        on_progress(&UploadSession { sent: size, ..s });
                        return Ok(());
                    }
                    Err(Failure::Invalid(_)) => None,
                    Err(e) => return Err(e),
                },
                // Expired, cancelled, or an answer that cannot be true: start over.
                Ok(SessionState::Gone) | Err(Failure::Invalid(_)) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let mut session = match resumed {
            Some(s) => s,
            None => {
                self.start_resumable(key, size, content_type, cancel)
                    .await?
            }
        };
        on_progress(&session);
        // Requests that failed without the server gaining a byte, in a row: a few are a flaky
        // connection, more are the engine's to retry later, with backoff.
        let mut stalls = 0;
        loop {
            let end = (session.sent + chunk).min(size);
            let last = end >= size;
            // All bytes are there but not finalized (a lost answer to the last chunk): finalize.
            let (command, part) = if session.sent >= size {
                ("finalize", None)
            } else {
                let part = blob
                    .slice_with_f64_and_f64(session.sent, end)
                    .map_err(|e| Failure::Network(js_text(&e)))?;
                let command = if last { "upload, finalize" } else { "upload" };
                (command, Some(JsValue::from(part)))
            };
            let offset = session.sent.to_string();
            let url = session.url.clone();
            let result = self
                .call(
                    || {
                        RequestBuilder::new(&url)
                            .method(Method::POST)
                            .header("X-Goog-Upload-Command", command)
                            .header("X-Goog-Upload-Offset", &offset)
                    },
                    part,
                    cancel,
                )
                .await;
            match result {
                Ok(response) if last => {
                    self.stored(response, key, size).await?;
                    session.sent = size;
                    on_progress(&session);
                    return Ok(());
                }
                Ok(response) => {
                    // Read the (empty) answer so the connection is free for the next request.
                    let _ = response.text().await;
                    session.sent = end;
                }
                // A stalled or dropped request: ask what arrived and go on from there (the
                // emulator appends whatever it is sent, so resending blindly would corrupt).
                Err(e @ (Failure::Timeout | Failure::Network(_))) => {
                    match self.query(&session.url, size, cancel).await? {
                        SessionState::Active(sent) => {
                            stalls = if sent as f64 > session.sent {
                                0
                            } else {
                                stalls + 1
                            };
                            if stalls >= 3 {
                                return Err(e);
                            }
                            session.sent = sent as f64;
                        }
                        SessionState::Final => {
                            self.confirm(key, size, cancel).await?;
                            session.sent = size;
                            on_progress(&session);
                            return Ok(());
                        }
                        SessionState::Gone => {
                            return Err(Failure::Network("the upload session was lost".into()))
                        }
                    }
                }
                Err(e) => return Err(e),
            }
            on_progress(&session);
        }
    }

    async fn start_resumable(
        &self,
        key: &str,
        size: f64,
        content_type: &str,
        cancel: Option<&AbortSignal>,
    ) -> Result<UploadSession, Failure> {
        let url = format!("{}?name={}", self.objects_url(), encode(&self.name(key)));
        let metadata =
            serde_json::json!({ "name": self.name(key), "contentType": content_type }).to_string();
        let length = size.to_string();
        let response = self
            .call(
                || {
                    RequestBuilder::new(&url)
                        .method(Method::POST)
                        .header("X-Goog-Upload-Protocol", "resumable")
                        .header("X-Goog-Upload-Command", "start")
                        .header("X-Goog-Upload-Header-Content-Length", &length)
                        .header("X-Goog-Upload-Header-Content-Type", content_type)
                        .header("Content-Type", "application/json; charset=utf-8")
                },
                Some(metadata.into()),
                cancel,
            )
            .await?;
        let upload_url = response.headers().get("X-Goog-Upload-URL").ok_or_else(|| {
            Failure::invalid(
                "the resumable upload started without an X-Goog-Upload-URL (is CORS exposing it?)",
            )
        })?;
        let _ = response.text().await;
        if !self.ours(&upload_url) {
            return Err(Failure::invalid(
                "the server's resumable upload URL is not on the configured origin",
            ));
        }
        Ok(UploadSession {
            url: upload_url,
            ..UploadSession::new(BACKEND, size)
        })
    }

    /// Where a resumable session of `size` bytes stands (`X-Goog-Upload-Command: query`).
    /// An offset that cannot be true is a [`Failure::Invalid`].
    async fn query(
        &self,
        url: &str,
        size: f64,
        cancel: Option<&AbortSignal>,
    ) -> Result<SessionState, Failure> {
        if !self.ours(url) {
            return Ok(SessionState::Gone);
        }
        let result = self
            .call(
                || {
                    RequestBuilder::new(url)
                        .method(Method::POST)
                        .header("X-Goog-Upload-Command", "query")
                },
                None,
                cancel,
            )
            .await;
        let response = match result {
            Ok(r) => r,
            Err(Failure::Status {
                status: 404 | 410, ..
            }) => return Ok(SessionState::Gone),
            Err(e) => return Err(e),
        };
        let headers = response.headers();
        let state = headers.get("X-Goog-Upload-Status");
        let received = headers.get("X-Goog-Upload-Size-Received");
        let _ = response.text().await;
        wire::session_state(state.as_deref(), received.as_deref(), size as u64)
            .map_err(Failure::invalid)
    }

    /// Confirms with a metadata read that `key` holds `size` bytes (after a finalize whose
    /// answer was lost).
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
                "the upload was finalized but there is no such object",
            )),
        }
    }

    /// Checks the final answer of an upload: it must be the object metadata of `key` in our
    /// bucket with `size` bytes (and, for a resumable upload, say it is final). A short or
    /// foreign object under a content-addressed key would be wrong forever, so anything else is
    /// a [`Failure::Invalid`] and the upload is not counted. (Firebase's md5Hash/crc32c are not
    /// compared: computing them would take another full read of every recording and a new crate.)
    /// Reading the answer to the end also hands its connection back for the next request.
    async fn stored(&self, response: Response, key: &str, size: f64) -> Result<(), Failure> {
        let state = response.headers().get("X-Goog-Upload-Status");
        let text = response
            .text()
            .await
            .map_err(|e| Failure::Network(e.to_string()))?;
        match wire::stored_size(&text, state.as_deref(), &self.name(key), &self.bucket) {
            Ok(got) if got as f64 == size => Ok(()),
            Ok(got) => Err(Failure::invalid(format!(
                "the server stored {got} bytes of {size}"
            ))),
            Err(why) => Err(Failure::invalid(why)),
        }
    }

    /// Deletes an object; one that is gone already counts as deleted.
    ///
    /// ```text
    /// remote.delete(&key, signal).await?;
    /// ```
    pub async fn delete(&self, key: &str, cancel: Option<&AbortSignal>) -> Result<(), Failure> {
        let url = self.object_url(key);
        match self
            .call(
                || RequestBuilder::new(&url).method(Method::DELETE),
                None,
                cancel,
            )
            .await
        {
            Ok(_) | Err(Failure::Status { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A JS error's text, for messages.
fn js_text(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| {
            js_sys::Reflect::get(e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

fn encode(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}

/// Reads `{ prefixes: [..], items: [{ name }], nextPageToken }`, names made relative to `prefix`;
/// names not directly under `prefix` are dropped.
fn parse_listing(text: &str, prefix: &str) -> Result<Listing, String> {
    let page = wire::json_object(text, "listing")?;
    let unreadable = |e: String| format!("unreadable listing: {e}");
    let items = wire::json_names(&page, "items", Some("name")).map_err(unreadable)?;
    let prefixes = wire::json_names(&page, "prefixes", None).map_err(unreadable)?;
    let next_page_token = wire::json_opt_string(&page, "nextPageToken").map_err(unreadable)?;
    // Only what is directly in the folder asked for: a name from elsewhere is not ours to read.
    let strip = |s: &str| {
        s.strip_prefix(prefix)
            .map(|rest| rest.strip_suffix('/').unwrap_or(rest))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(str::to_owned)
    };
    Ok(Listing {
        names: items.iter().filter_map(|i| strip(i)).collect(),
        folders: prefixes.iter().filter_map(|p| strip(p)).collect(),
        next_page_token: next_page_token.filter(|t| !t.is_empty()),
    })
}

impl Remote for Firebase {
    fn identity(&self) -> String {
        format!("{BACKEND}:{}/{}", self.bucket, self.prefix)
    }

    fn check_chunk(&self, bytes: f64) -> Result<(), String> {
        // Every chunk but the last of a resumable upload is a multiple of 256 KiB.
        if bytes >= wire::UPLOAD_UNIT as f64 && bytes % wire::UPLOAD_UNIT as f64 == 0.0 {
            Ok(())
        } else {
            Err(format!(
                "Firebase Storage takes chunks of a multiple of {} bytes (256 KiB)",
                wire::UPLOAD_UNIT
            ))
        }
    }

    fn list<'a>(
        &'a self,
        folder: &'a str,
        page: Option<&'a str>,
        signal: Option<&'a AbortSignal>,
    ) -> Call<'a, Listing> {
        Box::pin(Firebase::list(self, folder, page, signal))
    }

    fn get_bytes<'a>(&'a self, key: &'a str, signal: Option<&'a AbortSignal>) -> Call<'a, Vec<u8>> {
        Box::pin(Firebase::get_bytes(self, key, signal))
    }

    fn put_bytes<'a>(
        &'a self,
        key: &'a str,
        bytes: &'a [u8],
        content_type: &'a str,
        signal: Option<&'a AbortSignal>,
    ) -> Call<'a, ()> {
        Box::pin(Firebase::put_bytes(self, key, bytes, content_type, signal))
    }

    fn head<'a>(&'a self, key: &'a str, signal: Option<&'a AbortSignal>) -> Call<'a, Option<u64>> {
        Box::pin(Firebase::head(self, key, signal))
    }

    fn put_audio<'a>(
        &'a self,
        upload: Upload<'a>,
        on_progress: &'a dyn Fn(&UploadSession),
        signal: Option<&'a AbortSignal>,
    ) -> Call<'a, ()> {
        Box::pin(self.put_blob(upload, on_progress, signal))
    }

    fn get_audio<'a>(
        &'a self,
        key: &'a str,
        hash: &'a ContentHash,
        signal: Option<&'a AbortSignal>,
    ) -> Call<'a, Blob> {
        Box::pin(Firebase::get_audio(self, key, hash, signal))
    }

    fn delete<'a>(&'a self, key: &'a str, signal: Option<&'a AbortSignal>) -> Call<'a, ()> {
        Box::pin(Firebase::delete(self, key, signal))
    }

    fn refresh_token(&self) -> Call<'_, ()> {
        Box::pin(Firebase::refresh_token(self))
    }

    fn to_core(&self, failure: &Failure) -> CoreFailure {
        to_core(failure)
    }
}
