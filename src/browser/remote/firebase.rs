//! Firebase Storage over its REST API (the one the web SDK speaks), with `fetch`.
//!
//! Objects are addressed as `{prefix}/{key}` in one bucket. Small bodies go in one request; audio
//! larger than one chunk uses the resumable protocol, whose session URL the caller keeps so an
//! upload resumes after a reload. Firebase has no conditional writes: correctness comes from the
//! layout (immutable, content-addressed audio; one writer per log folder), not from preconditions.

use gloo_net::http::{Method, RequestBuilder};
use js_sys::Uint8Array;
use wasm_bindgen::JsValue;
use web_sys::AbortSignal;

use super::auth::Auth;
use super::http::{self, Failure};
use super::{Listing, Upload, UploadSession};

/// The production endpoint; tests and the demo point `baseUrl` at the emulator.
pub const DEFAULT_BASE_URL: &str = "https://firebasestorage.googleapis.com";

/// Default deadline for one request, which moves at most one chunk. A transfer with no answer by
/// then is treated as stalled: aborted, and resumed from what the server has.
pub const DEFAULT_TIMEOUT_MS: u32 = 120_000;

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
    /// abandoned as stalled after `timeout_ms` without an answer.
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
        let mut fresh = false;
        loop {
            let token = self.auth.token(fresh).await?;
            let request = build().header("Authorization", &format!("Firebase {token}"));
            match http::send(request, body.clone(), self.timeout_ms, cancel).await {
                Err(Failure::Status { status: 401, .. }) if !fresh => fresh = true,
                other => return other,
            }
        }
    }

    /// Asks the app for a fresh token now (the engine does after a 401).
    pub async fn refresh_token(&self) -> Result<(), Failure> {
        self.auth.token(true).await.map(drop)
    }

    /// One page of the objects and folders directly under `dir` (relative to the prefix).
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
        parse_listing(&text, &prefix)
    }

    /// The bytes of a small object (a log segment).
    pub async fn get_bytes(
        &self,
        key: &str,
        cancel: Option<&AbortSignal>,
    ) -> Result<Vec<u8>, Failure> {
        let url = format!("{}?alt=media", self.object_url(key));
        let response = self
            .call(|| RequestBuilder::new(&url), None, cancel)
            .await?;
        response
            .binary()
            .await
            .map_err(|e| Failure::Network(e.to_string()))
    }

    /// An object's content as a `Blob`: audio goes from the response into IndexedDB without
    /// passing through wasm memory.
    pub async fn get_blob(
        &self,
        key: &str,
        cancel: Option<&AbortSignal>,
    ) -> Result<web_sys::Blob, Failure> {
        let url = format!("{}?alt=media", self.object_url(key));
        let response = self
            .call(|| RequestBuilder::new(&url), None, cancel)
            .await?;
        let raw: web_sys::Response = response.into();
        let blob = wasm_bindgen_futures::JsFuture::from(
            raw.blob().map_err(|e| Failure::Network(format!("{e:?}")))?,
        )
        .await
        .map_err(|e| Failure::Network(format!("{e:?}")))?;
        Ok(blob.into())
    }

    /// Writes a small object in one request.
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

    /// One `uploadType=media` request of `size` bytes, its answer checked (see [`stored`]).
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
        stored(response, size).await
    }

    /// Writes audio: in one request up to `chunk` bytes, with the resumable protocol above that.
    ///
    /// `on_progress(session)` is called after each chunk so the caller can keep the session.
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
        if size <= chunk && session.is_none() {
            self.put_media(key, blob.into(), size, content_type, cancel)
                .await?;
            on_progress(&UploadSession {
                url: String::new(),
                sent: size,
                size,
            });
            return Ok(());
        }
        let mut session = match session {
            Some(s) => match self.received(&s.url, cancel).await? {
                Some(sent) => UploadSession { sent, ..s },
                // The server forgot the session (expired): start again.
                None => {
                    self.start_resumable(key, size, content_type, cancel)
                        .await?
                }
            },
            None => {
                self.start_resumable(key, size, content_type, cancel)
                    .await?
            }
        };
        on_progress(&session);
        while session.sent < size {
            let end = (session.sent + chunk).min(size);
            let part = blob
                .slice_with_f64_and_f64(session.sent, end)
                .map_err(|e| Failure::Network(format!("{e:?}")))?;
            let command = if end >= size {
                "upload, finalize"
            } else {
                "upload"
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
                    Some(part.into()),
                    cancel,
                )
                .await;
            match result {
                Ok(response) if end >= size => {
                    stored(response, size).await?;
                    session.sent = end;
                }
                Ok(response) => {
                    // Read the (empty) answer so the connection is free for the next request.
                    let _ = response.text().await;
                    session.sent = end;
                }
                // A stalled or dropped chunk: ask what arrived and go on from there.
                Err(Failure::Timeout | Failure::Network(_)) => {
                    match self.received(&session.url, cancel).await? {
                        Some(sent) => session.sent = sent,
                        None => return Err(Failure::Network("the upload session was lost".into())),
                    }
                }
                Err(e) => return Err(e),
            }
            on_progress(&session);
        }
        Ok(())
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
            Failure::status_only(
                502,
                "the resumable upload started without an X-Goog-Upload-URL (is CORS exposing it?)",
            )
        })?;
        Ok(UploadSession {
            url: upload_url,
            sent: 0.0,
            size,
        })
    }

    /// How many bytes the server holds of a resumable session, `None` if it has no such session.
    async fn received(
        &self,
        url: &str,
        cancel: Option<&AbortSignal>,
    ) -> Result<Option<f64>, Failure> {
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
        match result {
            Ok(response) => Ok(response
                .headers()
                .get("X-Goog-Upload-Size-Received")
                .and_then(|v| v.parse().ok())),
            Err(Failure::Status {
                status: 404 | 410, ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes an object; one that is gone already counts as deleted.
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

/// Reads the object metadata an upload answers with and checks the server stored `size` bytes:
/// a short object under a content-addressed key would be wrong forever, so it is sent again.
/// Reading the answer to the end also hands its connection back for the next request.
async fn stored(response: gloo_net::http::Response, size: f64) -> Result<(), Failure> {
    let text = response
        .text()
        .await
        .map_err(|e| Failure::Network(e.to_string()))?;
    let meta: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let got = match meta.get("size") {
        Some(serde_json::Value::String(s)) => s.parse::<f64>().ok(),
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        _ => None,
    };
    match got {
        Some(got) if got == size => Ok(()),
        // Retryable: the same bytes go to the same key again.
        Some(got) => Err(Failure::Network(format!(
            "the server stored {got} bytes of {size}"
        ))),
        None => Err(Failure::Network(
            "the server's answer to an upload has no object size".into(),
        )),
    }
}

fn encode(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}

/// Reads `{ prefixes: [..], items: [{ name }], nextPageToken }`, names made relative to `prefix`.
fn parse_listing(text: &str, prefix: &str) -> Result<Listing, Failure> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Page {
        #[serde(default)]
        prefixes: Vec<String>,
        #[serde(default)]
        items: Vec<Item>,
        next_page_token: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        name: String,
    }
    let page: Page = serde_json::from_str(text)
        .map_err(|e| Failure::status_only(502, format!("unreadable listing: {e}")))?;
    let strip = |s: &str| {
        s.strip_prefix(prefix)
            .unwrap_or(s)
            .trim_end_matches('/')
            .to_owned()
    };
    Ok(Listing {
        names: page.items.iter().map(|i| strip(&i.name)).collect(),
        folders: page.prefixes.iter().map(|p| strip(p)).collect(),
        next_page_token: page.next_page_token.filter(|t| !t.is_empty()),
    })
}
