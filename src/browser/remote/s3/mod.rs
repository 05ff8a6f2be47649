//! Amazon S3 and S3-compatible storage (R2, MinIO, B2, Wasabi) over the S3 REST API, with `fetch`.
//!
//! Objects are `{prefix}/{key}` in one bucket. Requests are signed in the page with SigV4
//! ([`sigv4`], credentials mode) or by the app's backend (presign mode: it returns a URL, which
//! must be on the request's own origin). Small objects are written create-only
//! (`If-None-Match: *`); audio above one chunk goes up in multipart uploads ([`multipart`]) whose
//! UploadId and part ETags the caller keeps, so an upload resumes after a reload.
//!
//! Nothing the server says is taken on trust: listings must be of our bucket and prefix, multipart
//! answers of our key and upload, part listings bounds-checked, sizes plain numbers, downloads
//! checked against their SHA-256. In credentials mode every body is signed with its SHA-256, so
//! the server itself refuses a body damaged on the way (no MD5 needed for that).
//! Credentials live in memory only; they are never logged or stored.

use std::cell::Cell;

use gloo_net::http::{Method, RequestBuilder, Response};
use js_sys::{Function, Reflect, Uint8Array};
use wasm_bindgen::JsValue;
use web_sys::{AbortSignal, Blob, RequestCache};

use super::http::{self, Failure};
use super::wire;
use super::{Call, Listing, Remote, Upload, UploadSession};
use crate::browser::hash;
use crate::core::engine::Failure as CoreFailure;
use crate::core::fields::ContentHash;

mod credentials;
mod multipart;
pub mod rules;
pub mod sigv4;
pub mod xml;

pub use credentials::Keys;
use rules::Endpoint;

/// Default deadline of one request (one part at most).
pub const DEFAULT_TIMEOUT_MS: u32 = 120_000;
/// The tag of this backend's upload sessions and bindings.
const BACKEND: &str = "s3";

/// How requests get signed.
///
/// ```text
/// let signer = Signer::Presign(presign_function);
/// ```
pub enum Signer {
    /// In the page, with the app's temporary credentials.
    Keys(Keys),
    /// By the app's backend: `presign({ method, key, query, headers, expiresIn })` gives a URL.
    Presign(Function),
}

/// A request body: the value `fetch` sends and, in credentials mode, its hex SHA-256.
#[derive(Clone)]
struct Body {
    value: JsValue,
    sha256: Option<String>,
}

/// One S3 request, before signing.
struct Req<'a> {
    method: Method,
    /// The key relative to the prefix; `None` for a bucket-level request.
    key: Option<&'a str>,
    query: Vec<(String, String)>,
    /// Sent and signed, names lowercase.
    headers: Vec<(String, String)>,
    body: Option<Body>,
}

impl<'a> Req<'a> {
    fn new(method: Method, key: Option<&'a str>) -> Self {
        Req {
            method,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a header to send and sign. An empty value (an audio type nobody knows) is left out:
    /// fetch does not send it, and a signed header that is not sent breaks the signature.
    fn header(mut self, name: &str, value: &str) -> Self {
        if !value.is_empty() {
            self.headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }
}

/// An S3 bucket seen through one prefix.
///
/// ```text
/// let remote: Rc<dyn Remote> = Rc::new(S3::new(config));
/// ```
pub struct S3 {
    endpoint: Endpoint,
    region: String,
    bucket: String,
    prefix: String,
    path_style: bool,
    signer: Signer,
    timeout_ms: u32,
    /// Server time minus this device's, learnt from a `RequestTimeTooSkewed` (ms).
    offset_ms: Cell<f64>,
}

/// How an [`S3`] is configured (all checked by the API before).
///
/// ```text
/// Config { endpoint: Endpoint::parse(url)?, region, bucket, prefix, path_style: true, signer, timeout_ms: 120_000 }
/// ```
pub struct Config {
    /// e.g. `https://s3.eu-west-1.amazonaws.com`.
    pub endpoint: Endpoint,
    /// e.g. `eu-west-1`.
    pub region: String,
    /// The bucket.
    pub bucket: String,
    /// No leading or trailing `/`.
    pub prefix: String,
    /// Bucket in the path rather than in the host.
    pub path_style: bool,
    /// Credentials or presign.
    pub signer: Signer,
    /// Deadline of one request.
    pub timeout_ms: u32,
}

impl S3 {
    /// A remote from a checked configuration.
    ///
    /// ```text
    /// let remote = S3::new(Config { endpoint, region, bucket, prefix, path_style, signer, timeout_ms });
    /// ```
    pub fn new(config: Config) -> Self {
        S3 {
            endpoint: config.endpoint,
            region: config.region,
            bucket: config.bucket,
            prefix: config.prefix,
            path_style: config.path_style,
            signer: config.signer,
            timeout_ms: config.timeout_ms,
            offset_ms: Cell::new(0.0),
        }
    }

    fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// Now by the server's clock, as far as we know it.
    fn now(&self) -> f64 {
        js_sys::Date::now() + self.offset_ms.get()
    }

    /// Sends `req` signed; corrects the clock once on `RequestTimeTooSkewed` and asks for fresh
    /// credentials once on an expired or invalid token, each followed by one retry. A non-2xx
    /// answer is a [`Failure::Status`] whose message starts with S3's code ([`rules::message`]).
    async fn send(&self, req: &Req<'_>, cancel: Option<&AbortSignal>) -> Result<Response, Failure> {
        let full = req.key.map(|k| self.name(k)).unwrap_or_default();
        let (host, path) = rules::target(&self.endpoint, &self.bucket, self.path_style, &full);
        // `fresh`: new credentials were asked for (once per request); `ask`: ask on this try.
        let (mut fresh, mut ask, mut corrected) = (false, false, false);
        loop {
            let mut headers = req.headers.clone();
            let url = match &self.signer {
                Signer::Keys(keys) => {
                    let now = self.now();
                    let creds = keys.get(std::mem::take(&mut ask), now).await?;
                    let payload = match &req.body {
                        None => sigv4::EMPTY_SHA256,
                        Some(b) => b.sha256.as_deref().unwrap_or(sigv4::UNSIGNED_PAYLOAD),
                    };
                    let request = sigv4::Request {
                        method: req.method.as_str(),
                        host: &host,
                        path: &path,
                        query: &req.query,
                        headers: &req.headers,
                        payload_hash: payload,
                    };
                    let scope = sigv4::Scope {
                        region: &self.region,
                        service: "s3",
                        now_ms: now.max(0.0) as u64,
                    };
                    headers.extend(sigv4::sign_headers(&request, &creds, &scope));
                    let query = sigv4::canonical_query(&req.query);
                    let sep = if query.is_empty() { "" } else { "?" };
                    format!("{}://{host}{path}{sep}{query}", self.endpoint.scheme)
                }
                Signer::Presign(f) => {
                    let origin = format!("{}://{host}", self.endpoint.scheme);
                    credentials::presign(f, req, &full, &origin).await?
                }
            };
            let mut builder = RequestBuilder::new(&url)
                .method(req.method.clone())
                .cache(RequestCache::NoStore);
            for (name, value) in &headers {
                builder = builder.header(name, value);
            }
            let body = req.body.as_ref().map(|b| b.value.clone());
            let response = exchange(builder, body, self.timeout_ms, cancel).await?;
            if response.ok() {
                return Ok(response);
            }
            let status = response.status();
            let date = response.headers().get("Date");
            let retry_after_ms = response
                .headers()
                .get("Retry-After")
                .and_then(|v| wire::parse_retry_after(&v, js_sys::Date::now().max(0.0) as u64));
            let text = if req.method == Method::HEAD {
                String::new()
            } else {
                response.text().await.unwrap_or_default()
            };
            let error = xml::parse_error(&text);
            let code = error.as_ref().map(|e| e.code.as_str());
            let keys = matches!(self.signer, Signer::Keys(_));
            if keys && !corrected {
                let server = error
                    .as_ref()
                    .and_then(|e| e.server_time.as_deref())
                    .or(date.as_deref())
                    .map(js_sys::Date::parse)
                    .filter(|t| t.is_finite());
                let skewed = server.is_some_and(|s| (s - self.now()).abs() > rules::SKEW_MS);
                if code == Some("RequestTimeTooSkewed")
                    || (status == 403 && code.is_none() && skewed)
                {
                    if let Some(server) = server {
                        self.offset_ms.set(server - js_sys::Date::now());
                        corrected = true;
                        continue;
                    }
                }
            }
            let token_refused =
                matches!(
                    code,
                    Some("ExpiredToken" | "InvalidToken" | "TokenRefreshRequired")
                ) || (status == 400 && code.is_none() && req.method == Method::HEAD);
            if keys && !fresh && token_refused {
                (fresh, ask) = (true, true);
                continue;
            }
            let message = match &error {
                Some(e) => rules::message(&e.code, &e.message),
                None => wire::error_message(status, ""),
            };
            return Err(Failure::Status {
                status,
                message,
                retry_after_ms,
            });
        }
    }

    /// One page of the objects and folders directly under `dir`.
    async fn list_page(
        &self,
        dir: &str,
        page: Option<&str>,
        cancel: Option<&AbortSignal>,
    ) -> Result<Listing, Failure> {
        let mut prefix = if dir.is_empty() {
            self.prefix.clone()
        } else {
            self.name(dir)
        };
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        let mut req = Req::new(Method::GET, None)
            .query("list-type", "2")
            .query("prefix", &prefix)
            .query("delimiter", "/");
        if let Some(t) = page {
            req = req.query("continuation-token", t);
        }
        let response = self.send(&req, cancel).await?;
        let text = response.text().await.map_err(network)?;
        let page = xml::parse_list(&text, &self.bucket, &prefix).map_err(Failure::invalid)?;
        Ok(Listing {
            names: page.names,
            folders: page.folders,
            next_page_token: page.next,
        })
    }

    async fn get_bytes(&self, key: &str, cancel: Option<&AbortSignal>) -> Result<Vec<u8>, Failure> {
        let response = self.send(&Req::new(Method::GET, Some(key)), cancel).await?;
        response.binary().await.map_err(network)
    }

    /// A create-only write (`If-None-Match: *`) of `body`; a 412 means the key exists.
    async fn put_object(
        &self,
        key: &str,
        body: Body,
        content_type: &str,
        cancel: Option<&AbortSignal>,
    ) -> Result<(), Failure> {
        let mut req = Req::new(Method::PUT, Some(key))
            .header("content-type", content_type)
            .header("if-none-match", "*");
        req.body = Some(body);
        let response = self.send(&req, cancel).await?;
        let _ = response.text().await;
        Ok(())
    }

    async fn put_bytes(
        &self,
        key: &str,
        bytes: &[u8],
        content_type: &str,
        cancel: Option<&AbortSignal>,
    ) -> Result<(), Failure> {
        let body = Body {
            value: Uint8Array::from(bytes).into(),
            sha256: self.signs_payload().then(|| sigv4::sha256_hex(bytes)),
        };
        self.put_object(key, body, content_type, cancel).await
    }

    /// Whether bodies are signed with their SHA-256 (credentials mode; presigned URLs cannot).
    fn signs_payload(&self) -> bool {
        matches!(self.signer, Signer::Keys(_))
    }

    /// `blob`'s body for a request, hashed when bodies are signed.
    async fn blob_body(&self, blob: &Blob) -> Result<Body, Failure> {
        let sha256 = if self.signs_payload() {
            Some(hash::digest_hex(blob).await.map_err(|e| {
                Failure::Network(format!("the audio could not be read: {}", js_text(&e)))
            })?)
        } else {
            None
        };
        Ok(Body {
            value: blob.into(),
            sha256,
        })
    }

    async fn head(&self, key: &str, cancel: Option<&AbortSignal>) -> Result<Option<u64>, Failure> {
        let response = match self.send(&Req::new(Method::HEAD, Some(key)), cancel).await {
            Ok(r) => r,
            Err(Failure::Status { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let length = response.headers().get("Content-Length");
        let length = length.as_deref().map(str::trim).unwrap_or_default();
        if length.is_empty() || length.len() > 19 || !length.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Failure::invalid(format!(
                "HeadObject gave no usable Content-Length ({length:?})"
            )));
        }
        length
            .parse()
            .map(Some)
            .map_err(|_| Failure::invalid("HeadObject's size is out of range"))
    }

    async fn get_audio(
        &self,
        key: &str,
        expected: &ContentHash,
        cancel: Option<&AbortSignal>,
    ) -> Result<Blob, Failure> {
        let fetch = |from: Option<f64>| -> super::download::Fetch<'_> {
            Box::pin(async move {
                let mut req = Req::new(Method::GET, Some(key));
                if let Some(n) = from {
                    req.headers
                        .push(("range".to_owned(), format!("bytes={n}-")));
                }
                Ok(web_sys::Response::from(self.send(&req, cancel).await?))
            })
        };
        super::download::get_resumable(&fetch, expected, cancel).await
    }

    async fn put_audio(
        &self,
        upload: Upload<'_>,
        on_progress: &dyn Fn(&UploadSession),
        cancel: Option<&AbortSignal>,
    ) -> Result<(), Failure> {
        let size = upload.blob.size();
        let session = upload
            .session
            .clone()
            .filter(|s| s.backend == BACKEND && !s.url.is_empty());
        if size <= upload.chunk && session.is_none() {
            let body = self.blob_body(upload.blob).await?;
            self.put_object(upload.key, body, upload.content_type, cancel)
                .await?;
            on_progress(&UploadSession {
                sent: size,
                ..UploadSession::new(BACKEND, size)
            });
            return Ok(());
        }
        multipart::upload(self, upload, session, on_progress, cancel).await
    }

    async fn delete(&self, key: &str, cancel: Option<&AbortSignal>) -> Result<(), Failure> {
        match self
            .send(&Req::new(Method::DELETE, Some(key)), cancel)
            .await
        {
            Ok(r) => {
                let _ = r.text().await;
                Ok(())
            }
            Err(Failure::Status { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn refresh(&self) -> Result<(), Failure> {
        match &self.signer {
            Signer::Keys(k) => k.get(true, self.now()).await.map(drop),
            Signer::Presign(_) => Ok(()),
        }
    }
}

/// One `fetch` with a deadline and cancellation; any status is an answer. The signal is
/// [`http::Deadline`]'s, which works where `AbortSignal.any`/`timeout` are missing.
async fn exchange(
    request: RequestBuilder,
    body: Option<JsValue>,
    deadline_ms: u32,
    cancel: Option<&AbortSignal>,
) -> Result<Response, Failure> {
    let deadline = http::Deadline::new(deadline_ms, cancel);
    let result = http::exchange(request, body, &deadline).await;
    if result.is_err() {
        deadline.release();
    }
    result
}

fn network(e: gloo_net::Error) -> Failure {
    Failure::Network(e.to_string())
}

/// A JS error's text, for messages.
fn js_text(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| {
            Reflect::get(e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| "an error".to_owned())
}

/// A failure of this backend as the sync core sees it: S3's error code (carried in front of the
/// message) decides, else the status.
///
/// ```text
/// Err(e) => Outcome::Failed(s3::to_core(&e)),
/// ```
pub fn to_core(failure: &Failure) -> CoreFailure {
    match failure {
        Failure::Status {
            status,
            message,
            retry_after_ms,
        } => {
            let (class, code) = rules::meaning(*status, rules::code_of(message));
            CoreFailure::new(class, code, Some(*status), message.as_str())
                .with_retry_after(*retry_after_ms)
        }
        other => other.to_core(|s| rules::meaning(s, None).1),
    }
}

impl Remote for S3 {
    fn identity(&self) -> String {
        format!(
            "{BACKEND}:{}/{}/{}",
            self.endpoint.origin(),
            self.bucket,
            self.prefix
        )
    }

    fn check_chunk(&self, bytes: f64) -> Result<(), String> {
        rules::check_part(bytes)
    }

    fn list<'a>(
        &'a self,
        folder: &'a str,
        page: Option<&'a str>,
        signal: Option<&'a AbortSignal>,
    ) -> Call<'a, Listing> {
        Box::pin(self.list_page(folder, page, signal))
    }

    fn get_bytes<'a>(&'a self, key: &'a str, signal: Option<&'a AbortSignal>) -> Call<'a, Vec<u8>> {
        Box::pin(S3::get_bytes(self, key, signal))
    }

    fn put_bytes<'a>(
        &'a self,
        key: &'a str,
        bytes: &'a [u8],
        content_type: &'a str,
        signal: Option<&'a AbortSignal>,
    ) -> Call<'a, ()> {
        Box::pin(S3::put_bytes(self, key, bytes, content_type, signal))
    }

    fn head<'a>(&'a self, key: &'a str, signal: Option<&'a AbortSignal>) -> Call<'a, Option<u64>> {
        Box::pin(S3::head(self, key, signal))
    }

    fn put_audio<'a>(
        &'a self,
        upload: Upload<'a>,
        on_progress: &'a dyn Fn(&UploadSession),
        signal: Option<&'a AbortSignal>,
    ) -> Call<'a, ()> {
        Box::pin(S3::put_audio(self, upload, on_progress, signal))
    }

    fn get_audio<'a>(
        &'a self,
        key: &'a str,
        hash: &'a ContentHash,
        signal: Option<&'a AbortSignal>,
    ) -> Call<'a, Blob> {
        Box::pin(S3::get_audio(self, key, hash, signal))
    }

    fn delete<'a>(&'a self, key: &'a str, signal: Option<&'a AbortSignal>) -> Call<'a, ()> {
        Box::pin(S3::delete(self, key, signal))
    }

    fn refresh_token(&self) -> Call<'_, ()> {
        Box::pin(self.refresh())
    }

    fn to_core(&self, failure: &Failure) -> CoreFailure {
        to_core(failure)
    }
}
