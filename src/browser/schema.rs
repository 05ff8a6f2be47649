//! The IndexedDB schema: object stores, indexes, and the upgrade steps between versions.
//!
//! Metadata and audio live in separate stores so that listing never loads audio. Every version
//! adds an upgrade step; opening runs each step from the database's version up to [`VERSION`], so
//! a database written by any earlier release opens in this one.

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    IdbDatabase, IdbFactory, IdbIndexParameters, IdbObjectStoreParameters, IdbOpenDbRequest,
};

use super::error::{Code, Error, Result};

/// The schema version this release writes.
pub const VERSION: u32 = 5;

/// Recording metadata, exactly the `Recording` objects apps get; key `id`.
pub const RECORDINGS: &str = "recordings";
/// The audio `Blob` of each recording; key: the recording id.
pub const BLOBS: &str = "blobs";
/// Captures still being recorded; key `id`.
pub const CAPTURES: &str = "captures";
/// The chunks of captures, key `[captureId, seq]`.
pub const CHUNKS: &str = "chunks";
/// Version 1 only: deleted ids; version 2 keeps deletions as sync entries instead.
const TOMBSTONES_V1: &str = "tombstones";
/// Each recording's sync entry (`core::entry::LocalEntry`): the cloud's version, unpublished edits,
/// deletions not yet synced; key `id`.
pub const SYNC: &str = "sync";
/// Resumable upload sessions, by blob key, so an upload resumes after a reload.
pub const UPLOADS: &str = "uploads";
/// Per-database values: the device id, checkpoints; out-of-line string keys.
pub const META: &str = "meta";
/// Recordings whose content hash is still to be computed, by id: written in the transaction that
/// saves the audio, so any context's sync (or the next open) finds them, however the saving tab
/// ended. The value is the audio's size.
pub const UNHASHED: &str = "unhashed";

/// Index of [`SYNC`] on `work`, a field present only while the entry has sync work: a sparse
/// index that holds exactly the pending entries.
pub const BY_WORK: &str = "byWork";
/// Index of [`RECORDINGS`] on `[createdAt, id]`: listing in creation order, paged.
pub const BY_CREATED: &str = "byCreated";
/// Index of [`RECORDINGS`] on `[syncState, createdAt, id]`: pending work is found in time that
/// grows with the pending count, not with the total.
pub const BY_SYNC_STATE: &str = "bySyncState";

fn key_path(fields: &[&str]) -> JsValue {
    fields
        .iter()
        .map(|f| JsValue::from_str(f))
        .collect::<Array>()
        .into()
}

/// Version 1: the stores and indexes above.
fn upgrade_to_1(db: &IdbDatabase) -> std::result::Result<(), JsValue> {
    let by_id = IdbObjectStoreParameters::new();
    by_id.set_key_path(&"id".into());
    let recordings = db.create_object_store_with_optional_parameters(RECORDINGS, &by_id)?;
    let params = IdbIndexParameters::new();
    recordings.create_index_with_str_sequence_and_optional_parameters(
        BY_CREATED,
        &key_path(&["createdAt", "id"]),
        &params,
    )?;
    recordings.create_index_with_str_sequence_and_optional_parameters(
        BY_SYNC_STATE,
        &key_path(&["syncState", "createdAt", "id"]),
        &params,
    )?;
    db.create_object_store(BLOBS)?;
    db.create_object_store_with_optional_parameters(CAPTURES, &by_id)?;
    db.create_object_store(CHUNKS)?;
    db.create_object_store_with_optional_parameters(TOMBSTONES_V1, &by_id)?;
    db.create_object_store(META)?;
    Ok(())
}

/// Version 2: sync entries replace tombstones; resumable upload sessions.
///
/// A version-1 database has no synced recordings (sync came with version 2), so its tombstones
/// name deletions nobody else knows of and are dropped; its recordings get entries when their
/// content hash is next computed (on open, for pending ones without a sync entry).
fn upgrade_to_2(db: &IdbDatabase) -> std::result::Result<(), JsValue> {
    let by_id = IdbObjectStoreParameters::new();
    by_id.set_key_path(&"id".into());
    let sync = db.create_object_store_with_optional_parameters(SYNC, &by_id)?;
    sync.create_index_with_str(BY_WORK, "work")?;
    db.create_object_store(UPLOADS)?;
    db.delete_object_store(TOMBSTONES_V1)?;
    Ok(())
}

/// Version 3: the queue of recordings to hash ([`UNHASHED`]). A version-2 database's pending
/// recordings without a sync entry are moved into it on the first open (see `hashing::adopt`).
fn upgrade_to_3(db: &IdbDatabase) -> std::result::Result<(), JsValue> {
    db.create_object_store(UNHASHED)?;
    Ok(())
}

/// Runs the upgrade steps from `old` to [`VERSION`].
fn upgrade(db: &IdbDatabase, old: u32) -> std::result::Result<(), JsValue> {
    if old < 1 {
        upgrade_to_1(db)?;
    }
    if old < 2 {
        upgrade_to_2(db)?;
    }
    if old < 3 {
        upgrade_to_3(db)?;
    }
    // Version 4 changes no store: it keeps the recording counts in `META` (`counts::COUNTS`),
    // counted once on the first open (`counts::ensure`). The version is raised so that a release
    // that does not keep them can no longer open this database: its writes would leave them wrong.
    // Version 5 changes no store either: the sync outbox moves out of the sync meta into records
    // of its own (`entries::OUTBOX`), read from both places; a release that reads it inline only
    // would take the outbox for empty, so it may no longer open the database.
    Ok(())
}

/// Opens (creating or upgrading) the database `name` with the given factory.
pub async fn open(factory: &IdbFactory, name: &str) -> Result<IdbDatabase> {
    let unavailable = |e: &JsValue| {
        let mut err = Error::from_js("opening the recordings database", e);
        if err.code != Code::QuotaExceeded {
            err.code = Code::StorageUnavailable;
        }
        err
    };
    let req: IdbOpenDbRequest = factory
        .open_with_u32(name, VERSION)
        .map_err(|e| unavailable(&e))?;
    // The upgrade must run inside the `upgradeneeded` event itself, so it is a real closure.
    let on_upgrade = Closure::<dyn FnMut(web_sys::IdbVersionChangeEvent)>::new({
        let req = req.clone();
        move |event: web_sys::IdbVersionChangeEvent| {
            let Ok(db) = req.result().and_then(|r| r.dyn_into::<IdbDatabase>()) else {
                return;
            };
            if upgrade(&db, event.old_version() as u32).is_err() {
                if let Some(tx) = req.transaction() {
                    let _ = tx.abort();
                }
            }
        }
    });
    req.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    let done = Promise::new(&mut |resolve: Function, reject: Function| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject));
        // Blocked: an older connection in another tab did not close. Ours closes itself on
        // `versionchange`, so this only happens with foreign code holding the database open.
        let blocked = reject.clone();
        req.set_onblocked(Some(&blocked));
    });
    let outcome = JsFuture::from(done).await;
    req.set_onupgradeneeded(None);
    drop(on_upgrade);
    match outcome {
        Ok(_) => req
            .result()
            .and_then(|r| r.dyn_into::<IdbDatabase>())
            .map_err(|e| unavailable(&e)),
        Err(event) => {
            let blocked = js_sys::Reflect::get(&event, &"type".into())
                .ok()
                .and_then(|t| t.as_string())
                .is_some_and(|t| t == "blocked");
            if blocked {
                return Err(Error::new(
                    Code::StorageUnavailable,
                    "opening the recordings database is blocked by another tab that holds an older \
                     version open: close that tab and try again",
                ));
            }
            Err(match req.error() {
                Ok(Some(dom)) => unavailable(&dom),
                _ => unavailable(&event),
            })
        }
    }
}
