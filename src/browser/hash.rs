//! SHA-256 of a recording's audio, read in bounded chunks.
//!
//! WebCrypto's `digest` takes the whole input at once, which would put a 500 MB recording into
//! memory. Reading `Blob` slices and hashing them incrementally keeps wasm memory flat: one chunk
//! buffer, reused.

use sha2::{Digest, Sha256};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use super::error::{Error, Result};

/// Bytes read from the blob per step. Big enough that the per-slice overhead vanishes, small
/// enough to be a rounding error in wasm memory.
pub const CHUNK: usize = 1 << 20;

/// The lowercase hex SHA-256 of `blob`'s bytes.
///
/// ```text
/// let hash = hash::sha256_hex(&blob).await?;   // 64 lowercase hex digits
/// ```
pub async fn sha256_hex(blob: &web_sys::Blob) -> Result<String> {
    digest_hex(blob)
        .await
        .map_err(|e| Error::from_js("reading the audio", &e))
}

/// [`sha256_hex`] with the browser's own error: for callers outside the store (the remote checks
/// downloads with it before they are stored).
///
/// ```text
/// let hash = hash::digest_hex(&downloaded).await?;
/// ```
pub async fn digest_hex(blob: &web_sys::Blob) -> std::result::Result<String, JsValue> {
    let size = blob.size();
    let mut hasher = Sha256::new();
    let mut buf = Vec::new();
    let mut offset = 0f64;
    while offset < size {
        let end = (offset + CHUNK as f64).min(size);
        let slice = blob.slice_with_f64_and_f64(offset, end)?;
        let bytes = JsFuture::from(slice.array_buffer()).await?;
        let view = js_sys::Uint8Array::new(&bytes);
        buf.resize(view.length() as usize, 0);
        view.copy_to(&mut buf);
        hasher.update(&buf);
        offset = end;
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
