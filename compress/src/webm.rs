//! WebM (Matroska) around Opus packets: the container for engines whose `<audio>` plays Opus in
//! WebM but not in Ogg (Safari). Clusters of about a second are emitted as they fill, so a capture
//! can store them as they come; the header can be made first (duration unknown, as MediaRecorder's
//! own WebM) or last (with the duration, for a file).

/// Packets per cluster: one second of 20 ms packets.
const PACKETS_PER_CLUSTER: usize = 50;

/// An EBML element: its id's bytes, then its size as an 8-byte vint, then the body.
fn element(id: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(id.len() + 8 + body.len());
    out.extend_from_slice(id);
    out.push(0x01);
    out.extend_from_slice(&(body.len() as u64).to_be_bytes()[1..]);
    out.extend_from_slice(body);
    out
}

fn uint(id: &[u8], v: u64) -> Vec<u8> {
    element(id, &v.to_be_bytes())
}

/// A WebM Opus stream being written.
///
/// ```
/// use tapesync_compress::webm::WebmOpus;
/// let mut webm = WebmOpus::new(1, 312);
/// let mut body = webm.packet(&[0xf8, 0xff, 0xfe]);
/// body.extend(webm.finish());
/// let file = [webm.header(Some(20.0)), body].concat();
/// assert_eq!(&file[0..4], &[0x1a, 0x45, 0xdf, 0xa3]);
/// ```
pub struct WebmOpus {
    channels: u8,
    pre_skip: u16,
    /// The blocks of the cluster being filled, and its start in ms.
    blocks: Vec<u8>,
    cluster_ms: u64,
    packets: usize,
    /// 48 kHz samples so far.
    samples: u64,
}

impl WebmOpus {
    /// A stream of `channels` channels with the encoder's `pre_skip` (48 kHz samples).
    ///
    /// ```
    /// use tapesync_compress::webm::WebmOpus;
    /// let webm = WebmOpus::new(2, 312);
    /// ```
    pub fn new(channels: u8, pre_skip: u16) -> WebmOpus {
        WebmOpus {
            channels,
            pre_skip,
            blocks: Vec::new(),
            cluster_ms: 0,
            packets: 0,
            samples: 0,
        }
    }

    /// The EBML header, the Segment's start (size unknown, as it is streamed) and its Info and
    /// Tracks; `duration_ms` when known.
    ///
    /// ```
    /// use tapesync_compress::webm::WebmOpus;
    /// let header = WebmOpus::new(1, 312).header(None);
    /// assert!(header.windows(6).any(|w| w == b"A_OPUS"));
    /// ```
    pub fn header(&self, duration_ms: Option<f64>) -> Vec<u8> {
        let ebml = [
            uint(&[0x42, 0x86], 1),
            uint(&[0x42, 0xf7], 1),
            uint(&[0x42, 0xf2], 4),
            uint(&[0x42, 0xf3], 8),
            element(&[0x42, 0x82], b"webm"),
            uint(&[0x42, 0x87], 4),
            uint(&[0x42, 0x85], 2),
        ]
        .concat();
        let mut info = [
            uint(&[0x2a, 0xd7, 0xb1], 1_000_000),
            element(&[0x4d, 0x80], b"tapesync"),
            element(&[0x57, 0x41], b"tapesync"),
        ]
        .concat();
        if let Some(d) = duration_ms {
            info.extend(element(&[0x44, 0x89], &d.to_be_bytes()));
        }
        let mut head = b"OpusHead".to_vec();
        head.push(1);
        head.push(self.channels);
        head.extend_from_slice(&self.pre_skip.to_le_bytes());
        head.extend_from_slice(&48_000u32.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes());
        head.push(0);
        let audio = [
            element(&[0xb5], &48_000f64.to_be_bytes()),
            uint(&[0x9f], u64::from(self.channels)),
        ]
        .concat();
        let track = [
            uint(&[0xd7], 1),
            uint(&[0x73, 0xc5], 1),
            uint(&[0x83], 2),
            element(&[0x86], b"A_OPUS"),
            element(&[0x63, 0xa2], &head),
            uint(
                &[0x56, 0xaa],
                u64::from(self.pre_skip) * 1_000_000_000 / 48_000,
            ),
            uint(&[0x56, 0xbb], 80_000_000),
            element(&[0xe1], &audio),
        ]
        .concat();
        let mut out = element(&[0x1a, 0x45, 0xdf, 0xa3], &ebml);
        // The Segment: an unknown size (all ones) so clusters can follow as they are made.
        out.extend_from_slice(&[
            0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ]);
        out.extend(element(&[0x15, 0x49, 0xa9, 0x66], &info));
        out.extend(element(
            &[0x16, 0x54, 0xae, 0x6b],
            &element(&[0xae], &track),
        ));
        out
    }

    /// Adds one Opus packet (its duration read from its TOC); returns a cluster when one filled.
    ///
    /// ```
    /// use tapesync_compress::webm::WebmOpus;
    /// let mut webm = WebmOpus::new(1, 312);
    /// assert!(webm.packet(&[0xf8]).is_empty());
    /// ```
    pub fn packet(&mut self, data: &[u8]) -> Vec<u8> {
        let now_ms = self.samples / 48;
        if self.packets == 0 {
            self.cluster_ms = now_ms;
        }
        // A SimpleBlock: track 1, the time relative to the cluster (i16 ms), keyframe.
        let relative = (now_ms - self.cluster_ms).min(i16::MAX as u64) as i16;
        let mut block = vec![0x81];
        block.extend_from_slice(&relative.to_be_bytes());
        block.push(0x80);
        block.extend_from_slice(data);
        self.blocks.extend(element(&[0xa3], &block));
        self.packets += 1;
        self.samples += u64::from(crate::ogg::packet_samples(data));
        if self.packets >= PACKETS_PER_CLUSTER {
            return self.flush();
        }
        Vec::new()
    }

    /// The last cluster (empty when there is none pending).
    ///
    /// ```
    /// use tapesync_compress::webm::WebmOpus;
    /// assert!(WebmOpus::new(1, 312).finish().is_empty());
    /// ```
    pub fn finish(&mut self) -> Vec<u8> {
        self.flush()
    }

    fn flush(&mut self) -> Vec<u8> {
        if self.packets == 0 {
            return Vec::new();
        }
        let mut body = uint(&[0xe7], self.cluster_ms);
        body.append(&mut self.blocks);
        self.packets = 0;
        element(&[0x1f, 0x43, 0xb6, 0x75], &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_start_at_their_first_packet() {
        let mut webm = WebmOpus::new(1, 312);
        let mut clusters = Vec::new();
        for _ in 0..120 {
            let c = webm.packet(&[0xf8, 1, 2, 3]);
            if !c.is_empty() {
                clusters.push(c);
            }
        }
        clusters.push(webm.finish());
        assert_eq!(clusters.len(), 3);
        // Cluster id, 8-byte size, then Timecode (0xe7, size, 8 bytes): 1000 ms for the second.
        let second = &clusters[1];
        assert_eq!(&second[0..4], &[0x1f, 0x43, 0xb6, 0x75]);
        assert_eq!(second[12], 0xe7);
        assert_eq!(u64::from_be_bytes(second[21..29].try_into().unwrap()), 1000);
    }
}
