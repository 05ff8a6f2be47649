//! Cloud storage backends, spoken to over their REST APIs with `fetch`.

pub mod auth;
pub mod firebase;
pub mod http;

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
