//! The pure rules of `src/browser/remote/wire.rs` (URL origins, loopback hosts, `Retry-After`,
//! upload offsets, MIME types, Firebase's status codes), tested natively: the rest of `browser` is
//! wasm32 only, this file is not.

/// `wire.rs` names the core as `crate::core`, which is this crate's `tapesync::core`.
pub use tapesync::core;

#[path = "../src/browser/remote/wire.rs"]
#[allow(dead_code)]
mod wire;
