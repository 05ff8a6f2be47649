//! Which cloud a store syncs with, and how an app lets go of it.
//!
//! A store is bound to the first remote it syncs with (backend, bucket, prefix): its sync state
//! (checkpoints, published edits) describes that folder only, so syncing it with another user's
//! folder would publish one account's recordings into another. [`reset`] forgets the binding and
//! the sync state and keeps the recordings, pending again; [`destroy`] deletes a store's database
//! (sign-out), refusing while it is open anywhere.

use std::rc::Rc;

use js_sys::{Array, Reflect};
use wasm_bindgen::JsValue;
use web_sys::IdbTransactionMode as Mode;

use super::entries;
use super::error::{Code, Error, Result};
use super::events::ChangeKind;
use super::idb;
use super::schema::{META, RECORDINGS, SYNC, UNHASHED, UPLOADS};
use super::store::{set, Store};
use super::{hashing, lock, platform};
use crate::core::commit::SyncMeta;
use crate::core::recording::SyncState;

/// The `meta` key of the remote a store is bound to.
const BOUND: &str = "boundRemote";

/// The name of the Web Lock every open store of database `name` holds (shared).
pub fn open_lock(name: &str) -> String {
    format!("tapesync-open/{name}")
}

/// Binds the store to `remote` (e.g. `firebase:bucket/prefix`) if it is not bound yet; fails with
/// `InvalidArgument` if it is bound to another.
pub async fn bind(store: &Store, remote: &str) -> Result<()> {
    let context = "checking the store's remote";
    // Read-only first: every sync checks this, and once bound (the common case) a read-write
    // transaction would cost a commit, which in Chromium gets slower with every Blob stored.
    {
        let tx = store.tx(&[META], Mode::Readonly)?;
        let bound = idb::call(tx.store(META)?.get(&BOUND.into()), context).await?;
        tx.finish(context).await?;
        if bound.as_string().is_some_and(|b| b == remote) {
            return Ok(());
        }
    }
    let tx = store.tx(&[META], Mode::Readwrite)?;
    let meta = tx.store(META)?;
    let bound = idb::call(meta.get(&BOUND.into()), context).await?;
    match bound.as_string() {
        Some(b) if b == remote => tx.finish(context).await,
        Some(b) => Err(Error::invalid(format!(
            "this store syncs with {b}, not {remote}: one store holds one account's recordings. \
             Open another store for the other account, or call resetSync() first to forget the \
             sync state (the recordings are kept and pushed again)"
        ))),
        None => {
            idb::issue(meta.put_with_key(&remote.into(), &BOUND.into()), context)?;
            tx.commit(context).await
        }
    }
}

/// Forgets the binding and the sync state; every recording stays, pending, and is pushed by
/// the next sync as new. Deletions not yet synced are forgotten with the rest.
pub async fn reset(store: &Rc<Store>) -> Result<()> {
    let context = "resetting the sync state";
    let tx = store.tx(
        &[META, RECORDINGS, SYNC, UPLOADS, UNHASHED],
        Mode::Readwrite,
    )?;
    let (meta, recordings, unhashed) =
        (tx.store(META)?, tx.store(RECORDINGS)?, tx.store(UNHASHED)?);
    let old = entries::read_meta(&meta, store.device()).await?;
    let outbox = entries::outbox_seqs(&meta).await?;
    let all: Array = idb::cast(
        idb::call(recordings.get_all(), context).await?,
        "recordings",
    )?;
    let (mut ids, mut gone) = (Vec::new(), Vec::new());
    for record in all.iter() {
        let Some(id) = Reflect::get(&record, &"id".into())?.as_string() else {
            continue;
        };
        // A recording whose audio is in the old folder only (not downloaded, or evicted) has
        // nothing to push to the next remote: it goes with the old folder's sync state.
        if Reflect::get(&record, &"audioHere".into())? == JsValue::FALSE {
            idb::issue(recordings.delete(&id.as_str().into()), context)?;
            gone.push(id);
            continue;
        }
        set(&record, "syncState", SyncState::Pending.as_str());
        set(&record, "synced", false);
        idb::issue(recordings.put(&record), context)?;
        idb::issue(
            unhashed.put_with_key(&JsValue::TRUE, &id.as_str().into()),
            context,
        )?;
        ids.push(id);
    }
    // Every recording is pending now.
    let counts = super::counts::Counts::all_in(SyncState::Pending, all.length() as i64);
    super::counts::replace(&meta, counts)?;
    idb::issue(tx.store(SYNC)?.clear(), context)?;
    idb::issue(tx.store(UPLOADS)?.clear(), context)?;
    idb::issue(meta.delete(&BOUND.into()), context)?;
    // The device keeps numbering its log where it was: were it synced with the same folder
    // again, a segment it already published must never be written a second time. Its log in the
    // new folder starts there (its first sync announces it with a snapshot, readers skip the gap).
    let mut fresh = SyncMeta::new(store.device().clone());
    fresh.next_seq = old.next_seq;
    fresh.log_start = old.next_seq;
    entries::write_meta(&meta, &fresh, &outbox)?;
    tx.commit(context).await?;
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    store.events().changed(ChangeKind::Update, &ids);
    if !gone.is_empty() {
        let gone: Vec<&str> = gone.iter().map(String::as_str).collect();
        store.events().changed(ChangeKind::Delete, &gone);
    }
    hashing::kick(store);
    Ok(())
}

/// Deletes the database of store `name` with everything in it. Fails with `Conflict` while a
/// store of that name is open in any tab or worker (close it first).
pub async fn destroy(name: &str) -> Result<()> {
    let factory = platform::indexed_db()?;
    let db_name = format!("tapesync/{name}");
    let work = async move {
        let req = factory.delete_database(&db_name)?;
        // No `blocked` handling needed: tapesync connections close themselves on `versionchange`.
        idb::request(&req, "deleting the store")
            .await
            .map_err(|e| JsValue::from_str(&e.to_string()))
    };
    match lock::if_unheld(&open_lock(name), work).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Error::new(
            Code::Conflict,
            format!(
                "the store {name:?} is open (in this or another tab or worker): close it first"
            ),
        )),
        Err(e) => Err(Error::from_js("deleting the store", &e)),
    }
}
