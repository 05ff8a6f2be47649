//! WAV (RIFF/WAVE) headers and their samples.
//!
//! Only the header is parsed here: the caller streams the `data` chunk through the encoders in
//! slices of whole frames, so a recording is never whole in memory.

/// How a WAV file stores its samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFormat {
    /// Unsigned 8-bit integers (WAV's 8-bit form).
    U8,
    /// Signed 16-bit little-endian integers.
    I16,
    /// Signed 24-bit little-endian integers.
    I24,
    /// 32-bit little-endian IEEE floats, nominally in -1..1.
    F32,
}

impl SampleFormat {
    /// Bytes per sample of one channel.
    ///
    /// ```
    /// use tapesync_compress::wav::SampleFormat;
    /// assert_eq!(SampleFormat::I24.bytes(), 3);
    /// ```
    pub fn bytes(self) -> usize {
        match self {
            SampleFormat::U8 => 1,
            SampleFormat::I16 => 2,
            SampleFormat::I24 => 3,
            SampleFormat::F32 => 4,
        }
    }

    /// The integer bit depth FLAC stores this format in: floats become 24-bit.
    ///
    /// ```
    /// use tapesync_compress::wav::SampleFormat;
    /// assert_eq!(SampleFormat::F32.flac_bits(), 24);
    /// assert_eq!(SampleFormat::I16.flac_bits(), 16);
    /// ```
    pub fn flac_bits(self) -> usize {
        match self {
            SampleFormat::U8 => 8,
            SampleFormat::I16 => 16,
            SampleFormat::I24 | SampleFormat::F32 => 24,
        }
    }
}

/// What a WAV header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WavInfo {
    /// The sample format.
    pub format: SampleFormat,
    /// 1 (mono) or 2 (stereo).
    pub channels: usize,
    /// Frames per second.
    pub sample_rate: u32,
    /// Where the samples start in the file.
    pub data_offset: u64,
    /// How many bytes of samples there are (whole frames only).
    pub data_len: u64,
}

impl WavInfo {
    /// Bytes per frame (one sample of every channel).
    ///
    /// ```
    /// # use tapesync_compress::wav::*;
    /// let info = WavInfo { format: SampleFormat::I16, channels: 2, sample_rate: 48000, data_offset: 44, data_len: 0 };
    /// assert_eq!(info.frame_bytes(), 4);
    /// ```
    pub fn frame_bytes(&self) -> usize {
        self.format.bytes() * self.channels
    }

    /// The number of frames.
    ///
    /// ```
    /// # use tapesync_compress::wav::*;
    /// let info = WavInfo { format: SampleFormat::I16, channels: 1, sample_rate: 8000, data_offset: 44, data_len: 16000 };
    /// assert_eq!(info.frames(), 8000);
    /// ```
    pub fn frames(&self) -> u64 {
        self.data_len / self.frame_bytes() as u64
    }

    /// The duration in milliseconds.
    ///
    /// ```
    /// # use tapesync_compress::wav::*;
    /// let info = WavInfo { format: SampleFormat::I16, channels: 1, sample_rate: 8000, data_offset: 44, data_len: 16000 };
    /// assert_eq!(info.duration_ms(), 1000.0);
    /// ```
    pub fn duration_ms(&self) -> f64 {
        self.frames() as f64 * 1000.0 / f64::from(self.sample_rate)
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses a WAV header from the first bytes of a file of `file_len` bytes.
///
/// `head` must reach the start of the `data` chunk. Refuses what it cannot encode faithfully
/// (other formats, more than two channels) and files shorter than their `data` chunk says
/// (truncated). A `data` size of 0 or 0xFFFFFFFF, which streaming writers leave, means "to the
/// end of the file".
///
/// ```
/// use tapesync_compress::wav::{parse, SampleFormat};
/// let wav = tapesync_compress::wav::header(SampleFormat::I16, 1, 16000, 4);
/// let mut file = wav.clone();
/// file.extend_from_slice(&[0, 0, 1, 0]);
/// let info = parse(&file, file.len() as u64).unwrap();
/// assert_eq!((info.channels, info.sample_rate, info.data_len), (1, 16000, 4));
/// assert!(parse(b"not a wav file", 14).is_err());
/// ```
pub fn parse(head: &[u8], file_len: u64) -> Result<WavInfo, String> {
    if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err("not a WAV file (no RIFF/WAVE header)".into());
    }
    let mut at = 12usize;
    let mut fmt: Option<(SampleFormat, usize, u32)> = None;
    loop {
        let (Some(id), Some(size)) = (head.get(at..at + 4), u32_at(head, at + 4)) else {
            return Err(if (at as u64) >= file_len {
                "truncated WAV file: no data chunk".into()
            } else {
                "WAV header too long or malformed: no data chunk found".into()
            });
        };
        let body = at + 8;
        if id == b"fmt " {
            let f = body
                .checked_add(size as usize)
                .and_then(|end| head.get(body..end))
                .ok_or("truncated WAV fmt chunk")?;
            fmt = Some(parse_fmt(f)?);
        } else if id == b"data" {
            let (format, channels, sample_rate) =
                fmt.ok_or("WAV data chunk before its fmt chunk")?;
            let available = file_len.saturating_sub(body as u64);
            let declared = u64::from(size);
            let len = if size == 0 || size == u32::MAX {
                available
            } else if declared > available {
                return Err(format!(
                    "truncated WAV file: the data chunk says {declared} bytes, the file has {available}"
                ));
            } else {
                declared
            };
            let frame = (format.bytes() * channels) as u64;
            return Ok(WavInfo {
                format,
                channels,
                sample_rate,
                data_offset: body as u64,
                data_len: len - len % frame,
            });
        }
        // Chunks are padded to an even size.
        at = body
            .checked_add(size as usize)
            .and_then(|end| end.checked_add(size as usize & 1))
            .ok_or("malformed WAV chunk size")?;
    }
}

fn parse_fmt(f: &[u8]) -> Result<(SampleFormat, usize, u32), String> {
    let bad = || "truncated WAV fmt chunk".to_string();
    let mut tag = u16_at(f, 0).ok_or_else(bad)?;
    let channels = u16_at(f, 2).ok_or_else(bad)? as usize;
    let sample_rate = u32_at(f, 4).ok_or_else(bad)?;
    let bits = u16_at(f, 14).ok_or_else(bad)?;
    if tag == 0xFFFE {
        // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the sub-format GUID.
        tag = u16_at(f, 24).ok_or_else(bad)?;
    }
    let format = match (tag, bits) {
        (1, 8) => SampleFormat::U8,
        (1, 16) => SampleFormat::I16,
        (1, 24) => SampleFormat::I24,
        (3, 32) => SampleFormat::F32,
        (1 | 3, _) => {
            return Err(format!(
                "WAV samples of {bits} bits are not supported (8/16/24-bit integer or 32-bit float)"
            ))
        }
        _ => return Err(format!("WAV format {tag} is not PCM or float")),
    };
    if !(1..=2).contains(&channels) {
        return Err(format!("WAV with {channels} channels: mono or stereo only"));
    }
    if sample_rate == 0 || sample_rate > 655_350 {
        return Err(format!("WAV sample rate {sample_rate} is out of range"));
    }
    Ok((format, channels, sample_rate))
}

/// Converts interleaved little-endian samples to FLAC's integers (`format.flac_bits()` bits).
/// A trailing partial sample is ignored.
///
/// ```
/// use tapesync_compress::wav::{to_ints, SampleFormat};
/// assert_eq!(to_ints(&[0x80, 0xff, 0x00], SampleFormat::U8), vec![0, 127, -128]);
/// assert_eq!(to_ints(&1.0f32.to_le_bytes(), SampleFormat::F32), vec![8_388_607]);
/// ```
pub fn to_ints(bytes: &[u8], format: SampleFormat) -> Vec<i32> {
    let n = format.bytes();
    let mut out = Vec::with_capacity(bytes.len() / n);
    for s in bytes.chunks_exact(n) {
        out.push(match format {
            SampleFormat::U8 => i32::from(s[0]) - 128,
            SampleFormat::I16 => i32::from(i16::from_le_bytes([s[0], s[1]])),
            // Sign-extend the 24 bits through the top of an i32.
            SampleFormat::I24 => i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8,
            SampleFormat::F32 => float_to_i24(f32::from_le_bytes([s[0], s[1], s[2], s[3]])),
        });
    }
    out
}

/// A float sample as a 24-bit integer, clipped; NaN is silence.
///
/// ```
/// use tapesync_compress::wav::float_to_i24;
/// assert_eq!(float_to_i24(-2.0), -8_388_608);
/// assert_eq!(float_to_i24(f32::NAN), 0);
/// ```
pub fn float_to_i24(v: f32) -> i32 {
    if v.is_nan() {
        return 0;
    }
    ((f64::from(v) * 8_388_608.0).round()).clamp(-8_388_608.0, 8_388_607.0) as i32
}

/// Converts interleaved little-endian samples to floats in -1..1 (for Opus).
///
/// ```
/// use tapesync_compress::wav::{to_floats, SampleFormat};
/// assert_eq!(to_floats(&[0x00, 0x40], SampleFormat::I16), vec![0.5]);
/// ```
pub fn to_floats(bytes: &[u8], format: SampleFormat) -> Vec<f32> {
    let n = format.bytes();
    let mut out = Vec::with_capacity(bytes.len() / n);
    for s in bytes.chunks_exact(n) {
        out.push(match format {
            SampleFormat::U8 => (f32::from(s[0]) - 128.0) / 128.0,
            SampleFormat::I16 => f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0,
            SampleFormat::I24 => {
                (i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as f32 / 8_388_608.0
            }
            SampleFormat::F32 => {
                let v = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                if v.is_nan() {
                    0.0
                } else {
                    v
                }
            }
        });
    }
    out
}

/// A canonical 44-byte WAV header for `data_len` bytes of samples (for tests and tools).
///
/// ```
/// use tapesync_compress::wav::{header, SampleFormat};
/// assert_eq!(header(SampleFormat::I16, 2, 48000, 0).len(), 44);
/// ```
pub fn header(format: SampleFormat, channels: u16, sample_rate: u32, data_len: u32) -> Vec<u8> {
    let bytes = format.bytes() as u16;
    let tag: u16 = if format == SampleFormat::F32 { 3 } else { 1 };
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&data_len.saturating_add(36).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&tag.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&sample_rate.to_le_bytes());
    h.extend_from_slice(&(sample_rate * u32::from(bytes * channels)).to_le_bytes());
    h.extend_from_slice(&(bytes * channels).to_le_bytes());
    h.extend_from_slice(&(bytes * 8).to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_wrong_headers_are_refused() {
        let mut file = header(SampleFormat::I16, 1, 8000, 100);
        file.extend_from_slice(&[0; 50]);
        let err = parse(&file, file.len() as u64).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
        assert!(parse(&file[..20], 20).is_err());
        let mut wrong = file.clone();
        wrong[0..4].copy_from_slice(b"RIFX");
        assert!(parse(&wrong, wrong.len() as u64).is_err());
        let mut mulaw = header(SampleFormat::I16, 1, 8000, 0);
        mulaw[20] = 7;
        assert!(parse(&mulaw, 44).unwrap_err().contains("format 7"));
    }

    #[test]
    fn skips_other_chunks_and_accepts_streaming_sizes() {
        let mut file = b"RIFF\0\0\0\0WAVELIST\x03\0\0\0abc\0".to_vec();
        file.extend_from_slice(&header(SampleFormat::F32, 2, 44100, u32::MAX)[12..]);
        file.extend_from_slice(&[0; 8 * 10 + 3]);
        let info = parse(&file, file.len() as u64).unwrap();
        assert_eq!(info.format, SampleFormat::F32);
        assert_eq!(info.data_offset, 12 + 12 + 24 + 8);
        assert_eq!(info.frames(), 10);
    }

    #[test]
    fn samples_convert_exactly() {
        assert_eq!(
            to_ints(&[0xff, 0xff, 0x7f], SampleFormat::I24),
            vec![8_388_607]
        );
        assert_eq!(
            to_ints(&[0x00, 0x00, 0x80], SampleFormat::I24),
            vec![-8_388_608]
        );
        assert_eq!(to_ints(&[0x00, 0x80], SampleFormat::I16), vec![-32768]);
        assert_eq!(to_floats(&[0x00], SampleFormat::U8), vec![-1.0]);
    }
}
