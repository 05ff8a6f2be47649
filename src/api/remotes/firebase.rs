//! `FirebaseRemote`: Firebase Storage as a sync target.

use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::Handle;
use crate::api::error::to_js;
use crate::api::options::Options;
use crate::browser::error::{Error, Result};
use crate::browser::remote::auth::Auth;
use crate::browser::remote::check_base_url;
use crate::browser::remote::firebase::{Firebase, DEFAULT_BASE_URL, DEFAULT_TIMEOUT_MS};
use crate::core::layout::Layout;

/// Firebase Storage as a sync target, spoken to over its REST API.
///
/// ```js
/// const remote = new FirebaseRemote({
///   bucket: "my-app.appspot.com",
///   prefix: `users/${user.uid}/recordings`,
///   getToken: () => user.getIdToken(),
/// });
/// const report = await store.sync(remote, { policy: "merge" });
/// ```
#[wasm_bindgen]
pub struct FirebaseRemote {
    handle: Handle,
}

#[wasm_bindgen]
impl FirebaseRemote {
    /// Checks the options; throws a `TapesyncError` (`InvalidArgument`) when one is wrong.
    #[wasm_bindgen(constructor)]
    pub fn new(options: FirebaseRemoteOptions) -> std::result::Result<FirebaseRemote, JsValue> {
        let options: JsValue = options.into();
        Self::parse(&options).map_err(to_js)
    }

    /// Lets `store.sync(remote)` find this remote (see `remotes`); not part of the API.
    #[wasm_bindgen(getter, js_name = __tapesyncRemote, skip_typescript)]
    pub fn handle(&self) -> u32 {
        self.handle.id()
    }
}

impl FirebaseRemote {
    fn parse(options: &JsValue) -> Result<FirebaseRemote> {
        let what = "FirebaseRemote options";
        let o = Options::new(
            options,
            what,
            &["bucket", "prefix", "getToken", "baseUrl", "timeoutMs"],
        )?
        .ok_or_else(|| Error::invalid(format!("{what} must be an object")))?;
        let bucket = o
            .string("bucket")?
            .filter(|b| !b.is_empty() && !b.contains('/'))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{what}.bucket must be a bucket name such as \"my-app.appspot.com\""
                ))
            })?;
        let prefix = o.string("prefix")?.unwrap_or_default();
        let prefix = prefix.trim_matches('/').to_owned();
        Layout::new(&prefix).map_err(|_| {
            Error::invalid(format!(
                "{what}.prefix {prefix:?} must be folders of letters, digits, '-', '_', '.' and ':', separated by '/'"
            ))
        })?;
        let get_token = o.function("getToken")?.ok_or_else(|| {
            Error::invalid(format!(
                "{what}.getToken must be a function returning a Promise<string>"
            ))
        })?;
        let base = o
            .string("baseUrl")?
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        check_base_url(&base).map_err(|why| Error::invalid(format!("{what}.baseUrl {why}")))?;
        let timeout = o
            .positive_int("timeoutMs", 3_600_000)?
            .unwrap_or(DEFAULT_TIMEOUT_MS);
        let remote = Firebase::new(base, bucket, prefix, Auth::new(get_token), timeout);
        Ok(FirebaseRemote {
            handle: Handle::new(Rc::new(remote)),
        })
    }
}

#[wasm_bindgen]
extern "C" {
    /// `FirebaseRemoteOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "FirebaseRemoteOptions")]
    pub type FirebaseRemoteOptions;
}
