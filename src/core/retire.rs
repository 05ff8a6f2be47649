//! Retiring the logs of devices gone for long: a reader-side rule that loses nothing.
//!
//! Every pull asks each other device's log for its next segment: one request per device, even for
//! a phone replaced years ago. A reader **retires** a device's log (stops asking) when, at a pull,
//!
//! 1. the log's next segment (at the reader's checkpoint `c`) is not found and no snapshot folder
//!    of that device covers more than `c`: the reader has read the log to its end, now; and
//! 2. the newest edit stamp it has read from that log is older than [`RETIRE_AFTER_MS`] (30 days)
//!    by the reader's clock ([`may_retire`]).
//!
//! It notes the checkpoint it retired the log at, and keeps it retired only while its checkpoint
//! is still that and no snapshot beyond it is listed ([`retired`]). Nothing is deleted and nothing
//! is skipped for good: the log stays in the bucket (only its device deletes its folders), a new
//! device reads it (its checkpoints are 0), and a reader takes it up again as soon as the listing
//! it makes anyway shows a snapshot of that device beyond its checkpoint. The writer's half of the
//! rule makes sure that happens before any new segment can be missed: a device whose newest
//! published stamp is older than half that age ([`must_announce`]) writes a snapshot covering its
//! unpublished segments **before** uploading them (its *announcement*).
//!
//! Why it loses nothing: a reader retires device `d`'s log at `t_r`, having found nothing after
//! `c` at `t_r`, with `t_r - s > 30 days` where `s` is the newest stamp it read from it. Take the
//! first segment of `d` that lands in the cloud after `t_r`, at `t_l`. `d` checks the rule before
//! sending a segment and again when it has landed, before confirming it; at that second check
//! (at or after `t_l`), every segment `d` had confirmed landed before `t_r`, so the reader read it:
//! `d`'s newest published stamp is at most `s`, and the gap is over 30 days > 15 days. So `d`
//! announces, with a snapshot covering its next sequence number, beyond `c`, before it confirms
//! the segment (until then the segment stays in its outbox, and the next round announces before
//! uploading it again). The reader's next listing shows the snapshot and it reads on; if it
//! retires the log again, the same holds from there. The margin covers clocks up to 15 days apart.
//!
//! ```
//! use tapesync::core::retire::{may_retire, must_announce, retired, RETIRE_AFTER_MS};
//! let day = 86_400_000;
//! let now = 100 * day;
//! // Nothing after checkpoint 12, newest stamp 40 days old: the reader retires the log at 12.
//! assert!(may_retire(now, Some(60 * day), RETIRE_AFTER_MS));
//! assert!(retired(Some(12), 12, Some(10)));
//! // A snapshot beyond the checkpoint appeared: the device announced itself.
//! assert!(!retired(Some(12), 12, Some(13)));
//! // The writer, 40 days after its last published stamp, announces before its next upload.
//! assert!(must_announce(now, Some(60 * day), 0, RETIRE_AFTER_MS));
//! assert!(!must_announce(now, Some(99 * day), 0, RETIRE_AFTER_MS));
//! ```

/// How old the newest stamp of a log must be for readers to retire it: 30 days.
pub const RETIRE_AFTER_MS: u64 = 30 * 86_400_000;

/// Whether a reader that found nothing after its checkpoint in a device's log retires it:
/// `newest_seen`, the newest stamp (wall ms) it has read from that log, is older than `after_ms`.
///
/// ```
/// use tapesync::core::retire::{may_retire, RETIRE_AFTER_MS};
/// assert!(!may_retire(u64::MAX, None, RETIRE_AFTER_MS)); // nothing read yet
/// ```
pub fn may_retire(now: u64, newest_seen: Option<u64>, after_ms: u64) -> bool {
    newest_seen.is_some_and(|seen| now.saturating_sub(seen) > after_ms)
}

/// Whether a reader skips asking a device's log for its next segment: it retired the log at
/// `retired_at`, its `checkpoint` is still there, and no snapshot of that device listed
/// (`newest_snapshot`, the largest `upto`) goes beyond it.
///
/// ```
/// use tapesync::core::retire::retired;
/// assert!(!retired(None, 5, None));
/// assert!(!retired(Some(4), 5, None)); // read on since
/// ```
pub fn retired(retired_at: Option<u64>, checkpoint: u64, newest_snapshot: Option<u64>) -> bool {
    retired_at == Some(checkpoint) && newest_snapshot.map_or(true, |u| u <= checkpoint)
}

/// Whether a device must announce itself (write a snapshot covering its unpublished segments)
/// before uploading them: the newest stamp readers may have read from its log (`published_ms`)
/// is older than half of `after_ms` by `now` (the later of its clock and the newest stamp it has
/// seen from others, so a clock running behind does not hide the gap). `None` when that is not
/// known (a sync state written by an older release, or reset, of a device that published
/// before): it announces, to be safe.
///
/// ```
/// use tapesync::core::retire::{must_announce, RETIRE_AFTER_MS};
/// assert!(!must_announce(1_000, Some(900), 0, RETIRE_AFTER_MS));
/// assert!(must_announce(1_000, None, 0, RETIRE_AFTER_MS)); // published before, time unknown
/// ```
pub fn must_announce(
    now: u64,
    published_ms: Option<u64>,
    newest_seen_elsewhere: u64,
    after_ms: u64,
) -> bool {
    let Some(published) = published_ms else {
        return true;
    };
    now.max(newest_seen_elsewhere).saturating_sub(published) > after_ms / 2
}
