//! The remote classes apps construct (`FirebaseRemote`, ...), and how a sync finds the backend
//! behind the one it is handed.
//!
//! `store.sync(remote)` takes any of them. wasm-bindgen cannot borrow "one of several exported
//! classes" from a `JsValue`, so each remote registers its backend under a number, exposed to
//! JS as a hidden getter, for as long as the JS object lives (until it is garbage-collected or
//! freed).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::Reflect;
use wasm_bindgen::JsValue;

use super::sync::Target;
use crate::browser::error::{Error, Result};
use crate::browser::remote::Remote;

mod firebase;
mod s3;
mod supabase;

pub use firebase::FirebaseRemote;
pub use s3::S3Remote;
pub use supabase::SupabaseRemote;

thread_local! {
    /// The live remotes by number: an app has a few, so a list (a `HashMap` instance here would
    /// cost more wasm than it saves time: issue 14).
    static REMOTES: RefCell<Vec<(u32, Target)>> = const { RefCell::new(Vec::new()) };
    static NEXT: Cell<u32> = const { Cell::new(1) };
}

/// A remote's place in the registry, released when the remote class is dropped.
pub(crate) struct Handle(u32);

impl Handle {
    pub(crate) fn new(remote: Rc<dyn Remote>) -> Handle {
        let id = NEXT.with(|n| {
            let id = n.get();
            n.set(id.wrapping_add(1).max(1));
            id
        });
        REMOTES.with(|r| r.borrow_mut().push((id, remote)));
        Handle(id)
    }

    pub(crate) fn id(&self) -> u32 {
        self.0
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        REMOTES.with(|r| r.borrow_mut().retain(|(id, _)| *id != self.0));
    }
}

/// The backend behind `value`, which must be a remote class of this module.
pub(crate) fn target_of(value: &JsValue) -> Result<Target> {
    let id = Reflect::get(value, &"__tapesyncRemote".into())
        .ok()
        .and_then(|v| v.as_f64());
    id.and_then(|id| {
        REMOTES.with(|r| {
            let id = id as u32;
            r.borrow()
                .iter()
                .find(|(n, _)| *n == id)
                .map(|(_, t)| t.clone())
        })
    })
    .ok_or_else(|| {
        Error::invalid(
            "the remote must be a FirebaseRemote, a SupabaseRemote or an S3Remote (not freed)",
        )
    })
}
