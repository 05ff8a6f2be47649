//! The deterministic core of tapesync: no IO, no clock, no randomness read inside.
//!
//! Everything here compiles and is tested natively (`cargo test`), and is the same code that runs in the
//! browser. The browser adapters (`crate::browser`) feed it time, randomness and the outcomes of IO.

pub mod backoff;
pub mod commit;
pub mod device;
pub mod engine;
pub mod entry;
pub mod error_class;
pub mod fields;
pub mod hlc;
pub mod id;
pub mod layout;
pub mod log;
pub mod merge;
pub mod recording;
pub mod state;
