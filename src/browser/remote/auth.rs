//! Bearer tokens from the app: asked for when needed, asked again once after a 401, never stored.

use std::cell::RefCell;
use std::future::Future;

use js_sys::{Function, Promise};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use super::http::Failure;

/// The app's `getToken` and the last token it gave. The token lives in memory only: it is never
/// written to IndexedDB or to a log.
pub struct Auth {
    get_token: Function,
    current: RefCell<Option<String>>,
    /// The app's answer still awaited: concurrent requests share one `getToken()` call.
    asking: RefCell<Option<Promise>>,
}

impl Auth {
    /// Wraps the app's `() => Promise<string>` (a plain string return works too).
    pub fn new(get_token: Function) -> Self {
        Auth {
            get_token,
            current: RefCell::new(None),
            asking: RefCell::new(None),
        }
    }

    /// The token to send; `fresh` asks the app for a new one (after a 401).
    pub async fn token(&self, fresh: bool) -> Result<String, Failure> {
        if !fresh {
            if let Some(t) = self.current.borrow().clone() {
                return Ok(t);
            }
        }
        let denied = |why: &str| Failure::status_only(401, format!("getToken() {why}"));
        let pending = self.asking.borrow().clone();
        let answer = match pending {
            Some(p) => p,
            None => {
                let value = self
                    .get_token
                    .call0(&JsValue::UNDEFINED)
                    .map_err(|_| denied("threw"))?;
                // `Promise.resolve` takes a promise or a plain value alike.
                let p = Promise::resolve(&value);
                *self.asking.borrow_mut() = Some(p.clone());
                p
            }
        };
        let value = JsFuture::from(answer).await;
        self.asking.borrow_mut().take();
        let token = value
            .map_err(|_| denied("rejected"))?
            .as_string()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| denied("did not give a non-empty string"))?;
        *self.current.borrow_mut() = Some(token.clone());
        Ok(token)
    }

    /// Runs `send` with the current token; when it answers 401, asks the app for a fresh token
    /// and runs it once more. The one place a backend's token refresh happens.
    pub async fn with_token<T, F, Fut>(&self, mut send: F) -> Result<T, Failure>
    where
        F: FnMut(String) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut fresh = false;
        loop {
            let token = self.token(fresh).await?;
            match send(token).await {
                Err(Failure::Status { status: 401, .. }) if !fresh => fresh = true,
                other => return other,
            }
        }
    }
}
