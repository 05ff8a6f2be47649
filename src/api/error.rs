//! Errors as JS sees them: an `Error` named `TapesyncError` with a stable `code`.

use js_sys::Reflect;
use wasm_bindgen::JsValue;

use crate::browser::error::Error;

/// Converts a browser-layer error into the JS `Error` apps catch.
pub fn to_js(error: Error) -> JsValue {
    let js = js_sys::Error::new(&error.message);
    js.set_name("TapesyncError");
    let _ = Reflect::set(&js, &"code".into(), &error.code.as_str().into());
    js.into()
}
