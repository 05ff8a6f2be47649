//! Compression of PCM audio before it is stored: the bridge to the encoder module.
//!
//! The encoders (FLAC in wasm, Opus through WebCodecs) live in a second module, `pkg/compress/`
//! (the `compress/` crate and its JS), which this one imports on first use: an app that never
//! compresses never downloads it, and the base package does not grow with it. The import is a
//! static relative path in a wasm-bindgen snippet, so bundlers see it and a static server serves
//! it. A service worker cannot `import()`; there the app imports `tapesync/compress` statically and
//! the module registers itself on `globalThis`, where the snippet looks first.
//!
//! Everything here hands the work to that module, which streams it in a worker; the result is a
//! Blob that goes through the store's normal save path. See docs/compression.md.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

use super::error::{Code, Error, Result};

#[wasm_bindgen(inline_js = r#"
export function tapesyncCompressModule() {
  const registered = globalThis[Symbol.for("tapesync.compress")];
  if (registered) return Promise.resolve(registered);
  // This file is pkg/snippets/<crate>/inline0.js; the encoder module is pkg/compress/.
  return import("../../compress/index.js");
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = tapesyncCompressModule, catch)]
    fn compress_module() -> std::result::Result<Promise, JsValue>;
}

/// What an app asked for: `compress: "flac" | "opus" | "auto" | false | { format, bitrate }`.
///
/// ```text
/// let asked = compress::Request::parse(&options, "save options")?; // None for false or absent
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// `"flac"`, `"opus"` or `"auto"`.
    pub format: &'static str,
    /// Opus's bitrate in bits per second, when the app gave one.
    pub bitrate: Option<f64>,
}

impl Request {
    /// Reads `options.compress` (`options` is an options object already checked for its keys).
    ///
    /// ```text
    /// // { compress: { format: "opus", bitrate: 32000 } }
    /// Request::parse(&options, "save options")? == Some(Request { format: "opus", bitrate: Some(32000.0) })
    /// ```
    pub fn parse(options: &JsValue, what: &str) -> Result<Option<Request>> {
        if !options.is_object() {
            return Ok(None);
        }
        let value = Reflect::get(options, &"compress".into())?;
        if value.is_undefined() || value.is_null() || value == JsValue::FALSE {
            return Ok(None);
        }
        let bad = || {
            Error::invalid(format!(
                "{what}.compress must be \"flac\", \"opus\", \"auto\", false or {{ format, bitrate }}"
            ))
        };
        let (format, bitrate) = if let Some(s) = value.as_string() {
            (s, None)
        } else if value.is_object() && !js_sys::Array::is_array(&value) {
            for key in Object::keys(value.unchecked_ref::<Object>()).iter() {
                let key = key.as_string().unwrap_or_default();
                if key != "format" && key != "bitrate" {
                    return Err(Error::invalid(format!(
                        "{what}.compress has no option {key:?}; the options are format, bitrate"
                    )));
                }
            }
            let format = Reflect::get(&value, &"format".into())?
                .as_string()
                .ok_or_else(bad)?;
            let bitrate = Reflect::get(&value, &"bitrate".into())?;
            let bitrate = if bitrate.is_undefined() || bitrate.is_null() {
                None
            } else {
                match bitrate.as_f64() {
                    Some(b) if (6_000.0..=510_000.0).contains(&b) && b.fract() == 0.0 => Some(b),
                    _ => {
                        return Err(Error::invalid(format!(
                            "{what}.compress.bitrate must be an integer from 6000 to 510000 (bits per second)"
                        )))
                    }
                }
            };
            (format, bitrate)
        } else {
            return Err(bad());
        };
        let format = match format.as_str() {
            "flac" => "flac",
            "opus" => "opus",
            "auto" => "auto",
            _ => return Err(bad()),
        };
        if bitrate.is_some() && format == "flac" {
            return Err(Error::invalid(format!(
                "{what}.compress.bitrate is for \"opus\" and \"auto\"; FLAC is lossless"
            )));
        }
        Ok(Some(Request { format, bitrate }))
    }

    fn to_js(&self) -> JsValue {
        let o = Object::new();
        let _ = Reflect::set(&o, &"format".into(), &self.format.into());
        if let Some(b) = self.bitrate {
            let _ = Reflect::set(&o, &"bitrate".into(), &b.into());
        }
        o.into()
    }
}

/// Whether `mime_type` is WAV, the PCM that is compressed (parameters and case ignored).
///
/// ```text
/// assert!(is_wav("audio/x-wav"));
/// assert!(!is_wav("audio/webm;codecs=opus"));
/// ```
pub fn is_wav(mime_type: &str) -> bool {
    let base = mime_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        base.as_str(),
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave"
    )
}

/// The outcome of compressing a recording.
#[derive(Clone, Debug)]
pub struct Compressed {
    /// The encoded audio.
    pub blob: Blob,
    /// Its type: `audio/flac`, `audio/ogg; codecs=opus` or `audio/webm; codecs=opus`.
    pub mime_type: String,
    /// The duration of the PCM.
    pub duration_ms: f64,
    /// The WAV's size in bytes.
    pub original_size: f64,
    /// `"flac"` or `"opus"`: what `"auto"` became.
    pub format: String,
}

impl Compressed {
    /// `{ format, originalSize, size, ratio }`: the report apps get on the saved recording.
    ///
    /// ```text
    /// Reflect::set(&saved, &"compression".into(), &compressed.report())?;
    /// ```
    pub fn report(&self) -> JsValue {
        let o = Object::new();
        let size = self.blob.size();
        let _ = Reflect::set(&o, &"format".into(), &self.format.as_str().into());
        let _ = Reflect::set(&o, &"originalSize".into(), &self.original_size.into());
        let _ = Reflect::set(&o, &"size".into(), &size.into());
        let ratio = if self.original_size > 0.0 {
            size / self.original_size
        } else {
            1.0
        };
        let _ = Reflect::set(&o, &"ratio".into(), &ratio.into());
        o.into()
    }
}

async fn module() -> Result<JsValue> {
    let loading = compress_module().map_err(|e| load_error(&e))?;
    JsFuture::from(loading).await.map_err(|e| load_error(&e))
}

fn load_error(e: &JsValue) -> Error {
    let mut err = Error::from_js("loading tapesync's encoder module (pkg/compress/)", e);
    err.message.push_str(
        " In a service worker, import \"tapesync/compress\" statically first (docs/compression.md).",
    );
    err
}

/// Calls `method` of the encoder module (or of an object it returned) and awaits its Promise,
/// turning its errors into tapesync errors: `code: "InvalidArgument"` stays one.
async fn call(target: &JsValue, method: &str, args: &[JsValue], context: &str) -> Result<JsValue> {
    let f: Function = Reflect::get(target, &method.into())?
        .dyn_into()
        .map_err(|_| {
            Error::new(
                Code::Internal,
                format!("the encoder module has no {method}"),
            )
        })?;
    let array: js_sys::Array = args.iter().collect();
    let result = f
        .apply(target, &array)
        .map_err(|e| from_encoder(context, &e))?;
    JsFuture::from(Promise::resolve(&result))
        .await
        .map_err(|e| from_encoder(context, &e))
}

fn from_encoder(context: &str, e: &JsValue) -> Error {
    let code = Reflect::get(e, &"code".into())
        .ok()
        .and_then(|c| c.as_string());
    if code.as_deref() == Some("InvalidArgument") {
        let message = Reflect::get(e, &"message".into())
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_default();
        return Error::invalid(message);
    }
    Error::from_js(context, e)
}

fn number(o: &JsValue, key: &str) -> f64 {
    Reflect::get(o, &key.into())
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0)
}

/// Compresses a WAV Blob as `request` says, in the encoder module's worker.
///
/// ```text
/// let compressed = compress::transcode(&wav, &request).await?; // InvalidArgument for a bad WAV
/// store.save(&compressed.blob, new).await?;
/// ```
pub async fn transcode(blob: &Blob, request: &Request) -> Result<Compressed> {
    let m = module().await?;
    let out = call(
        &m,
        "transcode",
        &[blob.into(), request.to_js()],
        "compressing the audio",
    )
    .await?;
    let encoded: Blob = Reflect::get(&out, &"blob".into())?
        .dyn_into()
        .map_err(|_| Error::new(Code::Internal, "the encoder module returned no Blob"))?;
    Ok(Compressed {
        mime_type: encoded.type_(),
        blob: encoded,
        duration_ms: number(&out, "durationMs"),
        original_size: number(&out, "originalSize"),
        format: Reflect::get(&out, &"format".into())?
            .as_string()
            .unwrap_or_default(),
    })
}

/// A PCM capture's encoder in the encoder module.
pub struct PcmEncoder {
    handle: JsValue,
    /// The type of what it makes: `audio/flac`, `audio/ogg; codecs=opus` or `audio/webm; codecs=opus`.
    pub mime_type: String,
}

impl PcmEncoder {
    /// Opens an encoder for `channels` channels at `sample_rate`.
    ///
    /// ```text
    /// let encoder = PcmEncoder::open(&request, 48_000, 1).await?;
    /// RawCapture::start(&store, encoder.mime_type.clone(), name).await?;
    /// ```
    pub async fn open(request: &Request, sample_rate: u32, channels: u32) -> Result<PcmEncoder> {
        let m = module().await?;
        let o = request.to_js();
        let _ = Reflect::set(&o, &"sampleRate".into(), &sample_rate.into());
        let _ = Reflect::set(&o, &"channels".into(), &channels.into());
        let handle = call(&m, "openPcm", &[o], "starting the capture's encoder").await?;
        let mime_type = Reflect::get(&handle, &"mimeType".into())?
            .as_string()
            .unwrap_or_default();
        Ok(PcmEncoder { handle, mime_type })
    }

    /// Hands one chunk of samples to the encoder now (it is copied before this returns, so the
    /// app may reuse its buffer); the returned future gives the bytes to store, if any, as a Blob.
    /// Chunks are encoded in the order of the calls.
    ///
    /// ```text
    /// if let Some(blob) = encoder.push(&chunk).await? { capture.append(&blob).await?; }
    /// ```
    pub fn push(&self, chunk: &JsValue) -> impl std::future::Future<Output = Result<Option<Blob>>> {
        let context = "encoding the recorded chunk";
        let started = Reflect::get(&self.handle, &"push".into())
            .and_then(|f| f.dyn_into::<Function>())
            .and_then(|f| f.call1(&self.handle, chunk))
            .map_err(|e| from_encoder(context, &e));
        let mime_type = self.mime_type.clone();
        async move {
            let bytes = JsFuture::from(Promise::resolve(&started?))
                .await
                .map_err(|e| from_encoder(context, &e))?;
            blob_of(&bytes, &mime_type)
        }
    }

    /// Ends the stream: the last bytes, and the duration of everything pushed.
    ///
    /// ```text
    /// let (tail, duration_ms) = encoder.finish().await?;
    /// ```
    pub async fn finish(&self) -> Result<(Option<Blob>, f64)> {
        let out = call(
            &self.handle,
            "finish",
            &[],
            "finishing the capture's encoder",
        )
        .await?;
        let bytes = Reflect::get(&out, &"bytes".into())?;
        Ok((
            blob_of(&bytes, &self.mime_type)?,
            number(&out, "durationMs"),
        ))
    }

    /// Drops the encoder (the capture was discarded).
    ///
    /// ```text
    /// encoder.close().await?;
    /// ```
    pub async fn close(&self) -> Result<()> {
        call(&self.handle, "close", &[], "closing the capture's encoder").await?;
        Ok(())
    }
}

/// Encoded bytes (a `Uint8Array`) as a Blob of `mime_type`; `None` for no bytes.
fn blob_of(bytes: &JsValue, mime_type: &str) -> Result<Option<Blob>> {
    if number(bytes, "length") == 0.0 {
        return Ok(None);
    }
    let parts = js_sys::Array::of1(bytes);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime_type);
    Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map(Some)
        .map_err(|e| Error::from_js("storing the encoded chunk", &e))
}
