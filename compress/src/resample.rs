//! Resampling to 48 kHz, Opus's own rate, streamed chunk by chunk.
//!
//! Linear interpolation: Opus at speech bitrates keeps at most 8-12 kHz of bandwidth, far below
//! where the images of linear interpolation from 16-44.1 kHz sources lie, and it costs nothing.

/// A streaming resampler of interleaved float frames.
///
/// ```
/// use tapesync_compress::resample::Resampler;
/// let mut r = Resampler::new(16000, 48000, 1);
/// let out = r.push(&vec![0.5; 160]);
/// assert!((out.len() as i64 - 480).abs() <= 3);
/// ```
pub struct Resampler {
    from: u32,
    to: u32,
    channels: usize,
    /// The last input frame of the previous chunk (interpolation spans chunks).
    last: Vec<f32>,
    /// Input frames consumed so far, and output frames produced.
    consumed: u64,
    produced: u64,
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz for `channels` channels.
    ///
    /// ```
    /// use tapesync_compress::resample::Resampler;
    /// let r = Resampler::new(44100, 48000, 2);
    /// ```
    pub fn new(from: u32, to: u32, channels: usize) -> Resampler {
        Resampler {
            from: from.max(1),
            to: to.max(1),
            channels: channels.max(1),
            last: Vec::new(),
            consumed: 0,
            produced: 0,
        }
    }

    /// Resamples interleaved frames; returns the output frames they complete.
    ///
    /// ```
    /// use tapesync_compress::resample::Resampler;
    /// let mut same = Resampler::new(48000, 48000, 1);
    /// assert_eq!(same.push(&[0.1, 0.2]), vec![0.1, 0.2]);
    /// ```
    pub fn push(&mut self, input: &[f32]) -> Vec<f32> {
        let ch = self.channels;
        let frames = input.len() / ch;
        if self.from == self.to {
            return input[..frames * ch].to_vec();
        }
        // Input frame `i` (global) sits at time i/from. Output frame `o` at o/to, between input
        // frames floor(o*from/to) and the next one; it can be made once the next one is here.
        let start = self.consumed;
        let end = start + frames as u64;
        let mut out = Vec::new();
        let last = std::mem::take(&mut self.last);
        let frame_at = |i: u64, c: usize| -> f32 {
            if i < start {
                last.get(c).copied().unwrap_or(0.0)
            } else {
                input[(i - start) as usize * ch + c]
            }
        };
        loop {
            let pos = self.produced * u64::from(self.from);
            let i = pos / u64::from(self.to);
            if i + 1 >= end {
                break;
            }
            if i + 1 < start {
                // Only reachable before any input: nothing to interpolate from.
                break;
            }
            let t = (pos % u64::from(self.to)) as f32 / self.to as f32;
            for c in 0..ch {
                let a = frame_at(i, c);
                let b = frame_at(i + 1, c);
                out.push(a + (b - a) * t);
            }
            self.produced += 1;
        }
        self.last = if frames > 0 {
            input[(frames - 1) * ch..frames * ch].to_vec()
        } else {
            last
        };
        self.consumed = end;
        out
    }

    /// The output frames owed for the input so far that `push` could not make yet (the last
    /// input frame has no successor): they repeat the last frame.
    ///
    /// ```
    /// use tapesync_compress::resample::Resampler;
    /// let mut r = Resampler::new(8000, 48000, 1);
    /// let n = r.push(&[0.0; 80]).len() + r.finish().len();
    /// assert_eq!(n, 480);
    /// ```
    pub fn finish(&mut self) -> Vec<f32> {
        let owed = self.consumed * u64::from(self.to) / u64::from(self.from);
        let mut out = Vec::new();
        while self.produced < owed {
            for c in 0..self.channels {
                out.push(self.last.get(c).copied().unwrap_or(0.0));
            }
            self.produced += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_does_not_change_the_output() {
        let input: Vec<f32> = (0..4410 * 2).map(|i| (i as f32 * 0.01).sin()).collect();
        let mut a = Resampler::new(44100, 48000, 2);
        let mut whole = a.push(&input);
        whole.extend(a.finish());
        let mut b = Resampler::new(44100, 48000, 2);
        let mut parts = Vec::new();
        for c in input.chunks(2 * 137) {
            parts.extend(b.push(c));
        }
        parts.extend(b.finish());
        assert_eq!(whole, parts);
        assert_eq!(whole.len(), 4800 * 2);
    }
}
