//! Ogg Opus (RFC 7845) pages around the Opus packets that WebCodecs' `AudioEncoder` makes, so
//! that `<audio>` plays the result. Pages are emitted as they fill, so a capture can store them
//! as they come.

/// The CRC-32 of Ogg pages (polynomial 0x04c11db7, not reflected, no final xor).
fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut r = (i as u32) << 24;
            for _ in 0..8 {
                r = if r & 0x8000_0000 != 0 {
                    (r << 1) ^ 0x04c1_1db7
                } else {
                    r << 1
                };
            }
            *slot = r;
        }
        t
    });
    data.iter().fold(0u32, |crc, &b| {
        (crc << 8) ^ table[(((crc >> 24) as u8) ^ b) as usize]
    })
}

/// Packets per page: one second of 20 ms packets, so a page is small and a crash loses little.
const PACKETS_PER_PAGE: usize = 50;

/// An Ogg Opus stream being written.
///
/// ```
/// use tapesync_compress::ogg::OggOpus;
/// let mut ogg = OggOpus::new(1, 16000, 312, 7);
/// let mut file = ogg.headers();
/// file.extend(ogg.packet(&[0xf8, 0xff, 0xfe]));
/// file.extend(ogg.finish(960));
/// assert_eq!(&file[0..4], b"OggS");
/// ```
pub struct OggOpus {
    serial: u32,
    sequence: u32,
    pre_skip: u16,
    channels: u8,
    input_rate: u32,
    /// Packets of the page being filled, and their lacing values.
    body: Vec<u8>,
    lacing: Vec<u8>,
    packets: usize,
    /// 48 kHz samples in the packets so far (the granule position before pre-skip).
    samples: u64,
}

impl OggOpus {
    /// A stream of `channels` channels (1 or 2) whose source ran at `input_rate` (informative),
    /// with the encoder's `pre_skip` (48 kHz samples to drop at the start) and a stream `serial`.
    ///
    /// ```
    /// use tapesync_compress::ogg::OggOpus;
    /// let ogg = OggOpus::new(2, 44100, 312, 1);
    /// ```
    pub fn new(channels: u8, input_rate: u32, pre_skip: u16, serial: u32) -> OggOpus {
        OggOpus {
            serial,
            sequence: 0,
            pre_skip,
            channels,
            input_rate,
            body: Vec::new(),
            lacing: Vec::new(),
            packets: 0,
            samples: 0,
        }
    }

    /// The two header pages: `OpusHead` (beginning of stream) and `OpusTags`.
    ///
    /// ```
    /// use tapesync_compress::ogg::OggOpus;
    /// let headers = OggOpus::new(1, 48000, 312, 1).headers();
    /// assert_eq!(&headers[28..36], b"OpusHead");
    /// ```
    pub fn headers(&mut self) -> Vec<u8> {
        let mut head = b"OpusHead".to_vec();
        head.push(1);
        head.push(self.channels);
        head.extend_from_slice(&self.pre_skip.to_le_bytes());
        head.extend_from_slice(&self.input_rate.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes());
        head.push(0);
        let mut tags = b"OpusTags".to_vec();
        let vendor = b"tapesync";
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor);
        tags.extend_from_slice(&0u32.to_le_bytes());
        let mut out = self.page(&head, &lacing_of(head.len()), 0, 0x02);
        out.extend(self.page(&tags, &lacing_of(tags.len()), 0, 0x00));
        out
    }

    /// Adds one Opus packet; returns a page when one filled. Its duration comes from the packet's
    /// own TOC byte (RFC 6716, 3.1), not from the encoder's metadata, which engines fill unevenly.
    ///
    /// ```
    /// use tapesync_compress::ogg::OggOpus;
    /// let mut ogg = OggOpus::new(1, 48000, 312, 1);
    /// assert!(ogg.packet(&[0xf8]).is_empty());
    /// ```
    pub fn packet(&mut self, data: &[u8]) -> Vec<u8> {
        let samples = packet_samples(data);
        let lacing = lacing_of(data.len());
        let mut out = Vec::new();
        if self.lacing.len() + lacing.len() > 255 {
            out = self.flush(0);
        }
        self.body.extend_from_slice(data);
        self.lacing.extend(lacing);
        self.packets += 1;
        self.samples += u64::from(samples);
        if self.packets >= PACKETS_PER_PAGE {
            out.extend(self.flush(0));
        }
        out
    }

    /// The last page (end of stream). `input_samples` is the true length in 48 kHz samples: the
    /// final granule position trims the encoder's padding of the last packet.
    ///
    /// ```
    /// use tapesync_compress::ogg::OggOpus;
    /// let mut ogg = OggOpus::new(1, 48000, 312, 1);
    /// assert_eq!(&ogg.finish(0)[0..4], b"OggS");
    /// ```
    pub fn finish(&mut self, input_samples: u64) -> Vec<u8> {
        let end = input_samples.min(self.samples);
        self.samples = end;
        self.flush(0x04)
    }

    fn flush(&mut self, flags: u8) -> Vec<u8> {
        if self.lacing.is_empty() && flags == 0 {
            return Vec::new();
        }
        let granule = self.samples + u64::from(self.pre_skip);
        let body = std::mem::take(&mut self.body);
        let lacing = std::mem::take(&mut self.lacing);
        self.packets = 0;
        self.page(&body, &lacing, granule, flags)
    }

    fn page(&mut self, body: &[u8], lacing: &[u8], granule: u64, flags: u8) -> Vec<u8> {
        let mut p = Vec::with_capacity(27 + lacing.len() + body.len());
        p.extend_from_slice(b"OggS");
        p.push(0);
        p.push(flags);
        p.extend_from_slice(&granule.to_le_bytes());
        p.extend_from_slice(&self.serial.to_le_bytes());
        p.extend_from_slice(&self.sequence.to_le_bytes());
        p.extend_from_slice(&[0; 4]);
        p.push(lacing.len() as u8);
        p.extend_from_slice(lacing);
        p.extend_from_slice(body);
        let crc = crc32(&p);
        p[22..26].copy_from_slice(&crc.to_le_bytes());
        self.sequence += 1;
        p
    }
}

/// The 48 kHz samples in an Opus packet, from its TOC byte (and frame count byte); 0 for an empty
/// or malformed packet.
///
/// ```
/// use tapesync_compress::ogg::packet_samples;
/// assert_eq!(packet_samples(&[0xf8]), 960); // CELT 20 ms, one frame
/// assert_eq!(packet_samples(&[(2 << 3) | 1]), 3840); // SILK 40 ms, two frames
/// ```
pub fn packet_samples(data: &[u8]) -> u32 {
    let Some(&toc) = data.first() else {
        return 0;
    };
    let config = toc >> 3;
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config & 3)],
        12..=15 => [480, 960][usize::from(config & 1)],
        _ => [120, 240, 480, 960][usize::from(config & 3)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => match data.get(1) {
            Some(b) => u32::from(b & 0x3f),
            None => 0,
        },
    };
    frame * frames
}

/// Ogg lacing values for a packet of `len` bytes: 255s, then the rest (0 after an exact multiple).
fn lacing_of(len: usize) -> Vec<u8> {
    let mut l = vec![255u8; len / 255];
    l.push((len % 255) as u8);
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_ogg_reference() {
        // Ogg's CRC is CRC-32/CKSUM without its final xor; CKSUM's check value is 0x765e7680.
        assert_eq!(crc32(b"123456789"), !0x765e_7680);
    }

    #[test]
    fn pages_carry_granules_and_flags() {
        let mut ogg = OggOpus::new(1, 16000, 312, 9);
        let h = ogg.headers();
        assert_eq!(h[5], 0x02);
        let mut pages = Vec::new();
        // TOC 0xf8: CELT, 20 ms, one frame.
        let packet: Vec<u8> = std::iter::once(0xf8).chain([1; 299]).collect();
        for _ in 0..60 {
            pages.extend(ogg.packet(&packet));
        }
        // The 50th packet filled a page (300 bytes = 2 lacing values each: 100 values).
        assert!(!pages.is_empty());
        assert_eq!(
            u64::from_le_bytes(pages[6..14].try_into().unwrap()),
            50 * 960 + 312
        );
        let last = ogg.finish(59 * 960 + 100);
        assert_eq!(last[5], 0x04);
        assert_eq!(
            u64::from_le_bytes(last[6..14].try_into().unwrap()),
            59 * 960 + 100 + 312
        );
        assert_eq!(lacing_of(510), vec![255, 255, 0]);
    }
}
