//! tapesync's optional encoder module: a second wasm module, loaded by tapesync on the first save
//! or capture that asks for compression, so apps that never compress never download it.
//!
//! - [`wav`]: WAV headers and sample conversion.
//! - [`flac`]: a streaming FLAC encoder (over the flacenc crate).
//! - [`resample`]: streaming resampling to 48 kHz for Opus.
//! - [`ogg`]: Ogg Opus pages around the packets of WebCodecs' `AudioEncoder`.
//! - [`webm`]: the same packets in WebM, for engines that play Opus only there (Safari).
//!
//! The wasm-bindgen classes (wasm32 only) wrap these for `compress/js/`, which runs them in a
//! worker. See docs/compression.md.

pub mod flac;
pub mod ogg;
pub mod resample;
pub mod wav;
pub mod webm;

#[cfg(target_arch = "wasm32")]
pub mod wasm;
