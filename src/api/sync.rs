//! Sync from JS: `store.sync()`, `store.autoSync()`, `store.setOnline()`, with any remote.
//!
//! One sync runs at a time per store (and, through a Web Lock, per origin across tabs). A sync
//! asked for while one runs is folded into one follow-up round, however many were asked for.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::error::to_js;
use super::options::Options;
use crate::browser::driver::{self, AudioPolicy, RoundOptions};
use crate::browser::error::{Code, Error, Result};
use crate::browser::remote::Remote;
use crate::browser::store::{set, Store};
use crate::browser::triggers::{Trigger, TriggerOptions, Triggers};
use crate::browser::{account, lock};
use crate::core::engine::{Direction, Report, RoundOutcome};
use crate::core::merge::{MergeConfig, Policy};

/// The resumable-upload chunk that suits every backend: Supabase's TUS needs exactly 6 MiB,
/// Firebase multiples of 256 KiB, S3 parts at least 5 MiB.
const DEFAULT_CHUNK: f64 = 6.0 * 1024.0 * 1024.0;

#[wasm_bindgen]
extern "C" {
    /// `SyncOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "SyncOptions")]
    pub type SyncOptions;
    /// `AutoSyncOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "AutoSyncOptions")]
    pub type AutoSyncOptions;
}

/// Reads the options of `sync()` (and the round part of `autoSync()`).
pub(crate) fn round_options(o: Option<&Options>, remote: &dyn Remote) -> Result<RoundOptions> {
    let mut round = RoundOptions {
        direction: Direction::Both,
        merge: MergeConfig::default(),
        concurrency: 4,
        chunk_bytes: DEFAULT_CHUNK,
        signal: None,
        audio: AudioPolicy::Eager,
        metered: false,
    };
    let Some(o) = o else { return Ok(round) };
    if let Some(a) = o.choice("audio", &["eager", "lazy", "none"])? {
        round.audio = AudioPolicy::parse(&a).unwrap_or_default();
    }
    if let Some(p) = o.choice("policy", &["merge", "local-wins", "cloud-wins"])? {
        round.merge.policy = Policy::parse(&p).unwrap_or_default();
    }
    if let Some(c) = o.boolean("conflictCopies")? {
        round.merge.conflict_copies = c;
    }
    if let Some(n) = o.positive_int("concurrency", 16)? {
        round.concurrency = n as usize;
    }
    if let Some(n) = o.positive_int("chunkSize", 1 << 30)? {
        remote
            .check_chunk(f64::from(n))
            .map_err(|why| Error::invalid(format!("sync options.chunkSize {n}: {why}")))?;
        round.chunk_bytes = f64::from(n);
    }
    round.direction = match o.choice("direction", &["both", "push", "pull"])?.as_deref() {
        Some("push") => Direction::Push,
        Some("pull") => Direction::Pull,
        _ => Direction::Both,
    };
    round.signal = o.signal("signal")?;
    Ok(round)
}

/// The cloud a sync runs against.
pub(crate) type Target = Rc<dyn Remote>;

/// A sync waiting to run: what it runs with and who waits for its report.
struct Job {
    target: Target,
    round: RoundOptions,
    /// The app asked for it (`sync()`, `push()`, `pull()`), as opposed to a trigger of `autoSync`.
    explicit: bool,
    waiters: Vec<(Function, Function)>,
}

/// A store's syncs: at most one running, at most one follow-up, and what the last rounds said
/// about when to try again.
pub(crate) struct Hub {
    store: Rc<Store>,
    running: Cell<bool>,
    follow_up: RefCell<Option<Job>>,
    online: Cell<Option<bool>>,
    /// The store's engine, kept across rounds (its backoff and its stopped state).
    syncer: driver::Syncer,
    /// The host says the network is metered (`setMetered`): rounds move metadata only.
    metered: Cell<bool>,
    /// The running `autoSync`'s remote and audio policy, which `getBlob` fetches through; with
    /// the number of the `autoSync` that set it, so that stopping an older one leaves it.
    auto: RefCell<Option<(u64, Target, AudioPolicy)>>,
    autos: Cell<u64>,
}

impl Hub {
    pub(crate) fn new(store: Rc<Store>) -> Rc<Hub> {
        Rc::new(Hub {
            store,
            running: Cell::new(false),
            follow_up: RefCell::new(None),
            online: Cell::new(None),
            syncer: driver::Syncer::default(),
            metered: Cell::new(false),
            auto: RefCell::new(None),
            autos: Cell::new(0),
        })
    }

    /// The remote `getBlob` fetches cloud-only audio through: the running `autoSync`'s, unless
    /// its `audio` is `"none"`. `Err` says why there is none, with a stable code.
    pub(crate) fn fetch_target(&self) -> Result<Target> {
        let auto = self.auto.borrow();
        let Some((_, target, policy)) = auto.as_ref() else {
            return Err(Error::new(
                Code::AudioNotHere,
                "this recording's audio is in the cloud only, and no autoSync is running to \
                 fetch it: start autoSync(remote), or call fetchAudio(ids, remote) first",
            ));
        };
        if *policy == AudioPolicy::None {
            return Err(Error::new(
                Code::AudioNotHere,
                "this recording's audio is in the cloud only, and autoSync's audio is \"none\": \
                 call fetchAudio(ids, remote) to download it",
            ));
        }
        if !self.online() {
            return Err(Error::new(
                Code::Offline,
                "this recording's audio is in the cloud only, and the network is down: it is \
                 fetched once online",
            ));
        }
        Ok(target.clone())
    }

    pub(crate) fn set_metered(&self, metered: bool) {
        self.metered.set(metered);
    }

    /// Whether to try the network (see [`Hub::online`]), for `fetchAudio`.
    pub(crate) fn is_online(&self) -> bool {
        self.online()
    }

    /// Whether to try the network: the app's word (`setOnline`) over `navigator.onLine`, which
    /// is only a hint (true on a captive portal, for one).
    fn online(&self) -> bool {
        self.online.get().unwrap_or_else(|| {
            Reflect::get(&js_sys::global(), &"navigator".into())
                .and_then(|n| Reflect::get(&n, &"onLine".into()))
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(true)
        })
    }

    pub(crate) fn set_online(&self, online: bool) {
        let was = self.online();
        self.online.set(Some(online));
        let detail = Object::new();
        set(&detail, "online", online);
        self.store.events().emit("networkchange", &detail);
        if !online {
            self.state("offline", JsValue::NULL);
        } else if !was {
            self.state("idle", JsValue::NULL);
        }
    }

    /// Runs a sync now, or folds it into the follow-up of the one running.
    pub(crate) fn request(
        self: &Rc<Self>,
        target: Target,
        round: RoundOptions,
        explicit: bool,
    ) -> Promise {
        let hub = self.clone();
        Promise::new(&mut move |resolve, reject| {
            if hub.running.get() {
                let mut follow_up = hub.follow_up.borrow_mut();
                let job = follow_up.get_or_insert_with(|| Job {
                    target: target.clone(),
                    round: round.clone(),
                    explicit,
                    waiters: Vec::new(),
                });
                // The latest request's settings win: it is the app's current wish. The round
                // does what every waiting request asked for: a push and a pull make both.
                let direction = job.round.direction.and(round.direction);
                job.target = target.clone();
                job.round = RoundOptions {
                    direction,
                    ..round.clone()
                };
                job.explicit |= explicit;
                job.waiters.push((resolve, reject));
                return;
            }
            hub.running.set(true);
            let job = Job {
                target: target.clone(),
                round: round.clone(),
                explicit,
                waiters: vec![(resolve, reject)],
            };
            crate::browser::platform::spawn(hub.clone().drive(job));
        })
    }

    async fn drive(self: Rc<Self>, mut job: Job) {
        loop {
            let result = self.run(&job).await;
            for (resolve, reject) in job.waiters.drain(..) {
                let _ = match &result {
                    Ok(report) => resolve.call1(&JsValue::UNDEFINED, report),
                    Err(e) => reject.call1(&JsValue::UNDEFINED, &to_js(e.clone())),
                };
            }
            let next = self.follow_up.borrow_mut().take();
            match next {
                Some(next) => job = next,
                None => break,
            }
        }
        self.running.set(false);
    }

    async fn run(self: &Rc<Self>, job: &Job) -> Result<JsValue> {
        // A closed store says so, offline or not (found by tests/js/fuzz.test.mjs).
        self.store.check_open()?;
        if !self.online() {
            self.state("offline", JsValue::NULL);
            return Err(Error::new(
                Code::Network,
                "offline: the sync waits for the network",
            ));
        }
        account::bind(&self.store, &job.target.identity()).await?;
        let outcome: Rc<RefCell<Option<Result<Option<Report>>>>> = Rc::new(RefCell::new(None));
        let work = {
            let (hub, remote, round, explicit, outcome) = (
                self.clone(),
                job.target.clone(),
                job.round.clone(),
                job.explicit,
                outcome.clone(),
            );
            async move {
                let mut round = round;
                round.metered = hub.metered.get();
                let result = hub
                    .syncer
                    .round(&hub.store, &remote, &round, explicit, || {
                        hub.state("syncing", JsValue::NULL)
                    })
                    .await;
                *outcome.borrow_mut() = Some(result);
                Ok(JsValue::UNDEFINED)
            }
        };
        let name = format!("tapesync-sync/{}", self.store.device_id());
        let locked = lock::with_lock(&name, work).await;
        let result = match (outcome.borrow_mut().take(), locked) {
            (Some(r), _) => r,
            (None, Err(e)) => Err(Error::from_js("waiting for the sync lock", &e)),
            (None, Ok(_)) => Err(Error::new(Code::Internal, "the sync did not run")),
        };
        let report = match result {
            // An automatic round that waits for its retry, or for the app: nothing ran.
            Ok(None) => return Ok(JsValue::NULL),
            Ok(Some(report)) if report.outcome == RoundOutcome::Cancelled => {
                self.state("idle", JsValue::NULL);
                return Err(Error::new(Code::Aborted, "the sync was cancelled"));
            }
            Ok(Some(report)) => report,
            Err(e) => {
                self.state("error", to_js(e.clone()));
                return Err(e);
            }
        };
        let restored = self.syncer.restored();
        let js = driver::report_to_js(&report, restored);
        if restored {
            // The database was fresh and the cloud had this app's recordings: the browser
            // cleared the site's storage (or this is a new device). They are back.
            let detail = Object::new();
            set(&detail, "pulled", report.changes_pulled as f64);
            set(&detail, "report", js.clone());
            self.store.events().emit("restored", &detail);
        }

        let state = if report.outcome.is_complete() {
            "idle"
        } else {
            "error"
        };
        self.state(state, js.clone());
        Ok(js)
    }

    /// When automatic rounds may run again, if rounds have been ending early (ms since 1970).
    fn retry_at(&self) -> Option<f64> {
        self.syncer.retry_at().map(|t| t as f64)
    }

    /// Fires `syncstate` with `{ state, report }`.
    fn state(&self, state: &str, report: JsValue) {
        let detail = Object::new();
        set(&detail, "state", state);
        set(&detail, "report", report);
        self.store.events().emit("syncstate", &detail);
    }
}

/// What a trigger calls.
type Fire = dyn Fn(Trigger);

/// How long local changes must have paused before `onChange` pushes them.
const CHANGE_QUIET_MS: u32 = 2_000;

/// Automatic syncs of one store with one remote. Stop them with `stop()`.
///
/// ```js
/// const auto = store.autoSync(remote, { intervalMs: 3_600_000 });
/// // ... later, e.g. on sign-out:
/// auto.stop();
/// ```
#[wasm_bindgen]
pub struct AutoSync {
    /// What every trigger calls. Held here: listeners and timers hold it only weakly or not at
    /// all (`onChange`, the retry), so without this it would go once the start trigger fired.
    fire: RefCell<Option<Rc<Fire>>>,
    triggers: RefCell<Option<Triggers>>,
    listeners: RefCell<Vec<EventListener>>,
    timers: Rc<Timers>,
    /// The hub whose `getBlob` fetches through this autoSync's remote, and this autoSync's number.
    hub: Weak<Hub>,
    number: u64,
}

/// The timers of an `AutoSync`: the retry after a round that ended early, and the quiet period
/// after a local change.
#[derive(Default)]
struct Timers {
    retry: RefCell<Option<Timeout>>,
    change: RefCell<Option<Timeout>>,
}

#[wasm_bindgen]
impl AutoSync {
    /// Removes every trigger; a sync already running finishes.
    pub fn stop(&self) {
        self.fire.borrow_mut().take();
        self.triggers.borrow_mut().take();
        self.listeners.borrow_mut().clear();
        self.timers.retry.borrow_mut().take();
        self.timers.change.borrow_mut().take();
        if let Some(hub) = self.hub.upgrade() {
            let mut auto = hub.auto.borrow_mut();
            if auto.as_ref().is_some_and(|(n, _, _)| *n == self.number) {
                *auto = None;
            }
        }
    }
}

impl AutoSync {
    pub(crate) fn start(hub: &Rc<Hub>, target: Target, options: &JsValue) -> Result<AutoSync> {
        let keys = [
            "onStart",
            "onOnline",
            "onVisible",
            "onChange",
            "intervalMs",
            "policy",
            "conflictCopies",
            "concurrency",
            "chunkSize",
            "audio",
        ];
        let o = Options::new(options, "autoSync options", &keys)?;
        let mut triggers = TriggerOptions::default();
        let mut on_change = true;
        if let Some(o) = &o {
            triggers.on_start = o.boolean("onStart")?.unwrap_or(true);
            triggers.on_online = o.boolean("onOnline")?.unwrap_or(true);
            triggers.on_visible = o.boolean("onVisible")?.unwrap_or(true);
            on_change = o.boolean("onChange")?.unwrap_or(true);
            if let Some(ms) = o.number("intervalMs", 0.0)? {
                triggers.interval_ms = if ms == 0.0 {
                    None
                } else if (1000.0..=f64::from(i32::MAX)).contains(&ms) {
                    Some(ms as u32)
                } else {
                    return Err(Error::invalid(
                        "autoSync options.intervalMs must be 0 (off) or 1000 to 2147483647",
                    ));
                };
            }
        }
        let round = round_options(o.as_ref(), target.as_ref())?;
        let number = hub.autos.get() + 1;
        hub.autos.set(number);
        *hub.auto.borrow_mut() = Some((number, target.clone(), round.audio));
        let timers = Rc::new(Timers::default());
        // The trigger re-arms itself after an incomplete round, so it needs a handle on itself;
        // a weak one, so that dropping the AutoSync frees everything.
        let itself: Rc<RefCell<Weak<Fire>>> = Rc::new(RefCell::new(Weak::<fn(Trigger)>::new()));
        let fire: Rc<dyn Fn(Trigger)> = Rc::new({
            let hub = Rc::downgrade(hub);
            let timers = Rc::downgrade(&timers);
            let itself = itself.clone();
            move |trigger: Trigger| {
                let Some(hub) = hub.upgrade() else { return };
                // Offline: the `onOnline` trigger runs it when the network is back. Backoff and
                // a stopped round are the engine's to decide (`start_automatic`).
                if !hub.online() {
                    return;
                }
                let mut round = round.clone();
                if trigger == Trigger::Change {
                    round.direction = Direction::Push;
                }
                let done = JsFuture::from(hub.request(target.clone(), round, false));
                let (timers, itself, hub) =
                    (timers.clone(), itself.borrow().clone(), Rc::downgrade(&hub));
                crate::browser::platform::spawn(async move {
                    // Errors reach the app through `syncstate`; a retry is armed either way.
                    let _ = done.await;
                    let (Some(timers), Some(hub)) = (timers.upgrade(), hub.upgrade()) else {
                        return;
                    };
                    // A round that ended early says when to try again (growing while the cloud
                    // keeps failing); the retry runs even if no other trigger fires.
                    if let Some(at) = hub.retry_at() {
                        let delay = (at - js_sys::Date::now()).clamp(1000.0, 3_600_000.0) as u32;
                        let timer = Timeout::new(delay, move || {
                            if let Some(fire) = itself.upgrade() {
                                fire(Trigger::Retry);
                            }
                        });
                        *timers.retry.borrow_mut() = Some(timer);
                    }
                });
            }
        });
        *itself.borrow_mut() = Rc::downgrade(&fire);
        let mut listeners = Vec::new();
        if triggers.on_online {
            let fire = fire.clone();
            listeners.push(EventListener::new(
                hub.store.events().target(),
                "networkchange",
                move |e| {
                    let online = Reflect::get(e, &"detail".into())
                        .and_then(|d| Reflect::get(&d, &"online".into()))
                        .ok()
                        .and_then(|v| v.as_bool());
                    if online == Some(true) {
                        fire(Trigger::Online);
                    }
                },
            ));
        }
        if on_change {
            let (fire, timers) = (Rc::downgrade(&fire), Rc::downgrade(&timers));
            let store = Rc::downgrade(&hub.store);
            listeners.push(EventListener::new(
                hub.store.events().target(),
                "change",
                move |e| {
                    let kind = Reflect::get(e, &"detail".into())
                        .and_then(|d| Reflect::get(&d, &"kind".into()))
                        .ok()
                        .and_then(|k| k.as_string());
                    // Only the app's own edits: pulled changes and hashing need no push, and
                    // another tab's edits are that tab's to push (or every open tab would).
                    if !matches!(kind.as_deref(), Some("save" | "update" | "delete"))
                        || store.upgrade().map_or(true, |s| s.events().relaying())
                    {
                        return;
                    }
                    let Some(timers) = timers.upgrade() else {
                        return;
                    };
                    let fire = fire.clone();
                    // Restarting the timer coalesces a burst of changes into one push.
                    *timers.change.borrow_mut() = Some(Timeout::new(CHANGE_QUIET_MS, move || {
                        if let Some(fire) = fire.upgrade() {
                            fire(Trigger::Change);
                        }
                    }));
                },
            ));
        }
        Ok(AutoSync {
            triggers: RefCell::new(Some(Triggers::install(triggers, fire.clone()))),
            fire: RefCell::new(Some(fire)),
            listeners: RefCell::new(listeners),
            timers,
            hub: Rc::downgrade(hub),
            number,
        })
    }
}
