//! The deterministic multi-device simulator behind `tests/simulation.rs`.

pub mod cloud;
pub mod model;
pub mod rng;
pub mod scenario;
pub mod world;
