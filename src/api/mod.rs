//! The JS API: thin wasm-bindgen classes over the browser layer.
//!
//! Every async method clones an `Rc` of the store and returns a `Promise`, so no `&self` borrow is
//! held across an await (overlapping JS calls would otherwise fail with "recursive use of an
//! object detected"). Arguments are checked here and errors become `TapesyncError`s.

mod capture;
mod error;
mod options;
mod playable;
mod remotes;
mod store;
mod sync;
mod types;

pub use capture::Capture;
pub use remotes::{FirebaseRemote, S3Remote, SupabaseRemote};
pub use store::RecordingStore;
pub use sync::AutoSync;
