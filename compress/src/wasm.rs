//! The classes that `compress/js/` uses. Every error is a JS `Error` with a message (the JS side
//! turns bad input into tapesync's `InvalidArgument`); nothing here panics on input.

use wasm_bindgen::prelude::*;

use crate::flac::FlacStream;
use crate::ogg::OggOpus;
use crate::resample::Resampler;
use crate::wav::{self, SampleFormat};
use crate::webm::WebmOpus;

fn format_of(name: &str) -> Result<SampleFormat, JsError> {
    Ok(match name {
        "u8" => SampleFormat::U8,
        "i16" => SampleFormat::I16,
        "i24" => SampleFormat::I24,
        "f32" => SampleFormat::F32,
        _ => return Err(JsError::new(&format!("unknown sample format {name:?}"))),
    })
}

fn format_name(f: SampleFormat) -> &'static str {
    match f {
        SampleFormat::U8 => "u8",
        SampleFormat::I16 => "i16",
        SampleFormat::I24 => "i24",
        SampleFormat::F32 => "f32",
    }
}

/// A parsed WAV header.
///
/// ```js
/// const wav = parseWav(new Uint8Array(await blob.slice(0, 65536).arrayBuffer()), blob.size);
/// wav.format; // "u8" | "i16" | "i24" | "f32"
/// ```
#[wasm_bindgen]
pub struct Wav(wav::WavInfo);

#[wasm_bindgen]
impl Wav {
    /// `"u8"`, `"i16"`, `"i24"` or `"f32"`.
    ///
    /// ```js
    /// enc.pushWav(bytes, wav.format);
    /// ```
    #[wasm_bindgen(getter)]
    pub fn format(&self) -> String {
        format_name(self.0.format).to_owned()
    }
    /// 1 or 2.
    ///
    /// ```js
    /// new FlacEncoder(wav.sampleRate, wav.channels, wav.flacBits);
    /// ```
    #[wasm_bindgen(getter)]
    pub fn channels(&self) -> usize {
        self.0.channels
    }
    /// Frames per second.
    ///
    /// ```js
    /// new To48k(wav.sampleRate, wav.channels);
    /// ```
    #[wasm_bindgen(getter, js_name = sampleRate)]
    pub fn sample_rate(&self) -> u32 {
        self.0.sample_rate
    }
    /// Where the samples start.
    ///
    /// ```js
    /// blob.slice(wav.dataOffset, wav.dataOffset + wav.dataLength);
    /// ```
    #[wasm_bindgen(getter, js_name = dataOffset)]
    pub fn data_offset(&self) -> f64 {
        self.0.data_offset as f64
    }
    /// Bytes of samples (whole frames).
    ///
    /// ```js
    /// const end = wav.dataOffset + wav.dataLength;
    /// ```
    #[wasm_bindgen(getter, js_name = dataLength)]
    pub fn data_length(&self) -> f64 {
        self.0.data_len as f64
    }
    /// Bytes per frame.
    ///
    /// ```js
    /// const step = Math.floor((1 << 20) / wav.frameBytes) * wav.frameBytes; // whole frames
    /// ```
    #[wasm_bindgen(getter, js_name = frameBytes)]
    pub fn frame_bytes(&self) -> usize {
        self.0.frame_bytes()
    }
    /// FLAC's bit depth for these samples (floats: 24).
    ///
    /// ```js
    /// new FlacEncoder(wav.sampleRate, wav.channels, wav.flacBits);
    /// ```
    #[wasm_bindgen(getter, js_name = flacBits)]
    pub fn flac_bits(&self) -> usize {
        self.0.format.flac_bits()
    }
    /// The duration in milliseconds.
    ///
    /// ```js
    /// wav.durationMs; // 61000 for a minute and a second
    /// ```
    #[wasm_bindgen(getter, js_name = durationMs)]
    pub fn duration_ms(&self) -> f64 {
        self.0.duration_ms()
    }
}

/// Parses the WAV header in `head` (the file's first bytes) of a file of `file_len` bytes.
///
/// ```js
/// parseWav(head, blob.size); // throws Error("truncated WAV file: ...") and the like
/// ```
#[wasm_bindgen(js_name = parseWav)]
pub fn parse_wav(head: &[u8], file_len: f64) -> Result<Wav, JsError> {
    wav::parse(head, file_len.max(0.0) as u64)
        .map(Wav)
        .map_err(|e| JsError::new(&e))
}

/// A streaming FLAC encoder.
///
/// ```js
/// const enc = new FlacEncoder(48000, 1, 16);
/// parts.push(enc.pushWav(bytes, "i16"));
/// parts.push(enc.finish());
/// parts.unshift(enc.header());
/// ```
#[wasm_bindgen]
pub struct FlacEncoder(FlacStream);

#[wasm_bindgen]
impl FlacEncoder {
    /// An encoder of `channels` channels of `bits`-bit integers at `sample_rate`.
    ///
    /// ```js
    /// const enc = new FlacEncoder(44100, 2, 16);
    /// ```
    #[wasm_bindgen(constructor)]
    pub fn new(sample_rate: u32, channels: usize, bits: usize) -> Result<FlacEncoder, JsError> {
        FlacStream::new(sample_rate, channels, bits)
            .map(FlacEncoder)
            .map_err(|e| JsError::new(&e))
    }

    /// Encodes little-endian WAV samples of `format` (`"u8"`, `"i16"`, `"i24"`, `"f32"`).
    ///
    /// ```js
    /// const frames = enc.pushWav(new Uint8Array(await slice.arrayBuffer()), "i16");
    /// ```
    #[wasm_bindgen(js_name = pushWav)]
    pub fn push_wav(&mut self, bytes: &[u8], format: &str) -> Result<Vec<u8>, JsError> {
        let ints = wav::to_ints(bytes, format_of(format)?);
        self.0.push(&ints).map_err(|e| JsError::new(&e))
    }

    /// Encodes interleaved float samples (as 24-bit integers: the encoder must be 24-bit).
    ///
    /// ```js
    /// const frames = new FlacEncoder(48000, 1, 24).pushF32(floats);
    /// ```
    #[wasm_bindgen(js_name = pushF32)]
    pub fn push_f32(&mut self, interleaved: &[f32]) -> Result<Vec<u8>, JsError> {
        let ints: Vec<i32> = interleaved.iter().map(|&v| wav::float_to_i24(v)).collect();
        self.0.push(&ints).map_err(|e| JsError::new(&e))
    }

    /// Encodes interleaved 16-bit samples (the encoder must be 16-bit).
    ///
    /// ```js
    /// const frames = new FlacEncoder(16000, 1, 16).pushI16(int16s);
    /// ```
    #[wasm_bindgen(js_name = pushI16)]
    pub fn push_i16(&mut self, interleaved: &[i16]) -> Result<Vec<u8>, JsError> {
        let ints: Vec<i32> = interleaved.iter().map(|&v| i32::from(v)).collect();
        self.0.push(&ints).map_err(|e| JsError::new(&e))
    }

    /// Encodes the last, shorter frame.
    ///
    /// ```js
    /// parts.push(enc.finish());
    /// ```
    pub fn finish(&mut self) -> Result<Vec<u8>, JsError> {
        self.0.finish().map_err(|e| JsError::new(&e))
    }

    /// `fLaC` and STREAMINFO: complete after `finish`, with unknown totals before.
    ///
    /// ```js
    /// const file = new Blob([enc.header(), ...parts], { type: "audio/flac" });
    /// ```
    pub fn header(&self) -> Result<Vec<u8>, JsError> {
        self.0.header().map_err(|e| JsError::new(&e))
    }
}

/// Samples to 48 kHz floats for `AudioEncoder`: converts WAV bytes and resamples.
///
/// ```js
/// const to48k = new To48k(16000, 1);
/// const floats = to48k.pushWav(bytes, "i16"); // interleaved Float32Array at 48 kHz
/// ```
#[wasm_bindgen]
pub struct To48k(Resampler);

#[wasm_bindgen]
impl To48k {
    /// From `sample_rate` Hz with `channels` channels.
    ///
    /// ```js
    /// const to48k = new To48k(44100, 2);
    /// ```
    #[wasm_bindgen(constructor)]
    pub fn new(sample_rate: u32, channels: usize) -> To48k {
        To48k(Resampler::new(sample_rate, 48_000, channels))
    }
    /// Converts and resamples little-endian WAV samples of `format`.
    ///
    /// ```js
    /// const floats = to48k.pushWav(bytes, "i24");
    /// ```
    #[wasm_bindgen(js_name = pushWav)]
    pub fn push_wav(&mut self, bytes: &[u8], format: &str) -> Result<Vec<f32>, JsError> {
        Ok(self.0.push(&wav::to_floats(bytes, format_of(format)?)))
    }
    /// Resamples interleaved floats.
    ///
    /// ```js
    /// const floats = to48k.pushF32(interleaved);
    /// ```
    #[wasm_bindgen(js_name = pushF32)]
    pub fn push_f32(&mut self, interleaved: &[f32]) -> Vec<f32> {
        self.0.push(interleaved)
    }
    /// Resamples interleaved 16-bit samples.
    ///
    /// ```js
    /// const floats = to48k.pushI16(int16s);
    /// ```
    #[wasm_bindgen(js_name = pushI16)]
    pub fn push_i16(&mut self, interleaved: &[i16]) -> Vec<f32> {
        let f: Vec<f32> = interleaved
            .iter()
            .map(|&v| f32::from(v) / 32768.0)
            .collect();
        self.0.push(&f)
    }
    /// The frames still owed at the end.
    ///
    /// ```js
    /// encode(to48k.finish());
    /// ```
    pub fn finish(&mut self) -> Vec<f32> {
        self.0.finish()
    }
}

/// Ogg Opus pages around `AudioEncoder` packets.
///
/// ```js
/// const ogg = new OggOpusMuxer(1, 16000, 312, serial);
/// parts.push(ogg.headers());
/// parts.push(ogg.packet(chunkBytes));
/// parts.push(ogg.finish(totalSamplesAt48k));
/// ```
#[wasm_bindgen]
pub struct OggOpusMuxer(OggOpus);

#[wasm_bindgen]
impl OggOpusMuxer {
    /// A stream of `channels` channels from an `input_rate` source, with the encoder's pre-skip.
    ///
    /// ```js
    /// const ogg = new OggOpusMuxer(1, 16000, 312, serial);
    /// ```
    #[wasm_bindgen(constructor)]
    pub fn new(channels: u8, input_rate: u32, pre_skip: u16, serial: u32) -> OggOpusMuxer {
        OggOpusMuxer(OggOpus::new(channels, input_rate, pre_skip, serial))
    }
    /// The OpusHead and OpusTags pages.
    ///
    /// ```js
    /// pages.push(ogg.headers());
    /// ```
    pub fn headers(&mut self) -> Vec<u8> {
        self.0.headers()
    }
    /// Adds a packet (its duration read from its TOC); returns a page when one filled.
    ///
    /// ```js
    /// const page = ogg.packet(packetBytes); // empty until a page fills
    /// ```
    pub fn packet(&mut self, data: &[u8]) -> Vec<u8> {
        self.0.packet(data)
    }
    /// The last page; `input_samples` trims the final packet's padding.
    ///
    /// ```js
    /// pages.push(ogg.finish(framesAt48k));
    /// ```
    pub fn finish(&mut self, input_samples: f64) -> Vec<u8> {
        self.0.finish(input_samples.max(0.0) as u64)
    }
}

/// WebM clusters around `AudioEncoder` packets.
///
/// ```js
/// const webm = new WebmOpusMuxer(1, 312);
/// parts.push(webm.packet(chunkBytes));
/// parts.push(webm.finish());
/// parts.unshift(webm.header(durationMs));
/// ```
#[wasm_bindgen]
pub struct WebmOpusMuxer(WebmOpus);

#[wasm_bindgen]
impl WebmOpusMuxer {
    /// A stream of `channels` channels with the encoder's pre-skip.
    ///
    /// ```js
    /// const webm = new WebmOpusMuxer(2, 312);
    /// ```
    #[wasm_bindgen(constructor)]
    pub fn new(channels: u8, pre_skip: u16) -> WebmOpusMuxer {
        WebmOpusMuxer(WebmOpus::new(channels, pre_skip))
    }
    /// The header; `duration_ms` below 0 when unknown (a capture's header, made first).
    ///
    /// ```js
    /// const head = webm.header(-1);
    /// ```
    pub fn header(&self, duration_ms: f64) -> Vec<u8> {
        self.0
            .header(Some(duration_ms).filter(|d| *d >= 0.0 && d.is_finite()))
    }
    /// Adds a packet; returns a cluster when one filled.
    ///
    /// ```js
    /// const cluster = webm.packet(packetBytes); // empty until a cluster fills
    /// ```
    pub fn packet(&mut self, data: &[u8]) -> Vec<u8> {
        self.0.packet(data)
    }
    /// The last cluster.
    ///
    /// ```js
    /// parts.push(webm.finish());
    /// ```
    pub fn finish(&mut self) -> Vec<u8> {
        self.0.finish()
    }
}
