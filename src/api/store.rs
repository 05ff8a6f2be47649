//! `RecordingStore`: the JS class apps use to save, list and read recordings.

use std::future::Future;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;

use super::capture::Capture;
use super::error::to_js;
use super::options::Options;
use super::playable;
use super::remotes::target_of;
use super::sync::{round_options, AutoSync, AutoSyncOptions, Hub, SyncOptions};
use super::types::{
    CaptureOptions, CountOptions, EvictOptions, ListOptions, OpenOptions, ReplaceAudioOptions,
    SaveOptions, UpdateOptions,
};
use crate::browser::audio;
use crate::browser::capture::Capture as RawCapture;
use crate::browser::compress;
use crate::browser::error::{Code, Error, Result};
use crate::browser::eviction::{self, AutoEvict, Budget};
use crate::browser::store::{ListQuery, NewRecording, Order, Patch, Store};
use crate::core::engine::Direction;
use crate::core::id::RecordingId;
use crate::core::recording::SyncState;

/// Runs `work` as a Promise that rejects with a `TapesyncError`.
///
/// Boxed here and handed to one non-generic function, so the Promise glue and the error mapping
/// exist once and not once per exported method (issue 14: size).
pub(crate) fn promise<F>(work: F) -> Promise
where
    F: Future<Output = Result<JsValue>> + 'static,
{
    promise_boxed(Box::pin(work))
}

#[inline(never)]
fn promise_boxed(work: futures::future::LocalBoxFuture<'static, Result<JsValue>>) -> Promise {
    crate::browser::platform::to_promise(Box::pin(async move { work.await.map_err(to_js) }))
}

/// A store of recordings in this browser's IndexedDB.
///
/// ```js
/// import init, { RecordingStore } from "tapesync";
/// await init();
/// const store = await RecordingStore.open({ name: "my-app" });
/// const rec = await store.save(blob, { name: "Interview" });
/// const { items } = await store.list({ limit: 50 });
/// ```
#[wasm_bindgen]
pub struct RecordingStore {
    inner: Rc<Store>,
    hub: Rc<Hub>,
    /// The `maxLocalBytes` budget, applied for as long as the store object lives.
    _budget: Option<Rc<AutoEvict>>,
}

#[wasm_bindgen]
impl RecordingStore {
    /// Opens (creating or upgrading) a store. Rejects with `StorageUnavailable` where IndexedDB is
    /// missing or blocked.
    #[wasm_bindgen(unchecked_return_type = "Promise<RecordingStore>")]
    pub fn open(options: Option<OpenOptions>) -> Promise {
        let options: JsValue = options.into();
        promise(async move {
            let (name, audio_storage, max_local) = match Options::new(
                &options,
                "open options",
                &["name", "audioStorage", "maxLocalBytes"],
            )? {
                Some(o) => (
                    o.string("name")?,
                    o.string("audioStorage")?,
                    o.number("maxLocalBytes", 0.0)?,
                ),
                None => (None, None, None),
            };
            let audio_form = match audio_storage.as_deref() {
                None | Some("auto") => None,
                Some("chunks") => Some(audio::Form::Chunks),
                Some(other) => {
                    return Err(Error::invalid(format!(
                        "open options.audioStorage must be \"auto\" or \"chunks\", not {other:?}"
                    )))
                }
            };
            let name = name.unwrap_or_else(|| "default".to_owned());
            if name.is_empty() || name.len() > 100 {
                return Err(Error::invalid(
                    "open options.name must be 1 to 100 characters",
                ));
            }
            let inner = Store::open(&name, audio_form).await?;
            let hub = Hub::new(inner.clone());
            let _budget = max_local.map(|max| AutoEvict::install(&inner, max));
            Ok(RecordingStore {
                inner,
                hub,
                _budget,
            }
            .into())
        })
    }

    /// How this store keeps audio: `"blob"`, or `"chunks"` where the engine refuses Blobs in
    /// IndexedDB (Safari's private mode) or `audioStorage: "chunks"` asked for it.
    ///
    /// ```js
    /// const store = await RecordingStore.open({ name: "my-app" });
    /// store.audioStorage; // "blob" in Chromium, Firefox and Safari; "chunks" in private Safari
    /// ```
    #[wasm_bindgen(getter, js_name = audioStorage, unchecked_return_type = "\"blob\" | \"chunks\"")]
    pub fn audio_storage(&self) -> String {
        self.inner.audio_form().as_str().to_owned()
    }

    /// This database's device id: stable for as long as the database exists.
    #[wasm_bindgen(getter, js_name = deviceId)]
    pub fn device_id(&self) -> String {
        self.inner.device_id().to_owned()
    }

    /// Saves a recording: its metadata and audio in one transaction.
    ///
    /// With `compress`, WAV audio is first encoded (FLAC or Opus, in a worker, streamed) and the
    /// encoded audio is what is saved: its type and size, `durationMs` from the PCM unless given,
    /// and a `compression` report on the returned recording. Audio that is not WAV is saved as
    /// given; a broken WAV is an `InvalidArgument` and nothing is saved.
    ///
    /// ```js
    /// const rec = await store.save(wavFile, { name: "Interview", compress: "auto" });
    /// rec.mimeType;          // "audio/ogg; codecs=opus" or "audio/flac"
    /// rec.compression.ratio; // e.g. 0.03
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Recording>")]
    pub fn save(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Blob")] blob: JsValue,
        options: Option<SaveOptions>,
    ) -> Promise {
        let store = self.inner.clone();
        let options: JsValue = options.into();
        promise(async move {
            let blob = as_blob(&blob, "save(blob)")?;
            let mut new = new_recording(&options, "save options", true)?;
            let request = compress::Request::parse(&options, "save options")?;
            let mime_type = new.mime_type.clone().unwrap_or_else(|| blob.type_());
            let Some(request) = request.filter(|_| compress::is_wav(&mime_type)) else {
                return store.save(&blob, new).await.map(playable::mark);
            };
            let compressed = compress::transcode(&blob, &request).await?;
            new.mime_type = Some(compressed.mime_type.clone());
            new.duration_ms = new.duration_ms.or(Some(compressed.duration_ms));
            new.original_size = Some(compressed.original_size);
            let saved = store.save(&compressed.blob, new).await?;
            Reflect::set(&saved, &"compression".into(), &compressed.report())?;
            Ok(playable::mark(saved))
        })
    }

    /// The recording `id`, or `null`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Recording | null>")]
    pub fn get(&self, #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue) -> Promise {
        let store = self.inner.clone();
        promise(async move {
            let id = parse_id(&id)?;
            Ok(playable::mark(
                store.get(&id).await?.unwrap_or(JsValue::NULL),
            ))
        })
    }

    /// The audio of recording `id`: the same bytes and type that were saved, or `null`.
    ///
    /// A recording whose audio is in the cloud only (`audioHere: false`) is downloaded first,
    /// through the running `autoSync`'s remote, checked and stored; without one (or with its
    /// `audio: "none"`) this rejects with `AudioNotHere`, and offline with `Offline`. Reading
    /// counts as playing it, for `evict`.
    ///
    /// ```js
    /// const auto = store.autoSync(remote, { audio: "lazy" });
    /// const audio = await store.getBlob(rec.id); // downloaded now if rec.audioHere is false
    /// ```
    #[wasm_bindgen(js_name = getBlob, unchecked_return_type = "Promise<Blob | null>")]
    pub fn get_blob(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
    ) -> Promise {
        let (store, hub) = (self.inner.clone(), self.hub.clone());
        promise(async move {
            let id = parse_id(&id)?;
            if eviction::needs_fetch(&store, &id).await? {
                let target = hub.fetch_target()?;
                crate::browser::account::bind(&store, &target.identity()).await?;
                let fetched =
                    eviction::fetch(&store, &target, std::slice::from_ref(&id), None).await?;
                if let Some((_, e)) = fetched.failed.into_iter().next() {
                    return Err(e);
                }
            }
            let blob = store.get_blob(&id).await?;
            if blob.is_some() {
                eviction::played(&store, &id);
            }
            Ok(blob.map(JsValue::from).unwrap_or(JsValue::NULL))
        })
    }

    /// Downloads the audio of the recordings `ids` that is in the cloud only (`audioHere:
    /// false`), e.g. to prefetch under `audio: "lazy"`; recordings whose audio is here, or that
    /// do not exist, are skipped. `remote` must be the one the store syncs with. Resolves with
    /// `{ downloaded, failed: [{ id, code, message }] }`; rejects with `Offline` when offline.
    ///
    /// ```js
    /// const { items } = await store.list({ limit: 20 });
    /// const missing = items.filter((r) => !r.audioHere).map((r) => r.id);
    /// const { downloaded, failed } = await store.fetchAudio(missing, remote);
    /// ```
    #[wasm_bindgen(js_name = fetchAudio, unchecked_return_type = "Promise<FetchAudioReport>")]
    pub fn fetch_audio(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] ids: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Remote")] remote: JsValue,
    ) -> Promise {
        let (store, hub) = (self.inner.clone(), self.hub.clone());
        promise(async move {
            let target = target_of(&remote)?;
            let list = ids
                .dyn_ref::<Array>()
                .ok_or_else(|| Error::invalid("fetchAudio(ids, remote): ids must be an array"))?;
            if list.length() > 100_000 {
                return Err(Error::invalid(
                    "fetchAudio(ids, remote): at most 100000 ids at once",
                ));
            }
            let ids = list
                .iter()
                .map(|v| parse_id(&v))
                .collect::<Result<Vec<_>>>()?;
            store.check_open()?;
            if !hub.is_online() {
                return Err(Error::new(
                    Code::Offline,
                    "fetchAudio: the network is down; call it again once online",
                ));
            }
            crate::browser::account::bind(&store, &target.identity()).await?;
            let fetched = eviction::fetch(&store, &target, &ids, None).await?;
            let out = Object::new();
            Reflect::set(&out, &"downloaded".into(), &fetched.downloaded.into())?;
            let failed = Array::new();
            for (id, e) in fetched.failed {
                let f = Object::new();
                Reflect::set(&f, &"id".into(), &id.as_str().into())?;
                Reflect::set(&f, &"code".into(), &e.code.as_str().into())?;
                Reflect::set(&f, &"message".into(), &e.message.into())?;
                failed.push(&f);
            }
            Reflect::set(&out, &"failed".into(), &failed)?;
            Ok(out.into())
        })
    }

    /// Frees the least recently played synced audio until at most `keepBytes` of synced audio
    /// is left on this device. Metadata stays; audio not in the cloud yet (pending, conflict
    /// copies, failed) is never evicted. Evicted recordings show `audioHere: false`, and
    /// `getBlob` or `fetchAudio` bring their audio back. Resolves with `{ evicted, freedBytes,
    /// keptBytes }`.
    ///
    /// ```js
    /// const { evicted, freedBytes } = await store.evict({ keepBytes: 200 * 1024 * 1024 });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<EvictReport>")]
    pub fn evict(&self, options: EvictOptions) -> Promise {
        let store = self.inner.clone();
        let options: JsValue = options.into();
        promise(async move {
            let what = "evict options";
            let keep = Options::new(&options, what, &["keepBytes"])?
                .map(|o| o.number("keepBytes", 0.0))
                .transpose()?
                .flatten()
                .ok_or_else(|| Error::invalid("evict options.keepBytes must be a number >= 0"))?;
            let done = eviction::evict(&store, Budget::KeepSynced(keep)).await?;
            let out = Object::new();
            Reflect::set(&out, &"evicted".into(), &done.recordings.into())?;
            Reflect::set(&out, &"freedBytes".into(), &done.bytes.into())?;
            Reflect::set(&out, &"keptBytes".into(), &done.kept_bytes.into())?;
            Ok(out.into())
        })
    }

    /// Tells the store whether the network is metered (e.g. from Capacitor's Network plugin:
    /// `connectionType === "cellular"`). While metered, syncs move metadata only; the audio they
    /// would download waits for an unmetered sync. `getBlob` and `fetchAudio` still download
    /// what they are asked for. Throws `InvalidArgument` for anything but a boolean.
    ///
    /// ```js
    /// store.setMetered(true);   // metadata only
    /// store.setMetered(false);  // the next sync downloads the audio too
    /// ```
    #[wasm_bindgen(js_name = setMetered)]
    pub fn set_metered(
        &self,
        #[wasm_bindgen(unchecked_param_type = "boolean")] metered: JsValue,
    ) -> std::result::Result<(), JsValue> {
        let metered = metered.as_bool().ok_or_else(|| {
            to_js(Error::invalid(
                "setMetered(metered): metered must be a boolean",
            ))
        })?;
        self.hub.set_metered(metered);
        Ok(())
    }

    /// A page of recordings, newest first unless `order: "asc"`.
    #[wasm_bindgen(unchecked_return_type = "Promise<ListPage>")]
    pub fn list(&self, options: Option<ListOptions>) -> Promise {
        let store = self.inner.clone();
        let options: JsValue = options.into();
        promise(async move {
            let mut query = ListQuery::default();
            if let Some(o) = Options::new(
                &options,
                "list options",
                &["syncState", "limit", "cursor", "order"],
            )? {
                query.sync_state = sync_state(&o)?;
                query.limit = o.positive_int("limit", 100_000)?;
                query.cursor = o.string("cursor")?;
                if o.choice("order", &["asc", "desc"])?.as_deref() == Some("asc") {
                    query.order = Order::OldestFirst;
                }
            }
            let page = store.list(query).await?;
            playable::mark_all(&page.items);
            let out = Object::new();
            Reflect::set(&out, &"items".into(), &page.items)?;
            Reflect::set(
                &out,
                &"cursor".into(),
                &page.cursor.map(JsValue::from).unwrap_or(JsValue::NULL),
            )?;
            Ok(out.into())
        })
    }

    /// Edits metadata; the recording becomes pending so the next sync pushes the edit.
    #[wasm_bindgen(unchecked_return_type = "Promise<Recording>")]
    pub fn update(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
        changes: UpdateOptions,
    ) -> Promise {
        let store = self.inner.clone();
        let changes: JsValue = changes.into();
        promise(async move {
            let id = parse_id(&id)?;
            let what = "update changes";
            let o = Options::new(&changes, what, &["name", "durationMs", "tags", "custom"])?
                .ok_or_else(|| Error::invalid(format!("{what} must be an object")))?;
            let patch = Patch {
                name: o.string("name")?,
                duration_ms: o.nullable_number("durationMs", 0.0)?,
                tags: o.strings("tags")?,
                custom: o.json_object("custom")?,
            };
            // Each field on its own here; the store checks the recording they make together.
            check_limits(
                what,
                patch.name.as_deref(),
                patch.tags.as_deref().unwrap_or_default(),
                patch.custom.as_ref(),
            )?;
            store.update(&id, patch).await.map(playable::mark)
        })
    }

    /// Replaces a recording's audio with a new take, keeping its id and metadata; the recording
    /// becomes pending. Concurrent takes on two devices never lose audio: see the sync policies.
    ///
    /// `compress` works as in `save`; a compressed take also sets `durationMs` from the PCM.
    ///
    /// ```js
    /// await store.replaceAudio(rec.id, newTake);
    /// await store.replaceAudio(rec.id, wavTake, { compress: "flac" });
    /// ```
    #[wasm_bindgen(js_name = replaceAudio, unchecked_return_type = "Promise<Recording>")]
    pub fn replace_audio(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Blob")] blob: JsValue,
        options: Option<ReplaceAudioOptions>,
    ) -> Promise {
        let store = self.inner.clone();
        let options: JsValue = options.into();
        promise(async move {
            let id = parse_id(&id)?;
            let blob = as_blob(&blob, "replaceAudio(id, blob)")?;
            let what = "replaceAudio options";
            Options::new(&options, what, &["compress"])?;
            let request = compress::Request::parse(&options, what)?;
            let Some(request) = request.filter(|_| compress::is_wav(&blob.type_())) else {
                return store
                    .replace_audio(&id, &blob, None)
                    .await
                    .map(playable::mark);
            };
            let compressed = compress::transcode(&blob, &request).await?;
            store
                .replace_audio(&id, &compressed.blob, Some(compressed.original_size as u64))
                .await?;
            let patch = Patch {
                duration_ms: Some(Some(compressed.duration_ms)),
                ..Patch::default()
            };
            let updated = store.update(&id, patch).await?;
            Reflect::set(&updated, &"compression".into(), &compressed.report())?;
            Ok(playable::mark(updated))
        })
    }

    /// Puts a recording whose sync failed for good (`syncState: "failed"`, e.g. after a 403) back
    /// in line for the next sync, once the cause is fixed. Resolves to `false` if it had not failed.
    #[wasm_bindgen(unchecked_return_type = "Promise<boolean>")]
    pub fn retry(&self, #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue) -> Promise {
        let store = self.inner.clone();
        promise(async move {
            let id = parse_id(&id)?;
            Ok(store.retry(&id).await?.into())
        })
    }

    /// Deletes a recording; a tombstone stays until the deletion is synced.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn delete(&self, #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue) -> Promise {
        let store = self.inner.clone();
        promise(async move {
            let id = parse_id(&id)?;
            store.delete(&id).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// How many recordings there are, in one sync state or in all.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn count(&self, options: Option<CountOptions>) -> Promise {
        let store = self.inner.clone();
        let options: JsValue = options.into();
        promise(async move {
            let state = match Options::new(&options, "count options", &["syncState"])? {
                Some(o) => sync_state(&o)?,
                None => None,
            };
            Ok(store.count(state).await?.into())
        })
    }

    /// `{ usage, quota, persisted }` from `navigator.storage`. Never rejects: where the browser
    /// has no Storage API (WebKitGTK) `usage` and `quota` are `null` and `persisted` is `false`.
    ///
    /// ```js
    /// const { usage, quota, persisted } = await store.estimate();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<StorageEstimate>")]
    pub fn estimate(&self) -> Promise {
        promise(async move { Ok(crate::browser::platform::estimate().await) })
    }

    /// Asks the browser to keep this site's data under storage pressure; resolves to whether it
    /// will (`false` where it cannot be asked: no Storage API, or a worker). Firefox shows a
    /// prompt and the promise stays pending until the user answers, so do not await it before
    /// anything else: tapesync never waits for it.
    ///
    /// ```js
    /// store.persist().then((kept) => console.log("persistent storage:", kept)); // not awaited
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<boolean>")]
    pub fn persist(&self) -> Promise {
        promise(async move { Ok(crate::browser::platform::persist().await.into()) })
    }

    /// Resolves when the content hashing queued so far has finished. No flow needs it (a sync
    /// hashes what it pushes itself); it is there for apps that show hashes or measure.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn settled(&self) -> Promise {
        let store = self.inner.clone();
        promise(async move {
            crate::browser::hashing::drain(&store).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Starts capturing a recording chunk by chunk.
    #[wasm_bindgen(js_name = startCapture, unchecked_return_type = "Promise<Capture>")]
    pub fn start_capture(&self, options: CaptureOptions) -> Promise {
        let store = self.inner.clone();
        let options: JsValue = options.into();
        promise(async move {
            let what = "startCapture options";
            let o = Options::new(
                &options,
                what,
                &["mimeType", "name", "sampleRate", "channels", "compress"],
            )?
            .ok_or_else(|| Error::invalid(format!("{what} must be an object")))?;
            let mime_type = o
                .string("mimeType")?
                .ok_or_else(|| Error::invalid(format!("{what}.mimeType is required")))?;
            let name = o.string("name")?.unwrap_or_default();
            let pcm_only = ["sampleRate", "channels", "compress"];
            if mime_type != "audio/pcm" {
                if let Some(key) = pcm_only.iter().find(|k| o.has(k)) {
                    return Err(Error::invalid(format!(
                        "{what}.{key} is for mimeType \"audio/pcm\"; other chunks are stored as they are"
                    )));
                }
                let raw = RawCapture::start(&store, mime_type, name).await?;
                return Ok(Capture::from(raw).into());
            }
            let sample_rate = o.positive_int("sampleRate", 655_350)?.ok_or_else(|| {
                Error::invalid(format!(
                    "{what}.sampleRate is required for \"audio/pcm\" (e.g. an AudioContext's sampleRate)"
                ))
            })?;
            let channels = o.positive_int("channels", 2)?.unwrap_or(1);
            if o.has("compress") && compress::Request::parse(&options, what)?.is_none() {
                return Err(Error::invalid(format!(
                    "{what}.compress cannot be false for \"audio/pcm\": raw samples are stored compressed"
                )));
            }
            let request = compress::Request::parse(&options, what)?.unwrap_or(compress::Request {
                format: "flac",
                bitrate: None,
            });
            let encoder = compress::PcmEncoder::open(&request, sample_rate, channels).await?;
            let raw = RawCapture::start(&store, encoder.mime_type.clone(), name).await?;
            Ok(Capture::pcm(raw, encoder).into())
        })
    }

    /// The captures left unfinished (for example when the tab closed mid-recording).
    #[wasm_bindgen(js_name = listCaptures, unchecked_return_type = "Promise<Capture[]>")]
    pub fn list_captures(&self) -> Promise {
        let store = self.inner.clone();
        promise(async move {
            let captures = RawCapture::unfinished(&store).await?;
            Ok(captures
                .into_iter()
                .map(|c| JsValue::from(Capture::from(c)))
                .collect::<Array>()
                .into())
        })
    }

    /// Listens for one of the store's events: `change`, `syncstate`, `syncprogress`,
    /// `syncconflict`, `syncfailure`, `networkchange` (typed per event by `TapesyncEventMap`).
    /// `change` also fires for the changes of the other stores of the same name (other tabs and
    /// workers, through a `BroadcastChannel` where there is one), so a list stays current.
    ///
    /// ```js
    /// store.addEventListener("change", (e) => console.log(e.detail.kind, e.detail.ids));
    /// ```
    #[wasm_bindgen(js_name = addEventListener, skip_typescript)]
    pub fn add_event_listener(
        &self,
        kind: JsValue,
        listener: JsValue,
        options: JsValue,
    ) -> std::result::Result<(), JsValue> {
        self.forward("addEventListener", &kind, &listener, options)
    }

    /// Removes a listener added with `addEventListener`.
    ///
    /// ```js
    /// store.removeEventListener("change", onChange);
    /// ```
    #[wasm_bindgen(js_name = removeEventListener, skip_typescript)]
    pub fn remove_event_listener(
        &self,
        kind: JsValue,
        listener: JsValue,
        options: JsValue,
    ) -> std::result::Result<(), JsValue> {
        self.forward("removeEventListener", &kind, &listener, options)
    }

    /// Syncs with the cloud: pulls other devices' changes, pushes this one's. Resolves with a
    /// `SyncReport`; a sync asked for while one runs joins one follow-up round.
    ///
    /// ```js
    /// const report = await store.sync(remote, { policy: "merge", concurrency: 4 });
    /// console.log(report.pushed, report.pulled, report.failed);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncReport>")]
    pub fn sync(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Remote")] remote: JsValue,
        options: Option<SyncOptions>,
    ) -> Promise {
        self.request(&remote, options, None)
    }

    /// Pushes this device's changes and their audio, without reading other devices' changes (or
    /// downloading anything): `sync(remote, { ...options, direction: "push" })`.
    ///
    /// ```js
    /// await store.push(remote); // e.g. right after a recording is saved
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncReport>")]
    pub fn push(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Remote")] remote: JsValue,
        options: Option<SyncOptions>,
    ) -> Promise {
        self.request(&remote, options, Some(Direction::Push))
    }

    /// Pulls other devices' changes and downloads their audio, publishing nothing of this
    /// device's: `sync(remote, { ...options, direction: "pull" })`.
    ///
    /// ```js
    /// await store.pull(remote); // e.g. a "refresh" gesture on a metered connection
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncReport>")]
    pub fn pull(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Remote")] remote: JsValue,
        options: Option<SyncOptions>,
    ) -> Promise {
        self.request(&remote, options, Some(Direction::Pull))
    }

    /// Syncs by itself: at start, when the network returns, when the page becomes visible, and
    /// on an interval. Throws `InvalidArgument` for bad options.
    #[wasm_bindgen(js_name = autoSync)]
    pub fn auto_sync(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Remote")] remote: JsValue,
        options: Option<AutoSyncOptions>,
    ) -> std::result::Result<AutoSync, JsValue> {
        let options: JsValue = options.into();
        target_of(&remote)
            .and_then(|target| AutoSync::start(&self.hub, target, &options))
            .map_err(to_js)
    }

    /// Tells the store whether the network is usable, for hosts that know better than
    /// `navigator.onLine` (e.g. Capacitor's Network plugin). `true` after `false` starts the
    /// automatic syncs' `onOnline` trigger.
    /// Throws `InvalidArgument` for anything but a boolean (the glue's conversion of a `bool`
    /// parameter threw a plain TypeError for a Symbol or a BigInt).
    #[wasm_bindgen(js_name = setOnline)]
    pub fn set_online(
        &self,
        #[wasm_bindgen(unchecked_param_type = "boolean")] online: JsValue,
    ) -> std::result::Result<(), JsValue> {
        let online = online.as_bool().ok_or_else(|| {
            to_js(Error::invalid(
                "setOnline(online): online must be a boolean",
            ))
        })?;
        self.hub.set_online(online);
        Ok(())
    }

    /// Closes the database connection; later calls reject with `Closed`.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Forgets which cloud this store syncs with and its sync state, keeping every recording
    /// (pending again, pushed as new by the next sync). A store syncs with one remote (backend,
    /// bucket, prefix) until this is called: another one is refused with `InvalidArgument`.
    ///
    /// ```js
    /// await store.resetSync();              // e.g. the user switched accounts
    /// await store.sync(otherAccountsRemote);
    /// ```
    #[wasm_bindgen(js_name = resetSync, unchecked_return_type = "Promise<void>")]
    pub fn reset_sync(&self) -> Promise {
        let store = self.inner.clone();
        promise(async move {
            crate::browser::account::reset(&store).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Deletes the store `name` (its database, recordings and sync state), e.g. on sign-out.
    /// Rejects with `Conflict` while a store of that name is open in any tab or worker.
    ///
    /// ```js
    /// store.close();
    /// await RecordingStore.destroy("my-app");
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn destroy(#[wasm_bindgen(unchecked_param_type = "string")] name: JsValue) -> Promise {
        promise(async move {
            // Checked here, not by the glue: a `String` parameter threw a TypeError (not a
            // TapesyncError) for a non-string, or trapped the module for `{ length: 1e9 }`.
            let name = name
                .as_string()
                .ok_or_else(|| Error::invalid("destroy(name): the name must be a string"))?;
            crate::browser::account::destroy(&name).await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

impl RecordingStore {
    /// Checks the arguments here rather than in the glue (a `&str` parameter made the glue
    /// convert any value, and e.g. `{ length: 1e9 }` trapped the module) and turns what the
    /// event target throws (an options getter, say) into a `TapesyncError`.
    fn forward(
        &self,
        method: &str,
        kind: &JsValue,
        listener: &JsValue,
        options: JsValue,
    ) -> std::result::Result<(), JsValue> {
        let kind = kind.as_string().ok_or_else(|| {
            to_js(Error::invalid(format!(
                "{method}: the type must be a string"
            )))
        })?;
        // A function, or null/undefined (which the DOM ignores); an object whose handleEvent is
        // not callable would throw at each event, outside any call of the app.
        if !(listener.is_function() || listener.is_null() || listener.is_undefined()) {
            return Err(to_js(Error::invalid(format!(
                "{method}: the listener must be a function"
            ))));
        }
        let target = self.inner.events().target();
        let f: Function = Reflect::get(target, &method.into())?.unchecked_into();
        f.call3(target, &kind.into(), listener, &options)
            .map_err(|e| to_js(Error::invalid(Error::from_js(method, &e).message)))?;
        Ok(())
    }
}

fn as_blob(value: &JsValue, what: &str) -> Result<web_sys::Blob> {
    value
        .dyn_ref::<web_sys::Blob>()
        .cloned()
        .ok_or_else(|| Error::invalid(format!("{what} must be a Blob (or a File)")))
}

pub(crate) fn parse_id(value: &JsValue) -> Result<RecordingId> {
    let s = value
        .as_string()
        .ok_or_else(|| Error::invalid("an id must be a string"))?;
    RecordingId::parse(&s).map_err(|e| Error::invalid(format!("invalid id {s:?}: {e}")))
}

fn sync_state(o: &Options) -> Result<Option<SyncState>> {
    let names: Vec<&str> = SyncState::ALL.iter().map(|s| s.as_str()).collect();
    Ok(o.choice("syncState", &names)?
        .and_then(|s| SyncState::parse(&s)))
}

/// Reads the options of `save` (with `id` and `mimeType`) or of `finish` (without).
pub(crate) fn new_recording(
    options: &JsValue,
    what: &'static str,
    is_save: bool,
) -> Result<NewRecording> {
    let keys: &[&str] = if is_save {
        &[
            "id",
            "name",
            "mimeType",
            "durationMs",
            "createdAt",
            "tags",
            "custom",
            "compress",
        ]
    } else {
        &["name", "durationMs", "createdAt", "tags", "custom"]
    };
    let Some(o) = Options::new(options, what, keys)? else {
        return Ok(NewRecording::default());
    };
    let id = match o.string("id")? {
        Some(s) => Some(
            RecordingId::parse(&s).map_err(|e| Error::invalid(format!("{what}.id {s:?}: {e}")))?,
        ),
        None => None,
    };
    let new = NewRecording {
        id,
        name: o.string("name")?,
        mime_type: o.string("mimeType")?,
        duration_ms: o.number("durationMs", 0.0)?,
        created_at: o.time("createdAt")?,
        tags: o.strings("tags")?.unwrap_or_default(),
        custom: o.json_object("custom")?,
        original_size: None,
    };
    check_limits(what, new.name.as_deref(), &new.tags, new.custom.as_ref())?;
    Ok(new)
}

/// Refuses metadata that sync could not carry (`core::limits`), before anything is written: a
/// recording accepted here must be publishable and readable on every device.
pub(crate) fn check_limits(
    what: &str,
    name: Option<&str>,
    tags: &[String],
    custom: Option<&JsValue>,
) -> Result<()> {
    let custom = match custom {
        Some(c) => crate::browser::entries::from_js(c.clone(), "custom").map_err(|_| {
            Error::invalid(format!(
                "{what}.custom must be a plain object of JSON values"
            ))
        })?,
        None => serde_json::Map::new(),
    };
    crate::core::limits::check_metadata(name.unwrap_or_default(), tags, &custom)
        .map_err(|e| Error::invalid(format!("{what}: {e}")))
}

impl RecordingStore {
    /// Runs `sync`, `push` or `pull`: `direction` is the method's own, which an explicit
    /// `options.direction` may not contradict.
    fn request(
        &self,
        remote: &JsValue,
        options: Option<SyncOptions>,
        direction: Option<Direction>,
    ) -> Promise {
        let options: JsValue = options.into();
        let target = match target_of(remote) {
            Ok(t) => t,
            Err(e) => return Promise::reject(&to_js(e)),
        };
        let parsed = Options::new(
            &options,
            "sync options",
            &[
                "policy",
                "conflictCopies",
                "direction",
                "concurrency",
                "chunkSize",
                "signal",
                "audio",
            ],
        )
        .and_then(|o| {
            let explicit = o.as_ref().is_some_and(|o| o.has("direction"));
            let mut round = round_options(o.as_ref(), target.as_ref())?;
            if let Some(d) = direction {
                if explicit && round.direction != d {
                    return Err(Error::invalid(
                        "sync options.direction contradicts the method (push() pushes, pull() pulls)",
                    ));
                }
                round.direction = d;
            }
            Ok(round)
        });
        match parsed {
            Ok(round) => self.hub.request(target, round, true),
            Err(e) => Promise::reject(&to_js(e)),
        }
    }
}
