//! A streaming FLAC encoder over flacenc: samples go in as they come, whole frames come out,
//! and at most one block of samples is held between calls.

use flacenc::bitsink::MemSink;
use flacenc::component::{BitRepr, Stream, StreamInfo};
use flacenc::config;
use flacenc::error::{Verified, Verify};
use flacenc::source::{Context, Fill, FrameBuf};

/// Samples per FLAC frame: the reference encoder's default, a good size/speed balance.
pub const BLOCK_SIZE: usize = 4096;

/// A FLAC stream being encoded.
///
/// ```
/// use tapesync_compress::flac::FlacStream;
/// let mut flac = FlacStream::new(16000, 1, 16).unwrap();
/// let mut body = flac.push(&vec![0; 10_000]).unwrap();
/// body.extend(flac.finish().unwrap());
/// let file = [flac.header().unwrap(), body].concat();
/// assert_eq!(&file[0..4], b"fLaC");
/// ```
pub struct FlacStream {
    config: Verified<config::Encoder>,
    info: StreamInfo,
    frame: FrameBuf,
    context: Context,
    channels: usize,
    /// Interleaved samples of the block being filled (fewer than a block).
    pending: Vec<i32>,
    frames: usize,
    finished: bool,
}

fn err(e: impl std::fmt::Display) -> String {
    format!("FLAC encoder: {e}")
}

impl FlacStream {
    /// A stream of `channels` channels of `bits`-bit integers (8, 16 or 24) at `sample_rate`.
    ///
    /// ```
    /// use tapesync_compress::flac::FlacStream;
    /// assert!(FlacStream::new(48000, 2, 24).is_ok());
    /// assert!(FlacStream::new(48000, 9, 16).is_err());
    /// ```
    pub fn new(sample_rate: u32, channels: usize, bits: usize) -> Result<FlacStream, String> {
        if !(1..=8).contains(&channels) || ![8, 16, 24].contains(&bits) {
            return Err(err(format!("{channels} channels of {bits} bits")));
        }
        let mut config = config::Encoder::default();
        config.block_size = BLOCK_SIZE;
        config.multithread = false;
        let config = config.into_verified().map_err(|(_, e)| err(e))?;
        let info = StreamInfo::new(sample_rate as usize, channels, bits).map_err(err)?;
        Ok(FlacStream {
            config,
            info,
            frame: FrameBuf::with_size(channels, BLOCK_SIZE).map_err(err)?,
            context: Context::new(bits, channels),
            channels,
            pending: Vec::with_capacity(BLOCK_SIZE * channels),
            frames: 0,
            finished: false,
        })
    }

    /// Encodes interleaved samples; returns the frames completed by them (maybe none).
    ///
    /// ```
    /// use tapesync_compress::flac::{FlacStream, BLOCK_SIZE};
    /// let mut flac = FlacStream::new(8000, 1, 16).unwrap();
    /// assert!(flac.push(&[1, 2, 3]).unwrap().is_empty());
    /// assert!(!flac.push(&vec![0; BLOCK_SIZE]).unwrap().is_empty());
    /// ```
    pub fn push(&mut self, interleaved: &[i32]) -> Result<Vec<u8>, String> {
        if self.finished {
            return Err(err("the stream was finished"));
        }
        let block = BLOCK_SIZE * self.channels;
        let mut sink = MemSink::<u8>::new();
        let mut rest = interleaved;
        while !rest.is_empty() {
            let room = block - self.pending.len();
            let take = room.min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == block {
                self.encode_pending(&mut sink)?;
            }
        }
        Ok(sink.into_inner())
    }

    /// Encodes what is left (a last, shorter frame); the stream takes no more samples.
    ///
    /// ```
    /// use tapesync_compress::flac::FlacStream;
    /// let mut flac = FlacStream::new(8000, 2, 8).unwrap();
    /// flac.push(&[1, -1, 2, -2]).unwrap();
    /// assert!(!flac.finish().unwrap().is_empty());
    /// assert!(flac.push(&[0, 0]).is_err());
    /// ```
    pub fn finish(&mut self) -> Result<Vec<u8>, String> {
        let mut sink = MemSink::<u8>::new();
        // A partial frame (an odd sample count in stereo) cannot be encoded: drop the orphan.
        let whole = self.pending.len() - self.pending.len() % self.channels;
        self.pending.truncate(whole);
        if !self.pending.is_empty() {
            self.encode_pending(&mut sink)?;
        }
        self.finished = true;
        Ok(sink.into_inner())
    }

    fn encode_pending(&mut self, sink: &mut MemSink<u8>) -> Result<(), String> {
        let mut both = (&mut self.frame, &mut self.context);
        both.fill_interleaved(&self.pending).map_err(err)?;
        let frame =
            flacenc::encode_fixed_size_frame(&self.config, &self.frame, self.frames, &self.info)
                .map_err(err)?;
        self.info.update_frame_info(&frame);
        frame.write(sink).map_err(err)?;
        self.frames += 1;
        self.pending.clear();
        Ok(())
    }

    /// The stream's header (`fLaC` and STREAMINFO) as of now: after `finish`, with the sample
    /// count, frame sizes and MD5 of the whole stream; before, with those left "unknown", which
    /// decoders accept (a capture stores it first, before any sample is known).
    ///
    /// ```
    /// use tapesync_compress::flac::FlacStream;
    /// let flac = FlacStream::new(8000, 1, 16).unwrap();
    /// assert_eq!(flac.header().unwrap().len(), 4 + 4 + 34);
    /// ```
    pub fn header(&self) -> Result<Vec<u8>, String> {
        let mut info = self.info.clone();
        info.set_block_sizes(BLOCK_SIZE, BLOCK_SIZE).map_err(err)?;
        if self.finished && self.frames > 0 {
            info.set_md5_digest(&self.context.md5_digest());
            info.set_total_samples(self.context.total_samples());
            let (min, max) = (info.min_frame_size(), info.max_frame_size());
            info.set_frame_sizes(min, max).map_err(err)?;
            if self.frames == 1 {
                // One frame: the reference encoder's convention is min = max = its size.
                let n = self.context.total_samples();
                info.set_block_sizes(n.max(16), n.max(16)).map_err(err)?;
            }
        } else {
            info.set_frame_sizes(0, 0).map_err(err)?;
            info.set_total_samples(0);
        }
        let stream = Stream::with_stream_info(info);
        let mut sink = MemSink::<u8>::new();
        stream.write(&mut sink).map_err(err)?;
        Ok(sink.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_in_any_slicing_give_the_same_bytes() {
        let signal: Vec<i32> = (0..20_000)
            .map(|i| ((i as f64 * 0.05).sin() * 10_000.0) as i32)
            .collect();
        let mut whole = FlacStream::new(16000, 2, 16).unwrap();
        let mut a = whole.push(&signal).unwrap();
        a.extend(whole.finish().unwrap());
        let mut sliced = FlacStream::new(16000, 2, 16).unwrap();
        let mut b = Vec::new();
        for part in signal.chunks(777 * 2) {
            b.extend(sliced.push(part).unwrap());
        }
        b.extend(sliced.finish().unwrap());
        assert_eq!(a, b);
        assert_eq!(whole.header().unwrap(), sliced.header().unwrap());
        // Compression happened: 80,000 bytes of PCM.
        assert!(a.len() < 40_000, "{}", a.len());
    }
}
