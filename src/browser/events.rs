//! Change notifications: the `change` events a store fires after each committed local change.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;
use web_sys::{CustomEvent, CustomEventInit, EventTarget};

use super::broadcast::Broadcast;

/// What kind of change a `change` event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// Recordings were saved (including finished captures).
    Save,
    /// Metadata was edited.
    Update,
    /// Recordings were deleted.
    Delete,
    /// A content hash became known.
    Hash,
    /// A capture was started, grew, or was discarded.
    Capture,
    /// A sync changed recordings: pulled edits, downloaded audio, conflict copies.
    Sync,
    /// Recordings' audio was evicted from this device (`audioHere` became false).
    Evict,
}

impl ChangeKind {
    fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Save => "save",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
            ChangeKind::Hash => "hash",
            ChangeKind::Capture => "capture",
            ChangeKind::Sync => "sync",
            ChangeKind::Evict => "evict",
        }
    }
}

/// The store's event target. Listeners are the app's; the store only dispatches.
pub struct Events {
    target: EventTarget,
    /// The other stores of this database (see [`super::broadcast`]); `None` until
    /// [`Events::connect`], after [`Events::disconnect`], or without `BroadcastChannel`.
    broadcast: RefCell<Option<Broadcast>>,
    /// True while a `change` from another store is being fired.
    relaying: Rc<Cell<bool>>,
}

impl Events {
    /// A target with no listeners.
    pub fn new() -> super::error::Result<Self> {
        let target = EventTarget::new()
            .map_err(|e| super::error::Error::from_js("creating the store's event target", &e))?;
        Ok(Events {
            target,
            broadcast: RefCell::new(None),
            relaying: Rc::new(Cell::new(false)),
        })
    }

    /// Relays `change` to and from the other stores of database `name`, in every tab and worker.
    pub fn connect(&self, name: &str) {
        let target = self.target.clone();
        let broadcast = Broadcast::open(name, self.relaying.clone(), move |detail| {
            emit(&target, "change", detail)
        });
        *self.broadcast.borrow_mut() = broadcast;
    }

    /// Stops relaying (the store closed): nothing more is sent or received.
    pub fn disconnect(&self) {
        self.broadcast.borrow_mut().take();
    }

    /// Whether the `change` being fired came from another store of the database (another tab or
    /// worker): automatic syncs push only their own store's edits, or every tab would push each.
    pub fn relaying(&self) -> bool {
        self.relaying.get()
    }

    /// The target apps add listeners to.
    pub fn target(&self) -> &EventTarget {
        &self.target
    }

    /// Fires `change` with `{ kind, ids }` as its detail.
    pub fn changed(&self, kind: ChangeKind, ids: &[&str]) {
        let detail = Object::new();
        let _ = Reflect::set(&detail, &"kind".into(), &kind.as_str().into());
        let ids: Array = ids.iter().map(|id| JsValue::from_str(id)).collect();
        let _ = Reflect::set(&detail, &"ids".into(), &ids);
        // Posted first: a local listener may put something uncloneable on the detail.
        if let Some(broadcast) = self.broadcast.borrow().as_ref() {
            broadcast.post(&detail);
        }
        self.emit("change", &detail);
    }

    /// Fires a `CustomEvent` of `kind` with `detail`.
    pub fn emit(&self, kind: &str, detail: &JsValue) {
        emit(&self.target, kind, detail);
    }
}

fn emit(target: &EventTarget, kind: &str, detail: &JsValue) {
    let init = CustomEventInit::new();
    init.set_detail(detail);
    if let Ok(event) = CustomEvent::new_with_event_init_dict(kind, &init) {
        // A listener that throws must not break the store: dispatchEvent reports it to the
        // console and carries on.
        let _ = target.dispatch_event(&event);
    }
}
