//! `SupabaseRemote`: Supabase Storage as a sync target.

use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::Handle;
use crate::api::error::to_js;
use crate::api::options::Options;
use crate::browser::error::{Error, Result};
use crate::browser::remote::auth::Auth;
use crate::browser::remote::check_base_url;
use crate::browser::remote::supabase::{Supabase, DEFAULT_TIMEOUT_MS};
use crate::core::layout::Layout;

/// Supabase Storage as a sync target, spoken to over its REST API and TUS.
///
/// ```js
/// const remote = new SupabaseRemote({
///   url: "https://<project>.supabase.co",
///   apikey: SUPABASE_ANON_KEY,
///   bucket: "recordings",
///   prefix: `users/${user.id}/recordings`,
///   getToken: () => session.access_token,
/// });
/// const report = await store.sync(remote, { policy: "merge" });
/// ```
#[wasm_bindgen]
pub struct SupabaseRemote {
    handle: Handle,
}

#[wasm_bindgen]
impl SupabaseRemote {
    /// Checks the options; throws a `TapesyncError` (`InvalidArgument`) when one is wrong.
    #[wasm_bindgen(constructor)]
    pub fn new(options: SupabaseRemoteOptions) -> std::result::Result<SupabaseRemote, JsValue> {
        let options: JsValue = options.into();
        Self::parse(&options).map_err(to_js)
    }

    /// Lets `store.sync(remote)` find this remote (see `remotes`); not part of the API.
    #[wasm_bindgen(getter, js_name = __tapesyncRemote, skip_typescript)]
    pub fn handle(&self) -> u32 {
        self.handle.id()
    }
}

/// Whether `s` can travel as an HTTP header value as it is (printable ASCII, no spaces).
fn header_safe(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

impl SupabaseRemote {
    fn parse(options: &JsValue) -> Result<SupabaseRemote> {
        let what = "SupabaseRemote options";
        let o = Options::new(
            options,
            what,
            &["url", "apikey", "bucket", "prefix", "getToken", "timeoutMs"],
        )?
        .ok_or_else(|| Error::invalid(format!("{what} must be an object")))?;
        let url = o.string("url")?.ok_or_else(|| {
            Error::invalid(format!(
                "{what}.url must be the project URL, such as \"https://<project>.supabase.co\""
            ))
        })?;
        check_base_url(&url).map_err(|why| Error::invalid(format!("{what}.url {why}")))?;
        // The key itself is never put in a message.
        let apikey = o
            .string("apikey")?
            .filter(|k| header_safe(k))
            .ok_or_else(|| {
                Error::invalid(format!(
                "{what}.apikey must be the project's anon key (a non-empty string without spaces)"
            ))
            })?;
        let bucket = o
            .string("bucket")?
            .filter(|b| {
                !b.is_empty()
                    && b.len() <= 100
                    && b.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
            })
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{what}.bucket must be a bucket name such as \"recordings\" (letters, digits, '-', '_', '.')"
                ))
            })?;
        let prefix = o.string("prefix")?.unwrap_or_default();
        let prefix = prefix.trim_matches('/').to_owned();
        Layout::new(&prefix).map_err(|_| {
            Error::invalid(format!(
                "{what}.prefix {prefix:?} must be folders of letters, digits, '-', '_' and '.', separated by '/'"
            ))
        })?;
        let get_token = o.function("getToken")?.ok_or_else(|| {
            Error::invalid(format!(
                "{what}.getToken must be a function returning the user's access token (a string or a Promise of one)"
            ))
        })?;
        let timeout = o
            .positive_int("timeoutMs", 3_600_000)?
            .unwrap_or(DEFAULT_TIMEOUT_MS);
        let remote = Supabase::new(url, apikey, bucket, prefix, Auth::new(get_token), timeout);
        Ok(SupabaseRemote {
            handle: Handle::new(Rc::new(remote)),
        })
    }
}

#[wasm_bindgen]
extern "C" {
    /// `SupabaseRemoteOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "SupabaseRemoteOptions")]
    pub type SupabaseRemoteOptions;
}
