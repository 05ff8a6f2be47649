//! Supabase Storage over its REST API and its TUS resumable endpoint, with `fetch`.
//!
//! Objects are `{prefix}/{key}` in one bucket of the project at `url` (storage at
//! `{url}/storage/v1`). Every request carries the project's `apikey` and the user's JWT as
//! `Authorization: Bearer`; authorization is the project's row-level security (see
//! `supabase/storage-policies.sql`). Writes are create-only (`x-upsert: false`): an "already
//! exists" refusal (Duplicate, status 409) goes to the engine, which reads the stored size before
//! concluding. Audio above one 6 MiB chunk goes up with TUS, its upload URL kept by the caller so
//! an upload resumes after a reload.
//!
//! Nothing the server answers is taken on trust: an upload counts only when the answer names our
//! object, and a TUS upload only when the server's offset reached the length and the object's
//! info shows our size; offsets are bounds-checked; downloads are checked against their SHA-256;
//! upload URLs get the token only on the configured origin.

use std::cell::Cell;

use gloo_net::http::{Method, RequestBuilder, Response};
use js_sys::Uint8Array;
use wasm_bindgen::JsValue;
use web_sys::{AbortSignal, Blob, RequestCache};

use super::auth::Auth;
use super::download;
use super::http::{self, Failure};
use super::wire;
use super::{Call, Listing, Remote, Upload, UploadSession};
use crate::core::engine::Failure as CoreFailure;
use crate::core::fields::ContentHash;

pub mod rules;
mod upload;

use rules::Page;

/// Default deadline for one request, which moves at most one chunk.
pub const DEFAULT_TIMEOUT_MS: u32 = 120_000;

/// The tag of this backend's upload sessions and bindings.
const BACKEND: &str = "supabase";

/// How long Supabase keeps an unfinished TUS upload URL.
const SESSION_LIFETIME_MS: f64 = 24.0 * 60.0 * 60.0 * 1000.0;

/// Rows per listing page (list-v2 and v1 alike).
const PAGE: u64 = 1000;

/// A Supabase Storage bucket seen through one prefix.
pub struct Supabase {
    /// The project URL, without a trailing `/`.
    url: String,
    /// Sent as the `apikey` header only; never logged.
    apikey: String,
    bucket: String,
    prefix: String,
    auth: Auth,
    timeout_ms: u32,
    /// Set once list-v2 answered 404: the server predates it, list (v1) with offsets instead.
    list_v1: Cell<bool>,
}

impl Supabase {
    /// A remote on `bucket` of the project at `url` (which should have passed
    /// [`super::check_base_url`]) under `prefix` (no leading or trailing `/`).
    ///
    /// ```text
    /// Supabase::new("https://abc.supabase.co".into(), anon_key, "recordings".into(), "users/u1/recordings".into(), auth, DEFAULT_TIMEOUT_MS)
    /// ```
    pub fn new(
        url: String,
        apikey: String,
        bucket: String,
        prefix: String,
        auth: Auth,
        timeout_ms: u32,
    ) -> Self {
        Supabase {
            url: url.trim_end_matches('/').to_owned(),
            apikey,
            bucket,
            prefix,
            auth,
            timeout_ms,
            list_v1: Cell::new(false),
        }
    }

    fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    fn storage(&self) -> String {
        format!("{}/storage/v1", self.url)
    }

    /// `{storage}/object/{route}{bucket}/{name}`, each path segment percent-encoded.
    fn object_url(&self, route: &str, key: &str) -> String {
        let path: Vec<String> = self.name(key).split('/').map(encode).collect();
        format!(
            "{}/object/{route}{}/{}",
            self.storage(),
            encode(&self.bucket),
            path.join("/")
        )
    }

    fn tus_url(&self) -> String {
        format!("{}/upload/resumable", self.storage())
    }

    /// Whether `url` (handed to us by the server) is on the configured origin, so it may get
    /// the token.
    fn ours(&self, url: &str) -> bool {
        wire::same_origin(url, &self.url)
    }

    /// Sends one request with the apikey and the current token. A 401, or the expired-JWT
    /// answer, asks the app for a fresh token and tries once more; an expired JWT still refused
    /// then is a 401 to the engine.
    async fn call(
        &self,
        build: impl Fn() -> RequestBuilder,
        body: Option<JsValue>,
        cancel: Option<&AbortSignal>,
    ) -> Result<Response, Failure> {
        let (build, body) = (&build, &body);
        self.auth
            .with_token(|token| async move {
                let request = build()
                    .header("apikey", &self.apikey)
                    .header("Authorization", &format!("Bearer {token}"));
                match http::send(request, body.clone(), self.timeout_ms, cancel).await {
                    Err(e) if rules::is_expired_jwt(&e) => Err(Failure::Status {
                        status: 401,
                        message: rules::EXPIRED_JWT.to_owned(),
                        retry_after_ms: e.retry_after_ms(),
                    }),
                    other => other,
                }
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

    /// One page of the objects and folders directly under `dir`: list-v2 with its cursor, or
    /// list (v1) with offsets on a server without list-v2 (which answers 404 there).
    ///
    /// ```text
    /// let page = remote.list("log", None, signal).await?;
    /// ```
    pub async fn list(
        &self,
        dir: &str,
        page: Option<&str>,
        cancel: Option<&AbortSignal>,
    ) -> Result<Listing, Failure> {
        let mut prefix = self.name(dir);
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        let page = Page::parse(page);
        if !self.list_v1.get() && !matches!(page, Some(Page::Offset(_))) {
            let cursor = match &page {
                Some(Page::Cursor(c)) => Some(c.as_str()),
                _ => None,
            };
            let mut body = serde_json::json!({
                "prefix": prefix, "with_delimiter": true, "limit": PAGE,
                "sortBy": { "column": "name", "order": "asc" },
            });
            if let Some(c) = cursor {
                body["cursor"] = c.into();
            }
            match self
                .post_json(&format!("list-v2/{}", encode(&self.bucket)), &body, cancel)
                .await
            {
                Ok(text) => {
                    return rules::parse_list_v2(&text, &prefix, cursor).map_err(Failure::invalid)
                }
                // No list-v2 here: its path is the upload route, into a bucket named "list-v2".
                Err(Failure::Status { status: 404, .. }) if cursor.is_none() => {
                    self.list_v1.set(true)
                }
                Err(e) => return Err(e),
            }
        }
        let offset = match page {
            Some(Page::Offset(n)) => n,
            _ => 0,
        };
        let body = serde_json::json!({
            "prefix": prefix, "limit": PAGE, "offset": offset,
            "sortBy": { "column": "name", "order": "asc" },
        });
        let text = self
            .post_json(&format!("list/{}", encode(&self.bucket)), &body, cancel)
            .await?;
        rules::parse_list_v1(&text, offset, PAGE).map_err(Failure::invalid)
    }

    /// POSTs `body` as JSON to `{storage}/object/{route}` and reads the answer's text.
    async fn post_json(
        &self,
        route: &str,
        body: &serde_json::Value,
        cancel: Option<&AbortSignal>,
    ) -> Result<String, Failure> {
        let url = format!("{}/object/{route}", self.storage());
        let text = body.to_string();
        let response = self
            .call(
                || {
                    RequestBuilder::new(&url)
                        .method(Method::POST)
                        .header("Content-Type", "application/json")
                        .cache(RequestCache::NoStore)
                },
                Some(text.into()),
                cancel,
            )
            .await?;
        response
            .text()
            .await
            .map_err(|e| Failure::Network(e.to_string()))
    }

    /// The bytes of a small object (a log segment), from the authenticated route, bypassing the
    /// HTTP cache. A missing object (or one RLS hides) is a 404.
    ///
    /// ```text
    /// let bytes = remote.get_bytes("log/d1/00000000000000000000.json", signal).await?;
    /// ```
    pub async fn get_bytes(
        &self,
        key: &str,
        cancel: Option<&AbortSignal>,
    ) -> Result<Vec<u8>, Failure> {
        let url = self.object_url("authenticated/", key);
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

    /// The stored size of `key` from the info route, `None` if there is none (or RLS hides it).
    ///
    /// ```text
    /// match remote.head(&key, signal).await? { Some(size) => .., None => .. }
    /// ```
    pub async fn head(
        &self,
        key: &str,
        cancel: Option<&AbortSignal>,
    ) -> Result<Option<u64>, Failure> {
        let url = self.object_url("info/authenticated/", key);
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
        rules::info_size(&text, &self.bucket, &self.name(key))
            .map(Some)
            .map_err(Failure::invalid)
    }

    /// A recording's audio as a `Blob` from the authenticated route, bypassing the HTTP cache,
    /// returned only if its SHA-256 is `expected` (else a [`Failure::Invalid`]: Retryable).
    ///
    /// ```text
    /// let blob = remote.get_audio(&key, &hash, signal).await?;
    /// ```
    pub async fn get_audio(
        &self,
        key: &str,
        expected: &ContentHash,
        cancel: Option<&AbortSignal>,
    ) -> Result<Blob, Failure> {
        let url = self.object_url("authenticated/", key);
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

    /// Writes a small object create-only (`x-upsert: false`); done when the answer names it.
    /// "Already exists" is a 409 the engine resolves by reading the stored size.
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
        self.post_object(key, body, content_type, cancel).await
    }

    async fn post_object(
        &self,
        key: &str,
        body: JsValue,
        content_type: &str,
        cancel: Option<&AbortSignal>,
    ) -> Result<(), Failure> {
        let url = self.object_url("", key);
        let response = self
            .call(
                || {
                    RequestBuilder::new(&url)
                        .method(Method::POST)
                        .header("Content-Type", content_type)
                        .header("Cache-Control", "max-age=3600")
                        .header("x-upsert", "false")
                },
                Some(body),
                cancel,
            )
            .await?;
        let text = response
            .text()
            .await
            .map_err(|e| Failure::Network(e.to_string()))?;
        rules::check_uploaded(&text, &self.bucket, &self.name(key)).map_err(Failure::invalid)
    }

    /// Deletes `key` (`DELETE /object/{bucket}` with `{prefixes}`); a missing one is no error.
    ///
    /// ```text
    /// remote.delete(&key, signal).await?;
    /// ```
    pub async fn delete(&self, key: &str, cancel: Option<&AbortSignal>) -> Result<(), Failure> {
        let url = format!("{}/object/{}", self.storage(), encode(&self.bucket));
        let body = serde_json::json!({ "prefixes": [self.name(key)] }).to_string();
        let response = self
            .call(
                || {
                    RequestBuilder::new(&url)
                        .method(Method::DELETE)
                        .header("Content-Type", "application/json")
                },
                Some(body.into()),
                cancel,
            )
            .await?;
        // The deleted rows ([] when there was nothing: gone already, or not ours to see).
        let _ = response.text().await;
        Ok(())
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

impl Remote for Supabase {
    fn identity(&self) -> String {
        format!("{BACKEND}:{}/{}/{}", self.url, self.bucket, self.prefix)
    }

    fn check_chunk(&self, bytes: f64) -> Result<(), String> {
        rules::check_chunk(bytes)
    }

    fn list<'a>(
        &'a self,
        folder: &'a str,
        page: Option<&'a str>,
        signal: Option<&'a AbortSignal>,
    ) -> Call<'a, Listing> {
        Box::pin(Supabase::list(self, folder, page, signal))
    }

    fn get_bytes<'a>(&'a self, key: &'a str, signal: Option<&'a AbortSignal>) -> Call<'a, Vec<u8>> {
        Box::pin(Supabase::get_bytes(self, key, signal))
    }

    fn put_bytes<'a>(
        &'a self,
        key: &'a str,
        bytes: &'a [u8],
        content_type: &'a str,
        signal: Option<&'a AbortSignal>,
    ) -> Call<'a, ()> {
        Box::pin(Supabase::put_bytes(self, key, bytes, content_type, signal))
    }

    fn head<'a>(&'a self, key: &'a str, signal: Option<&'a AbortSignal>) -> Call<'a, Option<u64>> {
        Box::pin(Supabase::head(self, key, signal))
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
        Box::pin(Supabase::get_audio(self, key, hash, signal))
    }

    fn delete<'a>(&'a self, key: &'a str, signal: Option<&'a AbortSignal>) -> Call<'a, ()> {
        Box::pin(Supabase::delete(self, key, signal))
    }

    fn refresh_token(&self) -> Call<'_, ()> {
        Box::pin(Supabase::refresh_token(self))
    }

    fn to_core(&self, failure: &Failure) -> CoreFailure {
        failure.to_core(rules::supabase_code)
    }
}
