//! Reading option objects passed from JS, with a clear `InvalidArgument` for every mistake.

use js_sys::{Array, Reflect};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

use crate::browser::error::{Error, Result};

/// How deep custom JSON may nest. Deeper values are almost surely a mistake (or a cycle).
const MAX_JSON_DEPTH: usize = 32;
/// The longest name or tag accepted, in UTF-16 units as JS counts them.
const MAX_TEXT: usize = 1024;

// Catching versions of what js-sys binds without `catch`: a revoked Proxy, a Proxy trap or a
// getter that throws would otherwise throw through the module's frames, out of the task that
// was running, and leave wasm-bindgen-futures' queue stuck: every later promise of the module
// then hung (found by tests/js/fuzz.test.mjs). Everything read from an app's value goes through
// a catching call.
#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = Object, js_name = keys)]
    fn try_keys(value: &JsValue) -> std::result::Result<Array, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Object, js_name = entries)]
    fn try_entries(value: &JsValue) -> std::result::Result<Array, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Object, js_name = getPrototypeOf)]
    fn try_prototype_of(value: &JsValue) -> std::result::Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Array, js_name = isArray)]
    fn try_is_array(value: &JsValue) -> std::result::Result<bool, JsValue>;
    #[wasm_bindgen(catch, js_namespace = JSON, js_name = stringify)]
    fn try_stringify(value: &JsValue) -> std::result::Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_namespace = JSON, js_name = parse)]
    fn try_parse(text: &JsValue) -> std::result::Result<JsValue, JsValue>;
}

/// The items of the array `v`, each read once, or `None` when reading them throws (a Proxy).
fn items_of(v: &JsValue) -> Option<Vec<JsValue>> {
    let length = Reflect::get(v, &"length".into()).ok()?.as_f64()?;
    if !(0.0..=u32::MAX as f64).contains(&length) {
        return None;
    }
    (0..length as u32)
        .map(|i| Reflect::get_u32(v, i).ok())
        .collect()
}

/// An options object: only the listed keys are allowed, so a typo is an error, not a silent no-op.
pub struct Options {
    obj: JsValue,
    what: &'static str,
}

impl Options {
    /// Reads `value` as the options `what`; `undefined` and `null` mean no options.
    pub fn new(value: &JsValue, what: &'static str, allowed: &[&str]) -> Result<Option<Options>> {
        if value.is_undefined() || value.is_null() {
            return Ok(None);
        }
        if !is_plain_object(value) {
            return Err(Error::invalid(format!("{what} must be an object")));
        }
        let keys = try_keys(value).map_err(|_| Error::invalid(format!("{what} cannot be read")))?;
        for key in keys.iter() {
            let key = key.as_string().unwrap_or_default();
            if !allowed.contains(&key.as_str()) {
                return Err(Error::invalid(format!(
                    "{what} has no option {key:?}; the options are {}",
                    allowed.join(", ")
                )));
            }
        }
        Ok(Some(Options {
            obj: value.clone(),
            what,
        }))
    }

    /// Whether the app gave `key` (a value other than `undefined` or `null`).
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The value of `key`; `undefined` and `null` both mean "absent", as the API returns `null`
    /// for "none" (a last page's `cursor`, say) and must take it back.
    fn get(&self, key: &str) -> Option<JsValue> {
        self.raw(key).filter(|v| !v.is_null())
    }

    fn raw(&self, key: &str) -> Option<JsValue> {
        Reflect::get(&self.obj, &key.into())
            .ok()
            .filter(|v| !v.is_undefined())
    }

    fn bad(&self, key: &str, expected: &str) -> Error {
        Error::invalid(format!("{}.{key} must be {expected}", self.what))
    }

    /// A function option.
    pub fn function(&self, key: &str) -> Result<Option<js_sys::Function>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        v.dyn_into()
            .map(Some)
            .map_err(|_| self.bad(key, "a function"))
    }

    /// A boolean option.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        v.as_bool()
            .map(Some)
            .ok_or_else(|| self.bad(key, "true or false"))
    }

    /// An `AbortSignal` option.
    pub fn signal(&self, key: &str) -> Result<Option<web_sys::AbortSignal>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        v.dyn_into()
            .map(Some)
            .map_err(|_| self.bad(key, "an AbortSignal"))
    }

    /// A string option of at most 1024 characters.
    pub fn string(&self, key: &str) -> Result<Option<String>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match v.as_string() {
            Some(s) if s.encode_utf16().count() <= MAX_TEXT => Ok(Some(s)),
            _ => Err(self.bad(key, "a string of at most 1024 characters")),
        }
    }

    /// One of `choices`.
    pub fn choice(&self, key: &str, choices: &[&str]) -> Result<Option<String>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match v.as_string() {
            Some(s) if choices.contains(&s.as_str()) => Ok(Some(s)),
            _ => Err(self.bad(key, &format!("one of {}", choices.join(", ")))),
        }
    }

    /// A finite number that is at least `min`.
    pub fn number(&self, key: &str, min: f64) -> Result<Option<f64>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match v.as_f64() {
            Some(n) if n.is_finite() && n >= min => Ok(Some(n)),
            _ => Err(self.bad(key, &format!("a finite number of at least {min}"))),
        }
    }

    /// Like [`Options::number`], and `null` clears the value: `Some(None)`.
    pub fn nullable_number(&self, key: &str, min: f64) -> Result<Option<Option<f64>>> {
        match self.raw(key) {
            Some(v) if v.is_null() => Ok(Some(None)),
            _ => Ok(self.number(key, min)?.map(Some)),
        }
    }

    /// A time: milliseconds since the epoch, or a valid `Date`.
    pub fn time(&self, key: &str) -> Result<Option<f64>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let ms = match v.dyn_ref::<js_sys::Date>() {
            Some(d) => d.get_time(),
            None => v.as_f64().unwrap_or(f64::NAN),
        };
        if ms.is_finite() {
            Ok(Some(ms))
        } else {
            Err(self.bad(key, "a Date or a number of milliseconds since 1970"))
        }
    }

    /// An integer in `1..=max`.
    pub fn positive_int(&self, key: &str, max: u32) -> Result<Option<u32>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match v.as_f64() {
            Some(n) if n.fract() == 0.0 && n >= 1.0 && n <= max as f64 => Ok(Some(n as u32)),
            _ => Err(self.bad(key, &format!("an integer from 1 to {max}"))),
        }
    }

    /// An array of at most 256 strings of 1 to 1024 characters.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let expected = "an array of at most 256 non-empty strings";
        if !try_is_array(&v).unwrap_or(false) {
            return Err(self.bad(key, expected));
        }
        let length = Reflect::get(&v, &"length".into())
            .ok()
            .and_then(|n| n.as_f64());
        if !length.is_some_and(|n| n <= 256.0) {
            return Err(self.bad(key, expected));
        }
        let Some(items) = items_of(&v) else {
            return Err(self.bad(key, expected));
        };
        items
            .into_iter()
            .map(|item| match item.as_string() {
                Some(s) if !s.is_empty() && s.encode_utf16().count() <= MAX_TEXT => Ok(s),
                _ => Err(self.bad(key, expected)),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// A plain object whose values are JSON: null, booleans, finite numbers, strings, arrays and
    /// plain objects. It is stored as given, so it must survive `JSON.stringify` unchanged when it
    /// is synced.
    pub fn json_object(&self, key: &str) -> Result<Option<JsValue>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        if !is_plain_object(&v) {
            return Err(self.bad(key, "a plain object of JSON values"));
        }
        let not_json = |path: String| {
            Error::invalid(format!(
                "{}.{key}{path} is not JSON (null, boolean, finite number, string, array or plain \
                 object, nested at most {MAX_JSON_DEPTH} deep)",
                self.what
            ))
        };
        check_json(&v, 0).map_err(not_json)?;
        // What is kept is a copy, checked again: getters that give another value on each read
        // cannot slip a value past the checks (and the limits the caller checks on this copy).
        let copy = try_stringify(&v)
            .and_then(|text| try_parse(&text))
            .map_err(|_| not_json(String::new()))?;
        check_json(&copy, 0).map_err(not_json)?;
        Ok(Some(copy))
    }
}

/// An object created by `{}` or `Object.create(null)`: not an array, a class instance or a Date.
fn is_plain_object(v: &JsValue) -> bool {
    if !v.is_object() || try_is_array(v).unwrap_or(true) {
        return false;
    }
    // A plain object's prototype is `Object.prototype`, of this realm or of another (an iframe, an
    // extension's or a WebDriver's sandbox), whose own prototype is null; or it has none.
    match try_prototype_of(v) {
        Ok(proto) => proto.is_null() || try_prototype_of(&proto).is_ok_and(|p| p.is_null()),
        Err(_) => false,
    }
}

/// `Ok` when `v` is JSON; otherwise the path to the first offending value.
fn check_json(v: &JsValue, depth: usize) -> std::result::Result<(), String> {
    if depth > MAX_JSON_DEPTH {
        return Err(String::new());
    }
    if v.is_null() || v.as_bool().is_some() || v.as_string().is_some() {
        return Ok(());
    }
    if let Some(n) = v.as_f64() {
        return if n.is_finite() {
            Ok(())
        } else {
            Err(String::new())
        };
    }
    if try_is_array(v).unwrap_or(false) {
        let items = items_of(v).ok_or_else(String::new)?;
        for (i, item) in items.iter().enumerate() {
            check_json(item, depth + 1).map_err(|p| format!("[{i}]{p}"))?;
        }
        return Ok(());
    }
    if is_plain_object(v) {
        // Symbol keys and getters are not JSON either: `entries` reads own enumerable string keys.
        for entry in try_entries(v).map_err(|_| String::new())?.iter() {
            let pair: Array = entry.unchecked_into();
            let key = pair.get(0).as_string().unwrap_or_default();
            check_json(&pair.get(1), depth + 1).map_err(|p| format!(".{key}{p}"))?;
        }
        return Ok(());
    }
    Err(String::new())
}
