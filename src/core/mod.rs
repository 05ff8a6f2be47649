//! The deterministic core of tapesync: no IO, no clock, no randomness read inside.
//!
//! Everything here compiles and is tested natively (`cargo test`), and is the same code that runs in the
//! browser. The browser adapters (`crate::browser`) feed it time, randomness and the outcomes of IO.

pub mod id;
pub mod recording;
