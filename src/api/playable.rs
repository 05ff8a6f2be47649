//! `playable`: whether this engine can play a recording's audio, added to every recording the
//! JS API returns and never stored (it is a fact about this engine, not about the recording, so it
//! stays out of IndexedDB records and the sync log: another device may answer otherwise).
//!
//! The rule, per `mimeType`, asked once per type and remembered for the life of the module:
//! - in a scope with a document (a page): `canPlayType(mimeType)` of an `<audio>` element;
//!   `"probably"` or `"maybe"` is `true`, `""` is `false`;
//! - an empty `mimeType` is `true`: the type is unknown and the element sniffs the bytes;
//! - in workers and service workers (no audio element) `true`: they cannot play audio
//!   themselves, and the page that plays it answers for itself. `MediaSource.isTypeSupported`
//!   speaks for streaming (it says no to WAV and MP3 files every engine plays) and
//!   `MediaCapabilities.decodingInfo` is asynchronous and refuses types without codecs (Safari's
//!   `audio/mp4`), so neither stands in;
//! - anything that throws (no `canPlayType`, a document without `createElement`) is `true`:
//!   `false` only ever means the engine said no.

use std::cell::RefCell;

use js_sys::{Array, Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};

thread_local! {
    /// The answers so far, per MIME type: a handful, so a list (a `HashMap` instance here would
    /// cost more wasm than it saves time: issue 14).
    static ANSWERS: RefCell<Vec<(String, bool)>> = const { RefCell::new(Vec::new()) };
    /// The `<audio>` element asked: made once, `None` where there is no document.
    static AUDIO: RefCell<Option<Option<JsValue>>> = const { RefCell::new(None) };
}

/// Whether this engine can play audio of type `mime_type` (see the module docs for the rule).
pub(crate) fn playable(mime_type: &str) -> bool {
    if mime_type.trim().is_empty() {
        return true;
    }
    if let Some(known) = ANSWERS.with(|a| {
        a.borrow()
            .iter()
            .find(|(m, _)| m == mime_type)
            .map(|(_, known)| *known)
    }) {
        return known;
    }
    let answer = match audio_element() {
        Some(audio) => can_play(&audio, mime_type).unwrap_or(true),
        None => true,
    };
    ANSWERS.with(|a| a.borrow_mut().push((mime_type.to_owned(), answer)));
    answer
}

fn audio_element() -> Option<JsValue> {
    AUDIO.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                let document = Reflect::get(&js_sys::global(), &"document".into())
                    .ok()
                    .filter(|d| d.is_object())?;
                let create: Function = Reflect::get(&document, &"createElement".into())
                    .ok()?
                    .dyn_into()
                    .ok()?;
                create.call1(&document, &"audio".into()).ok()
            })
            .clone()
    })
}

/// `audio.canPlayType(mime_type) !== ""`; `None` where that cannot be asked.
fn can_play(audio: &JsValue, mime_type: &str) -> Option<bool> {
    let can_play_type: Function = Reflect::get(audio, &"canPlayType".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let answer = can_play_type.call1(audio, &mime_type.into()).ok()?;
    Some(!answer.as_string()?.is_empty())
}

/// Adds `playable` to `recording` (a recording object the API is about to return) from its
/// `mimeType` (and `audioHere: true` to a record stored before that field), and returns it. `null` and non-objects pass through unchanged.
///
/// ```text
/// Ok(playable::mark(store.get(&id).await?.unwrap_or(JsValue::NULL)))
/// ```
pub(crate) fn mark(recording: JsValue) -> JsValue {
    if recording.is_object() {
        let mime_type = Reflect::get(&recording, &"mimeType".into())
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_default();
        let _ = Reflect::set(&recording, &"playable".into(), &playable(&mime_type).into());
        // Records stored before `audioHere` existed were only ever written with their audio.
        let here = Reflect::get(&recording, &"audioHere".into()).unwrap_or(JsValue::UNDEFINED);
        if here.is_undefined() {
            let _ = Reflect::set(&recording, &"audioHere".into(), &JsValue::TRUE);
        }
    }
    recording
}

/// [`mark`] on each recording of `items` (a page of `list`).
pub(crate) fn mark_all(items: &Array) {
    for item in items.iter() {
        mark(item);
    }
}
