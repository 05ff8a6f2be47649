//! `S3Remote`: Amazon S3 or an S3-compatible store (R2, MinIO, B2, Wasabi) as a sync target.

use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::Handle;
use crate::api::error::to_js;
use crate::api::options::Options;
use crate::browser::error::{Error, Result};
use crate::browser::remote::check_base_url;
use crate::browser::remote::s3::rules::{self, Endpoint};
use crate::browser::remote::s3::{Config, Keys, Signer, DEFAULT_TIMEOUT_MS, S3};

/// S3 or an S3-compatible store as a sync target, spoken to over the S3 REST API. Requests are
/// signed in the page with the app's temporary `credentials`, or by the app's backend through
/// `presign`.
///
/// ```js
/// const remote = new S3Remote({
///   endpoint: "https://s3.eu-west-1.amazonaws.com",
///   region: "eu-west-1",
///   bucket: "my-recordings",
///   prefix: `users/${sub}/recordings`,
///   credentials: () => getTemporaryCredentials(),   // { accessKeyId, secretAccessKey, sessionToken, expiration }
/// });
/// const report = await store.sync(remote);
/// ```
#[wasm_bindgen]
pub struct S3Remote {
    handle: Handle,
}

#[wasm_bindgen]
impl S3Remote {
    /// Checks the options; throws a `TapesyncError` (`InvalidArgument`) when one is wrong.
    #[wasm_bindgen(constructor)]
    pub fn new(options: S3RemoteOptions) -> std::result::Result<S3Remote, JsValue> {
        let options: JsValue = options.into();
        Self::parse(&options).map_err(to_js)
    }

    /// Lets `store.sync(remote)` find this remote (see `remotes`); not part of the API.
    #[wasm_bindgen(getter, js_name = __tapesyncRemote, skip_typescript)]
    pub fn handle(&self) -> u32 {
        self.handle.id()
    }
}

impl S3Remote {
    fn parse(options: &JsValue) -> Result<S3Remote> {
        let what = "S3Remote options";
        let o = Options::new(
            options,
            what,
            &[
                "endpoint",
                "region",
                "bucket",
                "prefix",
                "pathStyle",
                "credentials",
                "presign",
                "timeoutMs",
            ],
        )?
        .ok_or_else(|| Error::invalid(format!("{what} must be an object")))?;
        let bad = |name: &str, why: &str| Error::invalid(format!("{what}.{name} {why}"));
        let url = o.string("endpoint")?.ok_or_else(|| {
            bad(
                "endpoint",
                "must be the store's URL, e.g. \"https://s3.eu-west-1.amazonaws.com\"",
            )
        })?;
        check_base_url(&url).map_err(|why| bad("endpoint", &why))?;
        let endpoint = Endpoint::parse(&url).map_err(|why| bad("endpoint", &why))?;
        let region = o
            .string("region")?
            .filter(|r| {
                !r.is_empty()
                    && r.len() <= 64
                    && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            .ok_or_else(|| bad("region", "must be a region name such as \"eu-west-1\""))?;
        let bucket = o
            .string("bucket")?
            .ok_or_else(|| bad("bucket", "must be a bucket name"))?;
        rules::check_bucket(&bucket).map_err(|why| bad("bucket", &why))?;
        let prefix = o.string("prefix")?.unwrap_or_default();
        let prefix = prefix.trim_matches('/').to_owned();
        rules::check_prefix(&prefix).map_err(|why| bad("prefix", &format!("{prefix:?} {why}")))?;
        let path_style = o
            .boolean("pathStyle")?
            .unwrap_or_else(|| rules::default_path_style(endpoint.host()));
        let signer = match (o.function("credentials")?, o.function("presign")?) {
            (Some(c), None) => Signer::Keys(Keys::new(c)),
            (None, Some(p)) => Signer::Presign(p),
            _ => {
                return Err(Error::invalid(format!(
                    "{what} must have either credentials (a function giving {{ accessKeyId, \
                     secretAccessKey, sessionToken, expiration }}) or presign (a function giving a URL)"
                )))
            }
        };
        let timeout_ms = o
            .positive_int("timeoutMs", 3_600_000)?
            .unwrap_or(DEFAULT_TIMEOUT_MS);
        let remote = S3::new(Config {
            endpoint,
            region,
            bucket,
            prefix,
            path_style,
            signer,
            timeout_ms,
        });
        Ok(S3Remote {
            handle: Handle::new(Rc::new(remote)),
        })
    }
}

#[wasm_bindgen]
extern "C" {
    /// `S3RemoteOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "S3RemoteOptions")]
    pub type S3RemoteOptions;
}
