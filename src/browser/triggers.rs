//! What starts a sync by itself: the app starting, the network coming back, the page becoming
//! visible, and a timer. Listeners and the timer are owned and removed on drop (or `stop`).

use std::rc::Rc;

use gloo_events::EventListener;
use gloo_timers::callback::{Interval, Timeout};
use wasm_bindgen::JsCast;
use web_sys::EventTarget;

/// Why an automatic sync started; reported in the `syncstate` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// `autoSync` was started (`onStart`).
    Start,
    /// The browser (or the app, via `setOnline(true)`) reported the network back.
    Online,
    /// The page became visible again.
    Visible,
    /// The interval elapsed.
    Interval,
    /// The app changed recordings in this store (`onChange`): a push after a quiet moment.
    Change,
    /// The retry of a round that ended early came due.
    Retry,
}

impl Trigger {
    /// The name apps see.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Start => "start",
            Trigger::Online => "online",
            Trigger::Visible => "visible",
            Trigger::Interval => "interval",
            Trigger::Change => "change",
            Trigger::Retry => "retry",
        }
    }
}

/// Which triggers are on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TriggerOptions {
    /// Sync right away.
    pub on_start: bool,
    /// Sync when the `online` event fires.
    pub on_online: bool,
    /// Sync when the document becomes visible.
    pub on_visible: bool,
    /// Sync every this many milliseconds; `None` for never.
    pub interval_ms: Option<u32>,
}

impl Default for TriggerOptions {
    fn default() -> Self {
        TriggerOptions {
            on_start: true,
            on_online: true,
            on_visible: true,
            interval_ms: Some(3_600_000),
        }
    }
}

/// The live triggers. Dropping this removes every listener and clears the timer.
#[must_use = "the triggers stop when this is dropped"]
pub struct Triggers {
    _listeners: Vec<EventListener>,
    _interval: Option<Interval>,
    _start: Option<Timeout>,
}

impl Triggers {
    /// Installs the triggers chosen in `options`; each calls `fire` with its [`Trigger`].
    pub fn install(options: TriggerOptions, fire: Rc<dyn Fn(Trigger)>) -> Triggers {
        let global: EventTarget = js_sys::global().unchecked_into();
        let mut listeners = Vec::new();
        if options.on_online {
            let fire = fire.clone();
            listeners.push(EventListener::new(&global, "online", move |_| {
                fire(Trigger::Online)
            }));
        }
        // Only pages have a document; in workers visibility is not a thing.
        if options.on_visible {
            if let Some(document) = web_sys::window().and_then(|w| w.document()) {
                let fire = fire.clone();
                let doc = document.clone();
                listeners.push(EventListener::new(
                    &document,
                    "visibilitychange",
                    move |_| {
                        if doc.visibility_state() == web_sys::VisibilityState::Visible {
                            fire(Trigger::Visible);
                        }
                    },
                ));
            }
        }
        let interval = options.interval_ms.map(|ms| {
            let fire = fire.clone();
            Interval::new(ms, move || fire(Trigger::Interval))
        });
        // Start on the next turn, so the caller has its handle before the first sync begins.
        let start = options
            .on_start
            .then(|| Timeout::new(0, move || fire(Trigger::Start)));
        Triggers {
            _listeners: listeners,
            _interval: interval,
            _start: start,
        }
    }
}
