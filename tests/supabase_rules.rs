//! The pure rules of `src/browser/remote/supabase/rules.rs` (error codes, the expired-JWT answer, listings, info
//! and upload answers, TUS offsets and metadata, the chunk rule), tested natively: the rest of `browser` is wasm32
//! only, this file is not.

/// `rules.rs` names the core as `crate::core`, which is this crate's `tapesync::core`.
pub use tapesync::core;

/// The parts of `src/browser/remote` that `rules.rs` names as `super::super::...`.
#[allow(dead_code)]
#[path = "../src/browser/remote"]
mod remote {
    pub mod wire;

    /// The same shape as `remote::Listing` (which lives with the wasm-only code).
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct Listing {
        pub names: Vec<String>,
        pub folders: Vec<String>,
        pub next_page_token: Option<String>,
    }

    pub mod supabase {
        pub mod rules;
    }
}
