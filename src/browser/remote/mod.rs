//! Cloud storage backends, spoken to over their REST APIs with `fetch`, behind one interface.
//!
//! The driver needs a handful of things from a backend, named for what they do for a recording:
//! list a folder a page at a time, read and write small objects (log segments) create-only, learn
//! an object's size, upload audio with resume, download audio checked against its hash, delete,
//! refresh credentials, and say what each failure means ([`Remote::to_core`]). Each backend is
//! one module implementing [`Remote`]; nothing outside it knows which backend it is talking to.

use futures::future::LocalBoxFuture;
use web_sys::{AbortSignal, Blob};

use crate::core::engine::Failure as CoreFailure;
use crate::core::fields::ContentHash;
use http::Failure;

pub mod auth;
pub mod download;
pub mod firebase;
pub mod http;
pub mod s3;
pub mod supabase;
pub mod wire;

pub use wire::check_base_url;

/// One page of a folder listing: names relative to the folder listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// Objects directly in the folder.
    pub names: Vec<String>,
    /// Sub-folders directly in the folder.
    pub folders: Vec<String>,
    /// Where the next page starts, `None` on the last page.
    pub next_page_token: Option<String>,
}

/// A resumable upload in progress: kept in IndexedDB so an upload resumes after a reload.
///
/// Tagged with the backend that made it: a backend discards a session that is not its own.
/// Sessions stored before the tag existed were Firebase's.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UploadSession {
    /// The backend that made it (`"firebase"`, ...).
    #[serde(default = "firebase_tag")]
    pub backend: String,
    /// The session's upload URL, as the server gave it.
    pub url: String,
    /// Bytes the server has acknowledged.
    pub sent: f64,
    /// The total size.
    pub size: f64,
    /// When the server forgets the session (ms since 1970), if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<f64>,
    /// What the backend needs besides the URL to finish the upload (e.g. the parts' ETags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<String>,
}

impl UploadSession {
    /// A new session of `backend` for `size` bytes, nothing sent yet and no URL.
    pub fn new(backend: &str, size: f64) -> Self {
        UploadSession {
            backend: backend.to_owned(),
            url: String::new(),
            sent: 0.0,
            size,
            expires_at: None,
            parts: Vec::new(),
        }
    }
}

fn firebase_tag() -> String {
    "firebase".to_owned()
}

/// Audio to upload.
pub struct Upload<'a> {
    /// The object's key.
    pub key: &'a str,
    /// The bytes.
    pub blob: &'a web_sys::Blob,
    /// The `Content-Type` to store.
    pub content_type: &'a str,
    /// Bytes per request; audio larger than this goes up with the resumable protocol.
    pub chunk: f64,
    /// The resumable session to continue (kept by the caller across reloads).
    pub session: Option<UploadSession>,
}

/// A future a backend returns: local (wasm has one thread), boxed so that [`Remote`] can be used
/// as `dyn Remote`.
pub type Call<'a, T> = LocalBoxFuture<'a, Result<T, Failure>>;

/// A cloud storage backend seen through one prefix: every key is relative to it.
///
/// Writes of small objects are create-only where the backend can say so (and correct anyway by
/// the layout where it cannot); an answer that does not confirm what was asked is a
/// [`Failure::Invalid`], never a success.
pub trait Remote {
    /// What a store is bound to, e.g. `firebase:my-app.appspot.com/users/u1/recordings`.
    fn identity(&self) -> String;

    /// Whether `bytes` per request of a resumable upload suits this backend.
    fn check_chunk(&self, bytes: f64) -> Result<(), String>;

    /// One page of the objects and folders directly under `folder`.
    fn list<'a>(
        &'a self,
        folder: &'a str,
        page: Option<&'a str>,
        signal: Option<&'a AbortSignal>,
    ) -> Call<'a, Listing>;

    /// A small object's bytes (a log segment); a missing one is a 404 [`Failure::Status`].
    fn get_bytes<'a>(&'a self, key: &'a str, signal: Option<&'a AbortSignal>) -> Call<'a, Vec<u8>>;

    /// Writes a small object, create-only where the backend allows it.
    fn put_bytes<'a>(
        &'a self,
        key: &'a str,
        bytes: &'a [u8],
        content_type: &'a str,
        signal: Option<&'a AbortSignal>,
    ) -> Call<'a, ()>;

    /// The stored size of `key`, `None` if there is no such object.
    fn head<'a>(&'a self, key: &'a str, signal: Option<&'a AbortSignal>) -> Call<'a, Option<u64>>;

    /// Uploads audio, resuming `upload.session` where it can; `on_progress` gets the session after
    /// each chunk so that the caller can keep it.
    fn put_audio<'a>(
        &'a self,
        upload: Upload<'a>,
        on_progress: &'a dyn Fn(&UploadSession),
        signal: Option<&'a AbortSignal>,
    ) -> Call<'a, ()>;

    /// Downloads audio whose SHA-256 must be `hash` (checked before it is returned), bypassing
    /// the HTTP cache.
    fn get_audio<'a>(
        &'a self,
        key: &'a str,
        hash: &'a ContentHash,
        signal: Option<&'a AbortSignal>,
    ) -> Call<'a, Blob>;

    /// Deletes `key`; a missing object is not an error.
    fn delete<'a>(&'a self, key: &'a str, signal: Option<&'a AbortSignal>) -> Call<'a, ()>;

    /// Asks the app for fresh credentials now (the engine does after a 401).
    fn refresh_token(&self) -> Call<'_, ()>;

    /// A failure of this backend as the sync core sees it: the one conversion, status and code
    /// as data.
    fn to_core(&self, failure: &Failure) -> CoreFailure;
}
