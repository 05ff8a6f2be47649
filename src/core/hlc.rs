//! Hybrid logical clocks: one stamp per edit, ordered the same way on every device.
//!
//! A stamp is `(wall_ms, counter, device)`. The wall part follows the device's clock so stamps read
//! like times; the counter keeps stamps increasing when the clock stands still or runs backwards; the
//! device id makes two stamps from different devices never equal. A device that has seen a stamp
//! (observed it) only issues larger ones afterwards, so an edit made after seeing another edit always
//! wins over it, however wrong the two devices' clocks are. Concurrent edits (neither saw the other)
//! are ordered by their stamps: the device whose clock runs ahead wins those, which is the documented
//! cost of last-writer-wins.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::device::DeviceId;

/// The largest wall time a stamp may carry: the last millisecond of the year 9999.
///
/// Remote stamps beyond it are rejected when a log segment is decoded, so a garbage stamp can
/// neither overflow the clock nor pin every later edit of every device to the far future.
pub const MAX_WALL_MS: u64 = 253_402_300_799_999;

/// One clock stamp: the time of an edit as ordered across devices.
///
/// In JSON a stamp is the array `[wallMs, counter, "deviceId"]`.
///
/// ```
/// use tapesync::core::{device::DeviceId, hlc::Hlc};
/// let a = Hlc::new(10, 0, DeviceId::parse("a").unwrap());
/// let b = Hlc::new(10, 0, DeviceId::parse("b").unwrap());
/// assert!(a < b); // same time: the device id breaks the tie
/// assert_eq!(serde_json::to_string(&a).unwrap(), r#"[10,0,"a"]"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "(u64, u32, DeviceId)", into = "(u64, u32, DeviceId)")]
pub struct Hlc {
    wall_ms: u64,
    counter: u32,
    device: DeviceId,
}

/// Why a stamp is not acceptable.
///
/// ```
/// use tapesync::core::hlc::{Hlc, BadStamp, MAX_WALL_MS};
/// let r: Result<Hlc, _> = serde_json::from_str(&format!("[{},0,\"d\"]", MAX_WALL_MS + 1));
/// assert!(r.is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadStamp(pub u64);

impl fmt::Display for BadStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a clock stamp's time {} is past the year 9999", self.0)
    }
}

impl std::error::Error for BadStamp {}

impl TryFrom<(u64, u32, DeviceId)> for Hlc {
    type Error = BadStamp;
    fn try_from((wall_ms, counter, device): (u64, u32, DeviceId)) -> Result<Self, BadStamp> {
        if wall_ms > MAX_WALL_MS {
            return Err(BadStamp(wall_ms));
        }
        Ok(Hlc {
            wall_ms,
            counter,
            device,
        })
    }
}

impl From<Hlc> for (u64, u32, DeviceId) {
    fn from(h: Hlc) -> Self {
        (h.wall_ms, h.counter, h.device)
    }
}

impl Hlc {
    /// A stamp from its parts; a wall time past [`MAX_WALL_MS`] is clamped to it.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, hlc::{Hlc, MAX_WALL_MS}};
    /// let h = Hlc::new(u64::MAX, 3, DeviceId::parse("d").unwrap());
    /// assert_eq!(h.wall_ms(), MAX_WALL_MS);
    /// ```
    pub fn new(wall_ms: u64, counter: u32, device: DeviceId) -> Self {
        Hlc {
            wall_ms: wall_ms.min(MAX_WALL_MS),
            counter,
            device,
        }
    }

    /// The wall-clock part, in milliseconds since the Unix epoch.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, hlc::Hlc};
    /// assert_eq!(Hlc::new(5, 1, DeviceId::parse("d").unwrap()).wall_ms(), 5);
    /// ```
    pub fn wall_ms(&self) -> u64 {
        self.wall_ms
    }

    /// The counter part: how many stamps this device issued in the same millisecond before.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, hlc::Hlc};
    /// assert_eq!(Hlc::new(5, 1, DeviceId::parse("d").unwrap()).counter(), 1);
    /// ```
    pub fn counter(&self) -> u32 {
        self.counter
    }

    /// The device that issued the stamp: the author of the edit it marks.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, hlc::Hlc};
    /// let d = DeviceId::parse("d").unwrap();
    /// assert_eq!(Hlc::new(5, 1, d.clone()).device(), &d);
    /// ```
    pub fn device(&self) -> &DeviceId {
        &self.device
    }
}

impl Ord for Hlc {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.wall_ms, self.counter, &self.device).cmp(&(
            other.wall_ms,
            other.counter,
            &other.device,
        ))
    }
}

impl PartialOrd for Hlc {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}@{}", self.wall_ms, self.counter, self.device)
    }
}

/// A device's clock: the largest stamp it has issued or seen, and its device id.
///
/// The store keeps it in its `meta` store and reads, ticks and writes it in the same transaction as
/// the edit it stamps, so two tabs of one app never issue the same stamp.
///
/// ```
/// use tapesync::core::{device::DeviceId, hlc::{Clock, Hlc}};
/// let mut clock = Clock::new(DeviceId::parse("a").unwrap());
/// let first = clock.tick(1_000);
/// let second = clock.tick(900); // the clock went backwards: the counter keeps order
/// assert!(second > first);
/// // After seeing a stamp from a device whose clock is hours ahead, ours issues larger stamps.
/// clock.observe(&Hlc::new(9_000_000, 0, DeviceId::parse("b").unwrap()));
/// assert!(clock.tick(1_100).wall_ms() >= 9_000_000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Clock {
    device: DeviceId,
    wall_ms: u64,
    counter: u32,
}

impl Clock {
    /// A fresh clock for `device` that has seen nothing yet.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, hlc::Clock};
    /// let c = Clock::new(DeviceId::parse("a").unwrap());
    /// assert_eq!(c.device().as_str(), "a");
    /// ```
    pub fn new(device: DeviceId) -> Self {
        Clock {
            device,
            wall_ms: 0,
            counter: 0,
        }
    }

    /// The device this clock stamps for.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, hlc::Clock};
    /// assert_eq!(Clock::new(DeviceId::parse("a").unwrap()).device().as_str(), "a");
    /// ```
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// A new stamp, larger than every stamp issued or observed before, at about `now_ms`.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, hlc::Clock};
    /// let mut c = Clock::new(DeviceId::parse("a").unwrap());
    /// assert_eq!(c.tick(50).wall_ms(), 50);
    /// assert_eq!(c.tick(50).counter(), 1);
    /// ```
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        let now_ms = now_ms.min(MAX_WALL_MS);
        if now_ms > self.wall_ms {
            self.wall_ms = now_ms;
            self.counter = 0;
        } else if self.counter == u32::MAX {
            // Four billion stamps in one millisecond only happen with garbage input; moving the
            // wall time on by a millisecond keeps stamps increasing without overflow.
            self.wall_ms = (self.wall_ms + 1).min(MAX_WALL_MS);
            self.counter = 0;
        } else {
            self.counter += 1;
        }
        Hlc {
            wall_ms: self.wall_ms,
            counter: self.counter,
            device: self.device.clone(),
        }
    }

    /// Records that this device has seen `stamp`: later ticks are larger than it.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, hlc::{Clock, Hlc}};
    /// let mut c = Clock::new(DeviceId::parse("a").unwrap());
    /// let remote = Hlc::new(100, 7, DeviceId::parse("z").unwrap());
    /// c.observe(&remote);
    /// assert!(c.tick(1) > remote);
    /// ```
    pub fn observe(&mut self, stamp: &Hlc) {
        if (stamp.wall_ms, stamp.counter) > (self.wall_ms, self.counter) {
            self.wall_ms = stamp.wall_ms;
            self.counter = stamp.counter;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> DeviceId {
        DeviceId::parse(s).unwrap()
    }

    #[test]
    fn ticks_strictly_increase_whatever_the_clock_does() {
        let mut c = Clock::new(d("a"));
        let mut last = c.tick(0);
        for now in [5, 5, 3, 0, 6, 6, u64::MAX, 1] {
            let next = c.tick(now);
            assert!(next > last, "{next} > {last}");
            last = next;
        }
    }

    #[test]
    fn counter_overflow_moves_the_wall_time() {
        let mut c = Clock::new(d("a"));
        c.observe(&Hlc::new(10, u32::MAX, d("b")));
        let t = c.tick(0);
        assert_eq!((t.wall_ms(), t.counter()), (11, 0));
        let mut top = Clock::new(d("a"));
        top.observe(&Hlc::new(MAX_WALL_MS, u32::MAX - 1, d("b")));
        let t = top.tick(0);
        assert_eq!(t.counter(), u32::MAX);
        // At the very end of time the stamp stops growing rather than overflowing.
        let t2 = top.tick(0);
        assert_eq!(t2.wall_ms(), MAX_WALL_MS);
    }

    #[test]
    fn stamps_round_trip_and_reject_garbage() {
        let h = Hlc::new(1_700_000_000_000, 3, d("dev"));
        let s = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Hlc>(&s).unwrap(), h);
        for bad in [
            "[1,2]",
            "[-1,0,\"d\"]",
            "[1,0,\"a/b\"]",
            "[1,4294967296,\"d\"]",
            "{}",
            "[1e400,0,\"d\"]",
        ] {
            assert!(serde_json::from_str::<Hlc>(bad).is_err(), "{bad}");
        }
    }
}
