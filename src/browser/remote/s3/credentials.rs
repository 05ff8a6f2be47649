//! Signing by the app: its credentials for signing in the page (asked for when needed, again a
//! minute before they expire and once after S3 refuses their token; kept in memory only, never
//! stored or logged), or its backend's presigned URLs (checked to be on the request's origin).

use std::cell::RefCell;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::super::wire;
use super::sigv4::Credentials;
use super::{Failure, Req};

/// Credentials are asked for again this long before they expire.
const REFRESH_MARGIN_MS: f64 = 60_000.0;

/// The app's `credentials()` and the last credentials it gave (memory only).
///
/// ```text
/// let keys = Keys::new(credentials_function);
/// ```
pub struct Keys {
    get: Function,
    current: RefCell<Option<(Credentials, Option<f64>)>>,
    asking: RefCell<Option<Promise>>,
}

impl Keys {
    /// Wraps `() => ({ accessKeyId, secretAccessKey, sessionToken?, expiration? })` (or a Promise
    /// of it).
    ///
    /// ```text
    /// Signer::Keys(Keys::new(options.function("credentials")?))
    /// ```
    pub fn new(get: Function) -> Self {
        Keys {
            get,
            current: RefCell::new(None),
            asking: RefCell::new(None),
        }
    }

    /// The credentials to sign with at `now` (server time); `fresh` asks the app again.
    pub(super) async fn get(&self, fresh: bool, now: f64) -> Result<Credentials, Failure> {
        if !fresh {
            if let Some((c, exp)) = self.current.borrow().as_ref() {
                if exp.map_or(true, |e| now + REFRESH_MARGIN_MS < e) {
                    return Ok(c.clone());
                }
            }
        }
        let denied = |why: &str| Failure::status_only(401, format!("credentials() {why}"));
        let pending = self.asking.borrow().clone();
        let answer = match pending {
            Some(p) => p,
            None => {
                let value = self
                    .get
                    .call0(&JsValue::UNDEFINED)
                    .map_err(|_| denied("threw"))?;
                let p = Promise::resolve(&value);
                *self.asking.borrow_mut() = Some(p.clone());
                p
            }
        };
        let value = JsFuture::from(answer).await;
        self.asking.borrow_mut().take();
        let value = value.map_err(|_| denied("rejected"))?;
        let (creds, exp) = read_credentials(&value).map_err(|why| denied(&why))?;
        *self.current.borrow_mut() = Some((creds.clone(), exp));
        Ok(creds)
    }
}

/// Reads and checks what `credentials()` gave.
fn read_credentials(v: &JsValue) -> Result<(Credentials, Option<f64>), String> {
    if !v.is_object() {
        return Err("did not give an object".into());
    }
    let text = |name: &str| {
        Reflect::get(v, &name.into())
            .ok()
            .and_then(|s| s.as_string())
    };
    let printable =
        |s: &str| !s.is_empty() && s.len() <= 4096 && s.bytes().all(|b| b.is_ascii_graphic());
    let access = text("accessKeyId")
        // Any printable key id (MinIO's are the admin's choice) but '/' and ',', which would
        // break the Authorization header's Credential scope.
        .filter(|s| printable(s) && s.len() <= 128 && !s.contains(['/', ',']))
        .ok_or("gave no usable accessKeyId")?;
    let secret = text("secretAccessKey")
        .filter(|s| printable(s))
        .ok_or("gave no usable secretAccessKey")?;
    let token = Reflect::get(v, &"sessionToken".into()).unwrap_or(JsValue::UNDEFINED);
    let session_token = if token.is_undefined() || token.is_null() {
        None
    } else {
        Some(
            token
                .as_string()
                .filter(|s| printable(s))
                .ok_or("gave an unusable sessionToken")?,
        )
    };
    let e = Reflect::get(v, &"expiration".into()).unwrap_or(JsValue::UNDEFINED);
    let expiration = if e.is_undefined() || e.is_null() {
        None
    } else {
        let ms = if let Some(d) = e.dyn_ref::<js_sys::Date>() {
            d.get_time()
        } else if let Some(n) = e.as_f64() {
            n
        } else if let Some(s) = e.as_string() {
            js_sys::Date::parse(&s)
        } else {
            f64::NAN
        };
        if !ms.is_finite() {
            return Err(
                "gave an expiration that is not a Date, milliseconds or an ISO string".into(),
            );
        }
        Some(ms)
    };
    Ok((
        Credentials {
            access_key_id: access,
            secret_access_key: secret,
            session_token,
        },
        expiration,
    ))
}

/// Lifetime asked of a presigned URL (one request, one part at most).
const PRESIGN_SECONDS: u32 = 900;

/// Asks the app's backend (`presign`) for the URL of `req` on `full_key`; the URL must be on
/// `origin`, the request's own (tokens go only to their own service).
///
/// ```text
/// let url = presign(&f, &req, "users/u/log/d/0.json", "https://b.s3.amazonaws.com").await?;
/// ```
pub(super) async fn presign(
    f: &Function,
    req: &Req<'_>,
    full_key: &str,
    origin: &str,
) -> Result<String, Failure> {
    let denied = |why: &str| Failure::status_only(401, format!("presign() {why}"));
    let query = Object::new();
    for (k, v) in &req.query {
        let _ = Reflect::set(&query, &k.into(), &v.into());
    }
    let headers = Object::new();
    for (k, v) in &req.headers {
        let _ = Reflect::set(&headers, &k.into(), &v.into());
    }
    let arg = Object::new();
    let _ = Reflect::set(&arg, &"method".into(), &req.method.as_str().into());
    let _ = Reflect::set(&arg, &"key".into(), &full_key.into());
    let _ = Reflect::set(&arg, &"query".into(), &query);
    let _ = Reflect::set(&arg, &"headers".into(), &headers);
    let _ = Reflect::set(&arg, &"expiresIn".into(), &PRESIGN_SECONDS.into());
    let value = f
        .call1(&JsValue::UNDEFINED, &arg)
        .map_err(|_| denied("threw"))?;
    let url = JsFuture::from(Promise::resolve(&value))
        .await
        .map_err(|_| denied("rejected"))?
        .as_string()
        .ok_or_else(|| denied("did not give a URL string"))?;
    if !wire::same_origin(&url, origin) {
        return Err(denied("gave a URL that is not on the endpoint's origin"));
    }
    Ok(url)
}
