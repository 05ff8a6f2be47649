//! The IO adapters: IndexedDB, the browser's clock and randomness, events. wasm32 only.

pub mod account;
pub mod audio;
pub mod broadcast;
pub mod capture;
pub mod compress;
pub mod counts;
pub mod driver;
pub mod entries;
pub mod error;
pub mod events;
pub mod eviction;
pub mod hash;
pub mod hashing;
pub mod idb;
pub mod landing;
pub mod listing;
pub mod lock;
pub mod platform;
pub mod remote;
pub mod schema;
pub mod staging;
pub mod store;
pub mod triggers;
