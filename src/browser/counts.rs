//! Kept counts of the recordings, in total and per sync state, so that `count()` reads one value
//! instead of walking IndexedDB (an IndexedDB `count()` walks its keys: 22x slower at 20,000
//! recordings than at 1,000).
//!
//! The counts live in the `meta` store under [`COUNTS`]. Every transaction that adds, removes or
//! changes the sync state of a public recording notes the change in its [`Tally`]
//! (`Tx::tally`), and `Tx::commit` adds the tally to the stored counts in that same transaction:
//! the counts change exactly when the writes commit, and not at all when they abort. A database
//! without counts (written by a release before they existed) gets them counted once, on open
//! ([`ensure`]).

use std::cell::Cell;

use futures::future::join_all;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;
use web_sys::{IdbKeyRange, IdbObjectStore, IdbTransactionMode as Mode};

use super::error::{Error, Result};
use super::idb;
use super::schema::{BY_SYNC_STATE, META, RECORDINGS};
use super::store::Store;
use crate::core::recording::SyncState;

/// The `meta` key of the kept counts: `{ total, pending, uploading, synced, conflict, failed }`.
pub const COUNTS: &str = "counts";

/// Recordings in total and per state (in [`SyncState::ALL`]'s order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Every public recording.
    pub total: i64,
    /// Per state, indexed like [`SyncState::ALL`].
    pub by_state: [i64; 5],
}

fn slot(state: SyncState) -> usize {
    SyncState::ALL
        .iter()
        .position(|s| *s == state)
        .unwrap_or_default()
}

impl Counts {
    /// The count of `state`, or of all recordings; never below zero.
    pub fn get(&self, state: Option<SyncState>) -> u32 {
        let n = match state {
            Some(s) => self.by_state[slot(s)],
            None => self.total,
        };
        n.clamp(0, u32::MAX as i64) as u32
    }

    /// `n` recordings, all in `state`.
    pub fn all_in(state: SyncState, n: i64) -> Counts {
        let mut counts = Counts {
            total: n,
            ..Counts::default()
        };
        counts.by_state[slot(state)] = n;
        counts
    }

    fn is_zero(&self) -> bool {
        *self == Counts::default()
    }

    fn add(&mut self, other: &Counts) {
        self.total += other.total;
        for (a, b) in self.by_state.iter_mut().zip(other.by_state) {
            *a += b;
        }
    }

    fn to_js(self) -> JsValue {
        let out = Object::new();
        let _ = Reflect::set(&out, &"total".into(), &(self.total as f64).into());
        for (state, n) in SyncState::ALL.iter().zip(self.by_state) {
            let _ = Reflect::set(&out, &state.as_str().into(), &(n as f64).into());
        }
        out.into()
    }

    /// The stored counts; `None` when absent or not in the form [`Counts::to_js`] writes.
    pub(crate) fn from_js(value: &JsValue) -> Option<Counts> {
        let field = |name: &str| {
            Reflect::get(value, &name.into())
                .ok()?
                .as_f64()
                .filter(|n| n.is_finite())
                .map(|n| n as i64)
        };
        let mut counts = Counts {
            total: field("total")?,
            ..Counts::default()
        };
        for (i, state) in SyncState::ALL.iter().enumerate() {
            counts.by_state[i] = field(state.as_str())?;
        }
        Some(counts)
    }
}

/// The changes to the counts one transaction makes; applied by its commit.
#[derive(Default)]
pub struct Tally(Cell<Counts>);

impl Tally {
    /// One recording went from `from` to `to` (`None`: not a public recording, i.e. absent).
    ///
    /// ```text
    /// tally.moved(None, Some(SyncState::Pending)); // a save
    /// tally.moved(Some(SyncState::Pending), Some(SyncState::Synced)); // a confirmed push
    /// ```
    pub fn moved(&self, from: Option<SyncState>, to: Option<SyncState>) {
        if from == to {
            return;
        }
        let mut c = self.0.get();
        if let Some(s) = from {
            c.total -= 1;
            c.by_state[slot(s)] -= 1;
        }
        if let Some(s) = to {
            c.total += 1;
            c.by_state[slot(s)] += 1;
        }
        self.0.set(c);
    }

    /// Takes the whole tally, leaving zero; `None` when nothing changed.
    pub fn take(&self) -> Option<Counts> {
        Some(self.0.take()).filter(|c| !c.is_zero())
    }
}

/// The sync state a stored `Recording` object shows, read from its `syncState` field.
pub fn state_of(record: &JsValue) -> Option<SyncState> {
    Reflect::get(record, &"syncState".into())
        .ok()?
        .as_string()
        .and_then(|s| SyncState::parse(&s))
}

/// Adds `tally` to the stored counts, in the caller's transaction (which must cover [`META`]).
/// Stored counts that are missing stay missing: the next open counts them (see [`ensure`]).
pub async fn apply(delta: Counts, meta: &IdbObjectStore) -> Result<()> {
    let context = "updating the recording counts";
    let stored = idb::call(meta.get(&COUNTS.into()), context).await?;
    let Some(mut counts) = Counts::from_js(&stored) else {
        return Ok(());
    };
    counts.add(&delta);
    idb::issue(meta.put_with_key(&counts.to_js(), &COUNTS.into()), context)
}

/// Replaces the stored counts (a reset that rewrote every recording knows them whole).
pub fn replace(meta: &IdbObjectStore, counts: Counts) -> Result<()> {
    idb::issue(
        meta.put_with_key(&counts.to_js(), &COUNTS.into()),
        "storing the recording counts",
    )
}

/// The kept counts, or `None` if this database has none (yet).
pub async fn read(store: &Store) -> Result<Option<Counts>> {
    let context = "counting recordings";
    let tx = store.tx(&[META], Mode::Readonly)?;
    let value = idb::call(tx.store(META)?.get(&COUNTS.into()), context).await?;
    tx.done_reading();
    Ok(Counts::from_js(&value))
}

/// Counts the recordings by walking IndexedDB: once per database, when it has no kept counts.
pub async fn ensure(store: &Store) -> Result<()> {
    let context = "counting recordings";
    let tx = store.tx(&[META, RECORDINGS], Mode::Readwrite)?;
    let meta = tx.store(META)?;
    let stored = idb::call(meta.get(&COUNTS.into()), context).await?;
    if Counts::from_js(&stored).is_some() {
        return tx.finish(context).await;
    }
    let counts = walk(&tx.store(RECORDINGS)?).await?;
    replace(&meta, counts)?;
    tx.commit(context).await
}

/// The counts as IndexedDB's own `count()` finds them (time grows with the recordings).
pub async fn walk(recordings: &IdbObjectStore) -> Result<Counts> {
    let context = "counting recordings";
    let index = recordings
        .index(BY_SYNC_STATE)
        .map_err(|e| Error::from_js(context, &e))?;
    let total = idb::call(recordings.count(), context);
    let states = join_all(SyncState::ALL.iter().map(|state| async {
        let range = state_range(*state).map_err(|e| Error::from_js(context, &e))?;
        idb::call(index.count_with_key(&range.into()), context).await
    }));
    let (total, states) = futures::join!(total, states);
    let number = |v: JsValue| v.as_f64().unwrap_or(0.0) as i64;
    let mut counts = Counts {
        total: number(total?),
        ..Counts::default()
    };
    for (i, n) in states.into_iter().enumerate() {
        counts.by_state[i] = number(n?);
    }
    Ok(counts)
}

/// The keys of `bySyncState` for one state: `[state]` sorts before every `[state, createdAt, id]`,
/// and `[state, []]` after them.
fn state_range(state: SyncState) -> std::result::Result<IdbKeyRange, JsValue> {
    let low: JsValue = Array::of1(&state.as_str().into()).into();
    let high: JsValue = Array::of2(&state.as_str().into(), &Array::new()).into();
    IdbKeyRange::bound(&low, &high)
}
