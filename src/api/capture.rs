//! `Capture`: a recording being captured chunk by chunk.

use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::error::to_js;
use super::store::{new_recording, promise};
use super::types::{CaptureInfo, FinishOptions};
use crate::browser::capture::Capture as RawCapture;
use crate::browser::compress::PcmEncoder;
use crate::browser::error::Error;

/// A capture in progress. Append each `MediaRecorder` chunk as it arrives; a tab that dies keeps
/// every appended chunk, and `store.listCaptures()` finds the capture on the next start.
///
/// ```js
/// const cap = await store.startCapture({ mimeType: recorder.mimeType });
/// recorder.ondataavailable = (e) => cap.append(e.data);
/// recorder.onstop = async () => { await cap.finish({ durationMs }); };
/// recorder.start(1000);
/// ```
///
/// A capture of `mimeType: "audio/pcm"` takes raw samples and stores them compressed, about a
/// second at a time:
///
/// ```js
/// const cap = await store.startCapture({ mimeType: "audio/pcm", sampleRate: ctx.sampleRate, channels: 1 });
/// worklet.port.onmessage = (e) => cap.append(e.data); // [Float32Array] from process(inputs)
/// const rec = await cap.finish(); // audio/flac, durationMs from the samples
/// ```
#[wasm_bindgen]
pub struct Capture {
    inner: Rc<RawCapture>,
    /// The encoder of an "audio/pcm" capture started in this session.
    encoder: Option<Rc<PcmEncoder>>,
}

impl From<RawCapture> for Capture {
    fn from(raw: RawCapture) -> Self {
        Capture {
            inner: Rc::new(raw),
            encoder: None,
        }
    }
}

impl Capture {
    /// A PCM capture: chunks of samples go through `encoder` before they are stored.
    pub(crate) fn pcm(raw: RawCapture, encoder: PcmEncoder) -> Self {
        Capture {
            inner: Rc::new(raw),
            encoder: Some(Rc::new(encoder)),
        }
    }
}

#[wasm_bindgen]
impl Capture {
    /// The capture's id; the finished recording gets the same id.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.inner.id().to_string()
    }

    /// `{ id, name, mimeType, startedAt, updatedAt, size, chunks }`.
    #[wasm_bindgen(getter)]
    pub fn info(&self) -> CaptureInfo {
        self.inner.info().clone().unchecked_into()
    }

    /// Stores one chunk. Chunks keep the order of the calls, awaited or not. An "audio/pcm"
    /// capture takes samples instead (`Float32Array[]`, one per channel; a mono `Float32Array`;
    /// or an interleaved `Int16Array`), copied at the call.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn append(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Blob | Float32Array | Float32Array[] | Int16Array")]
        chunk: JsValue,
    ) -> Promise {
        let capture = self.inner.clone();
        if let Some(encoder) = &self.encoder {
            if chunk.is_instance_of::<web_sys::Blob>() {
                return Promise::reject(&to_js(Error::invalid(
                    "append(chunk) on an \"audio/pcm\" capture takes samples, not a Blob",
                )));
            }
            let encoded = encoder.push(&chunk);
            return promise(async move {
                if let Some(blob) = encoded.await? {
                    capture.append(&blob).await?;
                }
                Ok(JsValue::UNDEFINED)
            });
        }
        promise(async move {
            let chunk = chunk.dyn_into::<web_sys::Blob>().map_err(|_| {
                Error::invalid("append(chunk) takes a Blob, such as a MediaRecorder chunk")
            })?;
            capture.append(&chunk).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Joins the chunks into a recording and removes the capture, atomically.
    #[wasm_bindgen(unchecked_return_type = "Promise<Recording>")]
    pub fn finish(&self, options: Option<FinishOptions>) -> Promise {
        let capture = self.inner.clone();
        let encoder = self.encoder.clone();
        let options: JsValue = options.into();
        promise(async move {
            let mut extra = new_recording(&options, "finish options", false)?;
            if let Some(encoder) = encoder {
                let (tail, duration_ms) = encoder.finish().await?;
                if let Some(blob) = tail {
                    capture.append(&blob).await?;
                }
                extra.duration_ms = extra.duration_ms.or(Some(duration_ms));
            }
            capture.finish(extra).await.map(super::playable::mark)
        })
    }

    /// Drops the capture and everything recorded into it.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn discard(&self) -> Promise {
        let capture = self.inner.clone();
        let encoder = self.encoder.clone();
        promise(async move {
            if let Some(encoder) = encoder {
                // The capture goes even if the encoder had failed.
                let _ = encoder.close().await;
            }
            capture.discard().await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}
