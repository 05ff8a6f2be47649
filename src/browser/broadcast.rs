//! Change notifications across tabs and workers: each store relays its `change` events to the
//! other stores of the same database (other tabs, workers, service workers, other store instances
//! of this tab) through a `BroadcastChannel`, where they fire `change` again.
//!
//! Why: IndexedDB tells no one else about a write, so a list shown in one tab went stale when
//! another tab, or the service worker's Background Sync, saved, edited or synced.
//!
//! - The message is the local event's detail, `{ kind, ids }`. What arrives is checked before it
//!   fires: another tab may run an older or newer tapesync, so a message of any other shape (an
//!   unknown kind, ids that are not recording ids) is dropped, never trusted or thrown on.
//! - A `BroadcastChannel` never delivers a message to the channel object that posted it, so a
//!   store does not hear its own changes twice.
//! - The channel closes with the store (`close()`, or when it is dropped), and its listener is
//!   removed then: a closed store neither sends nor receives.
//! - Where `BroadcastChannel` is missing (Safari before 15.4), the store works as before, with
//!   local `change` events only.
//!
//! ```text
//! // In Store::open, once the store exists:
//! store.events().connect(name);
//! // Events::changed then posts every local change, and fires the ones other tabs post.
//! ```

use std::cell::Cell;
use std::rc::Rc;

use gloo_events::EventListener;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BroadcastChannel, MessageEvent};

use crate::core::id::RecordingId;

/// The kinds of change a message may carry (`ChangeKind`'s names). Others are dropped.
const KINDS: [&str; 6] = ["save", "update", "delete", "hash", "capture", "sync"];

/// One store's end of its database's channel.
pub struct Broadcast {
    channel: BroadcastChannel,
    /// Removed on drop (gloo), before the channel closes.
    _listener: EventListener,
}

impl Broadcast {
    /// Joins the channel of database `name`; `None` where `BroadcastChannel` is missing or
    /// refuses (an opaque origin). Each valid message from another store is handed to `deliver`
    /// as a fresh `{ kind, ids }` detail, with `relaying` true while it runs.
    pub fn open(
        name: &str,
        relaying: Rc<Cell<bool>>,
        deliver: impl Fn(&JsValue) + 'static,
    ) -> Option<Broadcast> {
        // Detected first: a missing constructor would surface as a ReferenceError.
        let ctor = Reflect::get(&js_sys::global(), &"BroadcastChannel".into()).ok()?;
        if !ctor.is_function() {
            return None;
        }
        // Named after the database (`tapesync/{name}`), so stores of other names stay apart.
        let channel = BroadcastChannel::new(&format!("tapesync/{name}")).ok()?;
        let listener = EventListener::new(&channel, "message", move |event| {
            let Some(detail) = event
                .dyn_ref::<MessageEvent>()
                .and_then(|m| read(&m.data()))
            else {
                return;
            };
            relaying.set(true);
            deliver(&detail);
            relaying.set(false);
        });
        Some(Broadcast {
            channel,
            _listener: listener,
        })
    }

    /// Tells the other stores of this database about a committed change.
    pub fn post(&self, detail: &JsValue) {
        // Fails only once the channel is closed, when there is no one to tell.
        let _ = self.channel.post_message(detail);
    }
}

impl Drop for Broadcast {
    fn drop(&mut self) {
        self.channel.close();
    }
}

/// The `{ kind, ids }` of a message, rebuilt from checked parts, or `None` for any other shape.
fn read(data: &JsValue) -> Option<JsValue> {
    if !data.is_object() {
        return None;
    }
    // Structured-cloned data has no getters or proxies: these reads cannot run foreign code.
    let kind = Reflect::get(data, &"kind".into()).ok()?.as_string()?;
    let kind = KINDS.iter().find(|k| **k == kind)?;
    let ids = Reflect::get(data, &"ids".into()).ok()?;
    if !Array::is_array(&ids) {
        return None;
    }
    let ids: Array = ids.unchecked_into();
    let checked = Array::new();
    for id in ids.iter() {
        let id = id.as_string()?;
        RecordingId::parse(&id).ok()?;
        checked.push(&id.into());
    }
    let detail = Object::new();
    Reflect::set(&detail, &"kind".into(), &(*kind).into()).ok()?;
    Reflect::set(&detail, &"ids".into(), &checked).ok()?;
    Some(detail.into())
}
