//! Retry delays: exponential backoff with jitter, computed from attempt numbers and random numbers
//! that are passed in.
//!
//! Jitter matters more than the exponent here: when a backend comes back after an outage, every tab
//! of every user retries at once unless their delays are spread out.

use serde::{Deserialize, Serialize};

/// A retry schedule: the delay before attempt `n + 1` grows as `base * 2^n` up to `max`, and the
/// actual delay is drawn uniformly from the upper half of that ("equal jitter"), so retries never
/// bunch at zero yet still spread out.
///
/// ```
/// use tapesync::core::backoff::Backoff;
/// let b = Backoff { base_ms: 1_000, max_ms: 60_000 };
/// // First retry: between 0.5 s and 1 s, whatever the random number.
/// for r in [0, 1, u64::MAX / 3, u64::MAX] {
///     let d = b.delay_ms(0, r);
///     assert!((500..=1_000).contains(&d), "{d}");
/// }
/// // Late retries are capped at one minute.
/// assert!(b.delay_ms(40, 12345) <= 60_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// The delay ceiling for the first retry, in milliseconds.
    pub base_ms: u64,
    /// The largest delay ceiling, in milliseconds.
    pub max_ms: u64,
}

impl Default for Backoff {
    /// One second, doubling, up to five minutes.
    ///
    /// ```
    /// use tapesync::core::backoff::Backoff;
    /// assert_eq!(Backoff::default().base_ms, 1_000);
    /// ```
    fn default() -> Self {
        Backoff {
            base_ms: 1_000,
            max_ms: 300_000,
        }
    }
}

impl Backoff {
    /// The ceiling for the retry after `attempt` failures (0 = the first failure).
    ///
    /// ```
    /// use tapesync::core::backoff::Backoff;
    /// let b = Backoff { base_ms: 100, max_ms: 1_000 };
    /// assert_eq!(b.ceiling_ms(0), 100);
    /// assert_eq!(b.ceiling_ms(3), 800);
    /// assert_eq!(b.ceiling_ms(4), 1_000);
    /// ```
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let shift = attempt.min(62);
        self.base_ms.saturating_mul(1u64 << shift).min(self.max_ms)
    }

    /// The delay before the next try after `attempt` failures, jittered by the random number `random`.
    ///
    /// ```
    /// use tapesync::core::backoff::Backoff;
    /// let b = Backoff { base_ms: 100, max_ms: 1_000 };
    /// assert_ne!(b.delay_ms(2, 1), b.delay_ms(2, 2)); // two clients, two delays
    /// ```
    pub fn delay_ms(&self, attempt: u32, random: u64) -> u64 {
        let ceiling = self.ceiling_ms(attempt);
        let half = ceiling / 2;
        let span = ceiling - half; // the upper half, including the ceiling itself
        half + random % (span + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_bounded_and_spread() {
        let b = Backoff::default();
        let mut seen = std::collections::BTreeSet::new();
        for attempt in 0..100 {
            for r in 0..50u64 {
                let d = b.delay_ms(attempt, r.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                assert!(d <= b.max_ms);
                assert!(d >= b.ceiling_ms(attempt) / 2);
                if attempt == 5 {
                    seen.insert(d);
                }
            }
        }
        assert!(seen.len() > 40, "jitter spreads retries: {}", seen.len());
        let zero = Backoff {
            base_ms: 0,
            max_ms: 0,
        };
        assert_eq!(zero.delay_ms(3, 99), 0);
        let huge = Backoff {
            base_ms: u64::MAX,
            max_ms: u64::MAX,
        };
        assert!(huge.delay_ms(70, u64::MAX) >= u64::MAX / 2);
    }
}
