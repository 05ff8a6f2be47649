//! The store's behaviour, the same in a page, a dedicated worker and a service worker.

use js_sys::Array;
use sha2::{Digest, Sha256};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

use super::support::*;

#[wasm_bindgen_test]
async fn blob_and_metadata_round_trip() {
    let (store, _) = fresh_store().await;
    let audio = pattern(200_000, 3);
    let custom = obj(&[("take", 2.into()), ("mic", "usb".into())]);
    let opts = obj(&[
        ("name", "Interview".into()),
        ("durationMs", 1234.5.into()),
        ("createdAt", 1_700_000_000_000f64.into()),
        ("tags", Array::of2(&"a".into(), &"b".into()).into()),
        ("custom", custom),
    ]);
    let rec = ok(store.save(
        blob(&audio, "audio/webm;codecs=opus").into(),
        Some(opts.unchecked_into()),
    ))
    .await;
    let id = string(&rec, "id");
    assert_eq!(id.len(), 36, "a UUIDv7 is made");
    assert_eq!(&id[14..15], "7");
    assert_eq!(string(&rec, "syncState"), "pending");
    assert_eq!(field(&rec, "synced"), JsValue::FALSE);
    assert_eq!(number(&rec, "size"), audio.len() as f64);

    let got = ok(store.get(id.clone().into())).await;
    assert_eq!(string(&got, "name"), "Interview");
    assert_eq!(string(&got, "mimeType"), "audio/webm;codecs=opus");
    assert_eq!(number(&got, "durationMs"), 1234.5);
    assert_eq!(number(&got, "createdAt"), 1_700_000_000_000.0);
    assert_eq!(number(&field(&got, "custom"), "take"), 2.0);
    assert_eq!(field(&got, "tags").unchecked_into::<Array>().length(), 2);

    let b: web_sys::Blob = ok(store.get_blob(id.clone().into())).await.unchecked_into();
    assert_eq!(b.type_(), "audio/webm;codecs=opus");
    assert_eq!(bytes_of(&b).await, audio);

    ok(store.settled()).await;
    let got = ok(store.get(id.clone().into())).await;
    let expected: String = Sha256::digest(&audio)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(string(&got, "contentHash"), expected);

    assert!(ok(store.get("missing".into())).await.is_null());
    assert!(ok(store.get_blob("missing".into())).await.is_null());
    store.close();
}

#[wasm_bindgen_test]
async fn thousand_recordings_list_in_order_with_paging() {
    let (store, _) = fresh_store().await;
    let mut saves = Vec::new();
    for i in 0..1000u32 {
        let opts = obj(&[
            ("createdAt", (1_000_000.0 + f64::from(i)).into()),
            ("name", format!("r{i}").into()),
        ]);
        // Not awaited one by one: saves overlap, as they do when an app imports many files.
        saves.push(wasm_bindgen_futures::JsFuture::from(store.save(
            blob(&[i as u8], "audio/ogg").into(),
            Some(opts.unchecked_into()),
        )));
    }
    for s in saves {
        s.await.unwrap();
    }
    assert_eq!(ok(store.count(None)).await.as_f64(), Some(1000.0));

    for (order, first) in [("desc", 999u32), ("asc", 0)] {
        let mut seen = Vec::new();
        let mut cursor = JsValue::UNDEFINED;
        loop {
            let opts = obj(&[
                ("limit", 128.into()),
                ("order", order.into()),
                ("cursor", cursor.clone()),
            ]);
            let page = ok(store.list(Some(opts.unchecked_into()))).await;
            let items = items(&page);
            assert!(items.len() <= 128);
            seen.extend(
                items
                    .iter()
                    .map(|r| number(r, "createdAt") as u32 - 1_000_000),
            );
            cursor = field(&page, "cursor");
            if cursor.is_null() {
                break;
            }
        }
        assert_eq!(seen.len(), 1000, "{order}: every recording once");
        assert_eq!(seen[0], first);
        let sorted = seen.windows(2).all(|w| {
            if order == "asc" {
                w[0] < w[1]
            } else {
                w[0] > w[1]
            }
        });
        assert!(sorted, "{order}: in creation order");
    }

    let all = ok(store.list(None)).await;
    assert_eq!(items(&all).len(), 1000);
    assert!(field(&all, "cursor").is_null());
    let pending = obj(&[("syncState", "pending".into())]);
    assert_eq!(
        ok(store.count(Some(pending.clone().unchecked_into())))
            .await
            .as_f64(),
        Some(1000.0)
    );
    let synced = obj(&[("syncState", "synced".into())]);
    assert_eq!(
        ok(store.count(Some(synced.unchecked_into())))
            .await
            .as_f64(),
        Some(0.0)
    );
    let page = ok(store.list(Some(
        obj(&[("syncState", "pending".into()), ("limit", 10.into())]).unchecked_into(),
    )))
    .await;
    assert_eq!(items(&page).len(), 10);
    assert_eq!(number(&items(&page)[0], "createdAt"), 1_000_999.0);
    store.close();
}

#[wasm_bindgen_test]
async fn update_and_delete() {
    let (store, _) = fresh_store().await;
    let rec = ok(store.save(
        blob(b"abc", "audio/wav").into(),
        Some(obj(&[("name", "old".into())]).unchecked_into()),
    ))
    .await;
    let id = string(&rec, "id");
    let changes = obj(&[
        ("name", "new".into()),
        ("durationMs", 5.into()),
        ("tags", Array::of1(&"t".into()).into()),
        ("custom", obj(&[("k", "v".into())])),
    ]);
    let updated = ok(store.update(id.clone().into(), changes.unchecked_into())).await;
    assert_eq!(string(&updated, "name"), "new");
    assert_eq!(string(&updated, "syncState"), "pending");
    assert!(number(&updated, "updatedAt") >= number(&rec, "updatedAt"));
    let got = ok(store.get(id.clone().into())).await;
    assert_eq!(string(&got, "name"), "new");
    assert_eq!(string(&field(&got, "custom"), "k"), "v");
    // Once hashed, the recording has a sync entry and edits go through it.
    ok(store.settled()).await;
    let custom = obj(&[("custom", obj(&[("k2", 1.into())]))]);
    let replaced = ok(store.update(id.clone().into(), custom.unchecked_into())).await;
    let custom = field(&replaced, "custom");
    assert!(
        field(&custom, "k").is_undefined(),
        "custom is replaced as a whole"
    );
    assert_eq!(number(&custom, "k2"), 1.0);
    assert_eq!(string(&replaced, "syncState"), "pending");
    assert_eq!(
        field(&replaced, "contentHash").as_string().map(|h| h.len()),
        Some(64)
    );
    let cleared = ok(store.update(
        id.clone().into(),
        obj(&[("durationMs", JsValue::NULL)]).unchecked_into(),
    ))
    .await;
    assert!(field(&cleared, "durationMs").is_null());
    assert_eq!(string(&cleared, "name"), "new", "fields not named stay");

    assert_eq!(
        err_code(store.update("nope".into(), obj(&[("name", "x".into())]).unchecked_into())).await,
        "NotFound"
    );

    ok(store.delete(id.clone().into())).await;
    assert!(ok(store.get(id.clone().into())).await.is_null());
    assert!(ok(store.get_blob(id.clone().into())).await.is_null());
    assert_eq!(ok(store.count(None)).await.as_f64(), Some(0.0));
    assert!(items(&ok(store.list(None)).await).is_empty());
    assert_eq!(err_code(store.delete(id.clone().into())).await, "NotFound");
    store.close();
}

#[wasm_bindgen_test]
async fn recordings_persist_across_close_and_reopen() {
    let (store, name) = fresh_store().await;
    let device = store.device_id();
    let rec = ok(store.save(blob(&pattern(5000, 9), "audio/mp4").into(), None)).await;
    let id = string(&rec, "id");
    store.close();
    assert_eq!(err_code(store.get(id.clone().into())).await, "Closed");
    assert_eq!(
        err_code(store.save(blob(b"x", "audio/mp4").into(), None)).await,
        "Closed"
    );

    let again = open(&name).await;
    assert_eq!(again.device_id(), device, "the device id is stable");
    let b: web_sys::Blob = ok(again.get_blob(id.clone().into())).await.unchecked_into();
    assert_eq!(bytes_of(&b).await, pattern(5000, 9));
    ok(again.settled()).await;
    let got = ok(again.get(id.into())).await;
    assert!(
        field(&got, "contentHash").as_string().is_some(),
        "hashed after reopening"
    );
    again.close();
}

#[wasm_bindgen_test]
async fn capture_survives_an_unfinished_session() {
    let (store, name) = fresh_store().await;
    let cap = capture_from(
        ok(store.start_capture(
            obj(&[("mimeType", "audio/webm".into()), ("name", "memo".into())]).unchecked_into(),
        ))
        .await,
    );
    let chunks = [pattern(1000, 1), pattern(2000, 2), pattern(3000, 3)];
    // Appends not awaited one by one, as from MediaRecorder's dataavailable events.
    let pending: Vec<_> = chunks
        .iter()
        .map(|c| wasm_bindgen_futures::JsFuture::from(cap.append(blob(c, "audio/webm").into())))
        .collect();
    for p in pending {
        p.await.unwrap();
    }
    // The tab dies: no finish, the connection goes away.
    store.close();
    drop(cap);

    let store = open(&name).await;
    let left: Array = ok(store.list_captures()).await.unchecked_into();
    assert_eq!(left.length(), 1);
    let cap = capture_from(left.get(0));
    let info: JsValue = cap.info().into();
    assert_eq!(number(&info, "chunks"), 3.0);
    assert_eq!(number(&info, "size"), 6000.0);
    // Recording goes on after the restart.
    ok(cap.append(blob(&pattern(500, 4), "audio/webm").into())).await;
    let rec = ok(cap.finish(Some(obj(&[("durationMs", 42.into())]).unchecked_into()))).await;
    assert_eq!(string(&rec, "name"), "memo");
    assert_eq!(string(&rec, "id"), cap.id());
    assert_eq!(number(&rec, "durationMs"), 42.0);
    let b: web_sys::Blob = ok(store.get_blob(cap.id().into())).await.unchecked_into();
    let mut expected: Vec<u8> = chunks.concat();
    expected.extend(pattern(500, 4));
    assert_eq!(b.type_(), "audio/webm");
    assert_eq!(bytes_of(&b).await, expected);
    assert_eq!(
        ok(store.list_captures())
            .await
            .unchecked_into::<Array>()
            .length(),
        0
    );
    assert_eq!(
        err_code(cap.finish(None)).await,
        "NotFound",
        "finishing twice"
    );

    let other = capture_from(
        ok(store.start_capture(obj(&[("mimeType", "audio/webm".into())]).unchecked_into())).await,
    );
    ok(other.append(blob(b"zz", "audio/webm").into())).await;
    ok(other.discard()).await;
    assert_eq!(
        ok(store.list_captures())
            .await
            .unchecked_into::<Array>()
            .length(),
        0
    );
    assert_eq!(ok(store.count(None)).await.as_f64(), Some(1.0));
    store.close();
}

#[wasm_bindgen_test]
async fn bad_input_is_a_typed_error_and_leaves_nothing() {
    let (store, _) = fresh_store().await;
    let audio = || -> JsValue { blob(b"abc", "audio/wav").into() };
    let save = |b: JsValue, o: JsValue| store.save(b, Some(o.unchecked_into()));
    assert_eq!(
        err_code(save("not a blob".into(), JsValue::UNDEFINED)).await,
        "InvalidArgument"
    );
    assert_eq!(
        err_code(save(JsValue::NULL, JsValue::UNDEFINED)).await,
        "InvalidArgument"
    );
    let long = "a".repeat(300);
    for bad_id in ["", "../x", "a/b", long.as_str()] {
        assert_eq!(
            err_code(save(audio(), obj(&[("id", bad_id.into())]))).await,
            "InvalidArgument",
            "id {bad_id:?}"
        );
        assert_eq!(err_code(store.get(bad_id.into())).await, "InvalidArgument");
    }
    assert_eq!(
        err_code(save(audio(), obj(&[("id", 5.into())]))).await,
        "InvalidArgument"
    );
    let f = js_sys::Function::new_no_args("return 1");
    let nested_bad = obj(&[("a", obj(&[("b", f64::NAN.into())]))]);
    for custom in [
        obj(&[("f", f.into())]),
        obj(&[("n", f64::NAN.into())]),
        obj(&[("d", js_sys::Date::new_0().into())]),
        nested_bad,
        "str".into(),
        Array::new().into(),
    ] {
        assert_eq!(
            err_code(save(audio(), obj(&[("custom", custom)]))).await,
            "InvalidArgument"
        );
    }
    assert_eq!(
        err_code(save(audio(), obj(&[("name", 5.into())]))).await,
        "InvalidArgument"
    );
    assert_eq!(
        err_code(save(audio(), obj(&[("tags", "x".into())]))).await,
        "InvalidArgument"
    );
    assert_eq!(
        err_code(save(audio(), obj(&[("durationMs", (-1).into())]))).await,
        "InvalidArgument"
    );
    assert_eq!(
        err_code(save(audio(), obj(&[("nmae", "typo".into())]))).await,
        "InvalidArgument"
    );
    assert_eq!(
        err_code(save(audio(), "options".into())).await,
        "InvalidArgument"
    );
    assert_eq!(
        err_code(store.list(Some(obj(&[("cursor", "garbage".into())]).unchecked_into()))).await,
        "InvalidArgument"
    );
    assert_eq!(
        err_code(store.list(Some(obj(&[("limit", 0.into())]).unchecked_into()))).await,
        "InvalidArgument"
    );
    assert_eq!(
        err_code(store.list(Some(obj(&[("syncState", "nope".into())]).unchecked_into()))).await,
        "InvalidArgument"
    );
    assert_eq!(
        err_code(store.start_capture(obj(&[]).unchecked_into())).await,
        "InvalidArgument"
    );
    assert_eq!(
        ok(store.count(None)).await.as_f64(),
        Some(0.0),
        "no failed call left anything"
    );

    let first = ok(save(
        audio(),
        obj(&[("id", "take-1".into()), ("name", "first".into())]),
    ))
    .await;
    assert_eq!(string(&first, "id"), "take-1");
    assert_eq!(
        err_code(save(
            blob(b"other", "audio/wav").into(),
            obj(&[("id", "take-1".into())])
        ))
        .await,
        "Conflict"
    );
    let kept = ok(store.get("take-1".into())).await;
    assert_eq!(
        string(&kept, "name"),
        "first",
        "a duplicate id never overwrites"
    );
    let b: web_sys::Blob = ok(store.get_blob("take-1".into())).await.unchecked_into();
    assert_eq!(bytes_of(&b).await, b"abc");
    store.close();
}

#[wasm_bindgen_test]
async fn storage_estimate_and_change_events() {
    let (store, _) = fresh_store().await;
    let est = ok(store.estimate()).await;
    let has_storage_api = js_sys::Reflect::has(&js_sys::global(), &"navigator".into()).unwrap()
        && !field(&field(&js_sys::global(), "navigator"), "storage").is_undefined();
    if has_storage_api {
        assert!(number(&est, "quota") > 0.0);
        assert!(field(&est, "persisted").as_bool().is_some());
    } else {
        // WebKitGTK ships without the Storage API: the estimate says it does not know.
        assert!(field(&est, "quota").is_null(), "quota: {est:?}");
        assert!(field(&est, "usage").is_null(), "usage: {est:?}");
        assert_eq!(field(&est, "persisted"), JsValue::FALSE);
    }

    let seen = js_sys::Array::new();
    let listener = js_sys::Function::new_with_args(
        "seen",
        "return (e) => seen.push(e.detail.kind + ':' + e.detail.ids.join(','))",
    )
    .call1(&JsValue::NULL, &seen)
    .unwrap()
    .unchecked_into::<js_sys::Function>();
    store
        .add_event_listener("change".into(), listener.clone().into(), JsValue::UNDEFINED)
        .unwrap();
    let rec = ok(store.save(
        blob(b"abc", "audio/wav").into(),
        Some(obj(&[("id", "ev".into())]).unchecked_into()),
    ))
    .await;
    ok(store.settled()).await;
    ok(store.delete(field(&rec, "id"))).await;
    store
        .remove_event_listener("change".into(), listener.clone().into(), JsValue::UNDEFINED)
        .unwrap();
    ok(store.save(blob(b"abc", "audio/wav").into(), None)).await;
    let seen: Vec<String> = seen.iter().map(|v| v.as_string().unwrap()).collect();
    assert_eq!(seen, ["save:ev", "hash:ev", "delete:ev"]);
    store.close();
}

/// A database written by every earlier schema version opens, keeps its recordings, and hashes
/// the one whose hash was never computed (the tab closed first): it becomes known to sync.
#[wasm_bindgen_test]
async fn schema_upgrades_from_every_earlier_version() {
    if !engine_stores_blobs().await {
        // Releases before schema 3 kept audio only as Blobs, so where IndexedDB refuses Blobs
        // (WebKit's ephemeral sessions) no database of theirs holds audio to upgrade.
        return;
    }
    for version in [1, 2] {
        let name = format!("upgrade-v{version}-{}", js_sys::Math::random());
        let audio = pattern(70_000, version as u8);
        wasm_bindgen_futures::JsFuture::from(write_old_database(
            &format!("tapesync/{name}"),
            version,
            "old-take",
            &audio,
        ))
        .await
        .expect("the old database is written");
        let store = open(&name).await;
        let got = ok(store.get("old-take".into())).await;
        assert_eq!(
            string(&got, "name"),
            "old",
            "v{version}: the recording survives"
        );
        let b: web_sys::Blob = ok(store.get_blob("old-take".into())).await.unchecked_into();
        assert_eq!(bytes_of(&b).await, audio, "v{version}: its audio survives");
        ok(store.settled()).await;
        let got = ok(store.get("old-take".into())).await;
        let expected: String = Sha256::digest(&audio)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(string(&got, "contentHash"), expected, "v{version}: hashed");
        assert_eq!(string(&got, "syncState"), "pending");
        // Opening again finds nothing more to adopt, and the recording is still there once.
        store.close();
        let store = open(&name).await;
        let page = ok(store.list(None)).await;
        assert_eq!(items(&page).len(), 1);
        store.close();
    }
}

/// Where IndexedDB refuses Blobs (WebKit's ephemeral sessions: Safari's private mode) the store
/// keeps audio as ArrayBuffer parts by itself, and only there.
#[wasm_bindgen_test]
async fn audio_storage_follows_what_the_engine_stores() {
    let expected = if engine_stores_blobs().await {
        "blob"
    } else {
        "chunks"
    };
    let (store, name) = fresh_store().await;
    assert_eq!(store.audio_storage(), expected);
    let audio = pattern(5000, 9);
    let rec = ok(store.save(blob(&audio, "audio/ogg").into(), None)).await;
    let b: web_sys::Blob = ok(store.get_blob(string(&rec, "id").into()))
        .await
        .unchecked_into();
    assert_eq!((b.type_(), bytes_of(&b).await), ("audio/ogg".into(), audio));
    store.close();
    // Remembered, and "chunks" asked for later sticks.
    assert_eq!(open(&name).await.audio_storage(), expected);
    let forced = open_chunked(&name).await;
    assert_eq!(forced.audio_storage(), "chunks");
    forced.close();
    assert_eq!(open(&name).await.audio_storage(), "chunks");
}

/// Every path over audio kept as parts: saves larger than one part, reads, hashing, captures
/// (also when finish is not awaited after the appends) and re-recordings.
#[wasm_bindgen_test]
async fn audio_kept_as_parts_round_trips_on_every_path() {
    let name = format!("test-{}", js_sys::Math::random().to_bits());
    let store = open_chunked(&name).await;
    // 2.5 parts: the last one short.
    let audio = pattern(5 * (1 << 19) + 7, 4);
    let rec = ok(store.save(
        blob(&audio, "").into(),
        Some(obj(&[("mimeType", "audio/webm".into())]).unchecked_into()),
    ))
    .await;
    let id = string(&rec, "id");
    assert_eq!(number(&rec, "size"), audio.len() as f64);
    let b: web_sys::Blob = ok(store.get_blob(id.clone().into())).await.unchecked_into();
    assert_eq!(b.type_(), "audio/webm");
    assert_eq!(bytes_of(&b).await, audio);
    ok(store.settled()).await;
    let hex = |bytes: &[u8]| -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(
        string(&ok(store.get(id.clone().into())).await, "contentHash"),
        hex(&audio)
    );

    let take = pattern(3000, 5);
    ok(store.replace_audio(id.clone().into(), blob(&take, "audio/ogg").into(), None)).await;
    let b: web_sys::Blob = ok(store.get_blob(id.clone().into())).await.unchecked_into();
    assert_eq!((b.type_(), bytes_of(&b).await), ("audio/ogg".into(), take));

    let cap = capture_from(
        ok(store.start_capture(obj(&[("mimeType", "audio/webm".into())]).unchecked_into())).await,
    );
    let chunks = [pattern(1000, 1), pattern(1 << 20, 2), pattern(10, 3)];
    // As MediaRecorder's handlers do: appends not awaited, finish called right after the last.
    let appended: Vec<_> = chunks
        .iter()
        .map(|c| wasm_bindgen_futures::JsFuture::from(cap.append(blob(c, "audio/webm").into())))
        .collect();
    let rec = ok(cap.finish(None)).await;
    for a in appended {
        a.await.expect("append");
    }
    assert_eq!(number(&rec, "size"), chunks.concat().len() as f64);
    let b: web_sys::Blob = ok(store.get_blob(cap.id().into())).await.unchecked_into();
    assert_eq!(bytes_of(&b).await, chunks.concat());
    ok(store.settled()).await;
    assert_eq!(
        string(&ok(store.get(cap.id().into())).await, "contentHash"),
        hex(&chunks.concat())
    );
    store.close();
}

/// The sync outbox lives in records of its own (schema 5), one per segment, written once: a sync
/// meta written by schema 4, its outbox inline, is read with that outbox; the next write moves
/// each segment into its own record, and a confirmed segment's record goes with it.
#[wasm_bindgen_test]
async fn the_outbox_moves_out_of_the_sync_meta_into_a_record_per_segment() {
    use tapesync::browser::{entries, idb, platform, schema};
    use tapesync::core::{commit::SyncMeta, device::DeviceId, log::Segment};
    use web_sys::IdbTransactionMode as Mode;
    let name = format!("tapesync/outbox-{}", js_sys::Math::random());
    let db = schema::open(&platform::indexed_db().unwrap(), &name)
        .await
        .unwrap();
    let device = DeviceId::parse("d1").unwrap();
    let mut meta = SyncMeta::new(device.clone());
    meta.next_seq = 2;
    meta.outbox = vec![
        Segment::new(device.clone(), 0, Vec::new()),
        Segment::new(device.clone(), 1, Vec::new()),
    ];
    let raw = |key: &str| {
        let db = db.clone();
        let key = key.to_string();
        async move {
            let tx = idb::Tx::new(&db, &[schema::META], Mode::Readonly).unwrap();
            let v = idb::call(tx.store(schema::META).unwrap().get(&key.into()), "test")
                .await
                .unwrap();
            tx.finish("test").await.unwrap();
            v
        }
    };
    let write = |state: SyncMeta, inline: bool| {
        let db = db.clone();
        async move {
            let tx = idb::Tx::new(&db, &[schema::META], Mode::Readwrite).unwrap();
            let store = tx.store(schema::META).unwrap();
            if inline {
                // What schema 4 wrote: the whole state in one record.
                let v = entries::to_js(&state).unwrap();
                idb::issue(store.put_with_key(&v, &entries::SYNC_META.into()), "test").unwrap();
            } else {
                let stored = entries::outbox_seqs(&store).await.unwrap();
                entries::write_meta(&store, &state, &stored).unwrap();
            }
            tx.commit("test").await.unwrap();
        }
    };
    let read = || {
        let db = db.clone();
        let device = device.clone();
        async move {
            let tx = idb::Tx::new(&db, &[schema::META], Mode::Readonly).unwrap();
            let m = entries::read_meta(&tx.store(schema::META).unwrap(), &device)
                .await
                .unwrap();
            tx.finish("test").await.unwrap();
            m
        }
    };
    let record = |seq: u64| format!("{}{seq:020}", entries::OUTBOX);
    let inline_len = |v: &JsValue| {
        js_sys::Reflect::get(v, &"outbox".into())
            .unwrap()
            .unchecked_into::<Array>()
            .length()
    };

    write(meta.clone(), true).await;
    assert_eq!(read().await, meta, "schema 4's inline outbox is read");
    write(meta.clone(), false).await;
    assert_eq!(inline_len(&raw(entries::SYNC_META).await), 0);
    let text = raw(&record(1))
        .await
        .as_string()
        .expect("segment 1 has a record");
    assert_eq!(
        text.into_bytes(),
        meta.outbox[1].encode(),
        "stored as it is uploaded"
    );
    assert_eq!(read().await, meta);
    // Segment 0 confirmed: its record goes, segment 1's stays.
    meta.outbox.remove(0);
    write(meta.clone(), false).await;
    assert!(raw(&record(0)).await.is_undefined());
    assert!(raw(&record(1)).await.is_string());
    assert_eq!(read().await, meta);
    db.close();
}

/// `entries::read_all` reads a whole store in pages (eviction looks at every sync entry): all
/// 2,500 records, once each, in key order.
#[wasm_bindgen_test]
async fn read_all_reads_every_record_once_across_pages() {
    use tapesync::browser::{entries, idb, platform, schema};
    use web_sys::IdbTransactionMode as Mode;
    let name = format!("tapesync/paged-{}", js_sys::Math::random());
    let db = schema::open(&platform::indexed_db().unwrap(), &name)
        .await
        .unwrap();
    let tx = idb::Tx::new(&db, &[schema::SYNC], Mode::Readwrite).unwrap();
    let sync = tx.store(schema::SYNC).unwrap();
    for i in 0..2_500 {
        let record = obj(&[("id", format!("r{i:05}").into())]);
        idb::issue(sync.put(&record), "test").unwrap();
    }
    tx.commit("test").await.unwrap();
    let tx = idb::Tx::new(&db, &[schema::SYNC], Mode::Readonly).unwrap();
    let all = entries::read_all(&tx.store(schema::SYNC).unwrap(), "test")
        .await
        .unwrap();
    tx.finish("test").await.unwrap();
    let ids: Vec<String> = all.iter().map(|v| string(&v, "id")).collect();
    let want: Vec<String> = (0..2_500).map(|i| format!("r{i:05}")).collect();
    assert_eq!(ids, want);
    db.close();
}

/// A cursor carries the last item's `createdAt` as text, read back without `str::parse::<f64>`
/// (issue 14: size): fractional and negative times (an app's own `createdAt`) page as whole ones,
/// and a cursor whose time is not such a decimal is refused.
#[wasm_bindgen_test]
async fn cursors_keep_fractional_and_negative_times() {
    let (store, _) = fresh_store().await;
    let times = [-86_400_000.5, -1.0, 0.25, 1_700_000_000_000.125];
    for (i, t) in times.iter().enumerate() {
        let opts = obj(&[("createdAt", (*t).into()), ("name", format!("r{i}").into())]);
        ok(store.save(
            blob(&[i as u8], "audio/ogg").into(),
            Some(opts.unchecked_into()),
        ))
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor = JsValue::UNDEFINED;
    loop {
        let opts = obj(&[
            ("limit", 1.into()),
            ("order", "asc".into()),
            ("cursor", cursor),
        ]);
        let page = ok(store.list(Some(opts.unchecked_into()))).await;
        seen.extend(items(&page).iter().map(|r| number(r, "createdAt")));
        cursor = field(&page, "cursor");
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(seen, times, "every recording once, in creation order");
    let id = "0190aaaa-0000-7000-8000-000000000000";
    for bad in ["0x10", "1e3", "-", ".", "1.2.3", "", "Infinity", " 1", "+1"] {
        let cursor = format!("{bad}:{id}");
        assert_eq!(
            err_code(store.list(Some(
                obj(&[("cursor", cursor.clone().into())]).unchecked_into()
            )))
            .await,
            "InvalidArgument",
            "{cursor}"
        );
    }
    store.close();
}
