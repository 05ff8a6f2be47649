//! `change` across the stores of one database (src/browser/broadcast.rs): two stores of one name in
//! the same realm stand for two tabs; the same in a page, a dedicated worker and a service worker.

use js_sys::{Array, Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

use super::support::*;

/// A listener that notes `kind:id,id` of each `change`, and the notes.
fn recorder() -> (Function, Array) {
    let seen = Array::new();
    let listener = Function::new_with_args(
        "seen",
        "return (e) => seen.push(e.detail.kind + ':' + e.detail.ids.join(','))",
    )
    .call1(&JsValue::NULL, &seen)
    .unwrap()
    .unchecked_into::<Function>();
    (listener, seen)
}

fn notes(seen: &Array) -> Vec<String> {
    seen.iter().filter_map(|v| v.as_string()).collect()
}

/// Waits (up to 5 s) until `seen` holds `note`.
async fn until_seen(seen: &Array, note: &str) {
    for _ in 0..100 {
        if notes(seen).iter().any(|n| n == note) {
            return;
        }
        gloo_timers::future::TimeoutFuture::new(50).await;
    }
    panic!("never saw {note:?}: {:?}", notes(seen));
}

fn has_broadcast_channel() -> bool {
    Reflect::get(&js_sys::global(), &"BroadcastChannel".into()).is_ok_and(|c| c.is_function())
}

#[wasm_bindgen_test]
async fn changes_reach_the_other_stores_of_the_database_once() {
    if !has_broadcast_channel() {
        return;
    }
    let (a, name) = fresh_store().await;
    let b = open(&name).await;
    let (other, _) = fresh_store().await;
    let (in_a, seen_a) = recorder();
    let (in_b, seen_b) = recorder();
    let (in_other, seen_other) = recorder();
    for (store, l) in [(&a, &in_a), (&b, &in_b), (&other, &in_other)] {
        store
            .add_event_listener("change".into(), l.clone().into(), JsValue::UNDEFINED)
            .unwrap();
    }
    ok(a.save(
        blob(b"abc", "audio/wav").into(),
        Some(obj(&[("id", "bc1".into())]).unchecked_into()),
    ))
    .await;
    until_seen(&seen_b, "save:bc1").await;
    let listed = items(&ok(b.list(None)).await);
    assert_eq!(listed.len(), 1, "B lists what A saved");
    ok(b.delete("bc1".into())).await;
    until_seen(&seen_a, "delete:bc1").await;
    ok(a.settled()).await;
    gloo_timers::future::TimeoutFuture::new(200).await;
    let count = |seen: &Array, note: &str| notes(seen).iter().filter(|n| *n == note).count();
    for seen in [&seen_a, &seen_b] {
        assert_eq!(count(seen, "save:bc1"), 1, "{:?}", notes(seen));
        assert_eq!(count(seen, "delete:bc1"), 1, "{:?}", notes(seen));
    }
    assert!(notes(&seen_other).is_empty(), "{:?}", notes(&seen_other));

    // Closed, B hears nothing more.
    b.close();
    let before = notes(&seen_b).len();
    ok(a.save(
        blob(b"def", "audio/wav").into(),
        Some(obj(&[("id", "bc2".into())]).unchecked_into()),
    ))
    .await;
    ok(a.settled()).await;
    gloo_timers::future::TimeoutFuture::new(300).await;
    assert_eq!(notes(&seen_b).len(), before, "{:?}", notes(&seen_b));
    a.close();
    other.close();
}

#[wasm_bindgen_test]
async fn foreign_messages_on_the_channel_are_ignored() {
    if !has_broadcast_channel() {
        return;
    }
    let (store, name) = fresh_store().await;
    let (listener, seen) = recorder();
    store
        .add_event_listener("change".into(), listener.into(), JsValue::UNDEFINED)
        .unwrap();
    let post = Function::new_with_args(
        "name",
        "const c = new BroadcastChannel('tapesync/' + name);
         for (const m of [null, 1, 'save', { kind: 'save' }, { kind: 'new-kind', ids: ['a'] },
                          { kind: 'save', ids: 'a' }, { kind: 'save', ids: [2] }, { kind: 'save', ids: ['no spaces'] }])
           c.postMessage(m);
         c.postMessage({ kind: 'hash', ids: ['ok'], extra: true });
         c.close();",
    );
    post.call1(&JsValue::NULL, &name.into()).unwrap();
    until_seen(&seen, "hash:ok").await;
    gloo_timers::future::TimeoutFuture::new(100).await;
    assert_eq!(notes(&seen), ["hash:ok"]);
    store.close();
}
