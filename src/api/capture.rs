//! `Capture`: a recording being captured chunk by chunk.

use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::store::{new_recording, promise};
use super::types::{CaptureInfo, FinishOptions};
use crate::browser::capture::Capture as RawCapture;
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
#[wasm_bindgen]
pub struct Capture {
    inner: Rc<RawCapture>,
}

impl From<RawCapture> for Capture {
    fn from(raw: RawCapture) -> Self {
        Capture {
            inner: Rc::new(raw),
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

    /// Stores one chunk. Chunks keep the order of the calls, awaited or not.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn append(&self, #[wasm_bindgen(unchecked_param_type = "Blob")] chunk: JsValue) -> Promise {
        let capture = self.inner.clone();
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
        let options: JsValue = options.into();
        promise(async move {
            let extra = new_recording(&options, "finish options", false)?;
            capture.finish(extra).await.map(super::playable::mark)
        })
    }

    /// Drops the capture and everything recorded into it.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn discard(&self) -> Promise {
        let capture = self.inner.clone();
        promise(async move {
            capture.discard().await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}
