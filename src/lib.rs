//! tapesync: offline-first audio recordings for the web.
//!
//! Recordings are saved as `Blob`s with their metadata in IndexedDB and synced to cloud storage.
//! The crate has three layers:
//!
//! - [`core`]: the deterministic part (ids, the recording model, the sync engine), with no IO;
//!   built and tested natively.
//! - `browser` (wasm32 only): IndexedDB, the clock, randomness and events.
//! - `api` (wasm32 only): the wasm-bindgen classes that JS imports.

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod api;
#[cfg(target_arch = "wasm32")]
pub mod browser;
