//! tapesync: offline-first audio recordings for the web.
pub mod core;
