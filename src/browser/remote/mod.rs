//! Cloud storage backends, spoken to over their REST APIs with `fetch`.

pub mod auth;
pub mod firebase;
pub mod http;
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
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UploadSession {
    /// The session's upload URL, as the server gave it.
    pub url: String,
    /// Bytes the server has acknowledged.
    pub sent: f64,
    /// The total size.
    pub size: f64,
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
