//! The store in a dedicated worker.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[path = "browser/broadcast_cases.rs"]
mod broadcast_cases;
#[path = "browser/store_cases.rs"]
mod store_cases;
#[path = "browser/support.rs"]
mod support;
