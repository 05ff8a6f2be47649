//! Local transactions the engine asks the driver to commit, and the device's persisted sync state.
//!
//! The engine never writes local state itself and never holds recordings in memory. It hands the
//! driver a [`Commit`]: the driver opens one IndexedDB readwrite transaction, reads the entries the
//! commit names ([`Commit::reads`]) and the clock, calls [`Commit::run`] on them, writes everything
//! in the returned [`Writes`], and commits. Because the merge runs on what the transaction read, an
//! edit the user makes during a sync (in this tab or another) is merged, never overwritten.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::device::DeviceId;
use super::entry::LocalEntry;
use super::fields::ContentHash;
use super::hlc::Clock;
use super::id::RecordingId;
use super::layout::Layout;
use super::limits::{self, COMMIT_CHANGES, MAX_SEGMENT_BYTES};
use super::log::{Change, Segment};
use super::merge::{apply_change, Conflict, MergeConfig};

/// The sync state a device persists besides its entries (in the store's `meta` object store).
///
/// It is owned by the sync engine: only commits the engine issues change it, and every one of them
/// writes it whole, in the same transaction as the entries it concerns.
///
/// ```
/// use tapesync::core::{commit::SyncMeta, device::DeviceId};
/// let meta = SyncMeta::new(DeviceId::parse("d1").unwrap());
/// assert_eq!(meta.next_seq, 0);
/// let json = serde_json::to_string(&meta).unwrap();
/// assert_eq!(serde_json::from_str::<SyncMeta>(&json).unwrap(), meta);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncMeta {
    /// This device.
    pub device: DeviceId,
    /// The sequence number of this device's next log segment.
    pub next_seq: u64,
    /// Per other device: the sequence number of the next segment of its log to read.
    #[serde(default)]
    pub checkpoints: BTreeMap<DeviceId, u64>,
    /// Segments sealed but not yet confirmed in the cloud, in sequence order. A sealed segment is
    /// never changed: after a crash or a lost response the same bytes are uploaded again.
    #[serde(default)]
    pub outbox: Vec<Segment>,
    /// Blob keys to delete once the outbox is empty (their deletion was decided by a segment in it).
    #[serde(default)]
    pub trash: Vec<String>,
    /// Per other device: the newest edit stamp (wall ms) read from its log, for retiring logs of
    /// devices gone for long ([`crate::core::retire`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seen: BTreeMap<DeviceId, u64>,
    /// The newest edit stamp (wall ms) of this device's segments confirmed in the cloud; 0 when
    /// unknown (none yet, or a state written by an older release).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub published_ms: u64,
    /// Per other device whose log this device retired: the checkpoint it was retired at.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retired: BTreeMap<DeviceId, u64>,
    /// The first segment of this device's log in the current folder. After `resetSync()` the
    /// numbering goes on where it was (a folder must never get one segment number twice), so the
    /// segments before it were never written here: compaction reads from it, and the snapshot that
    /// announces the device there lets readers past the gap.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub log_start: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The newest edit stamp (wall ms) among `changes`, 0 for none.
pub(crate) fn newest_wall(changes: &[Change]) -> u64 {
    changes
        .iter()
        .flat_map(|c| c.fields.stamps())
        .map(|s| s.wall_ms())
        .max()
        .unwrap_or(0)
}

impl SyncMeta {
    /// This state without its outbox: the part a store writes whole with every commit (the
    /// browser store keeps each outbox segment in a record of its own, written once).
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId};
    /// let mut meta = SyncMeta::new(DeviceId::parse("d").unwrap());
    /// meta.next_seq = 3;
    /// let bare = meta.without_outbox();
    /// assert_eq!((bare.next_seq, bare.outbox.len()), (3, 0));
    /// ```
    pub fn without_outbox(&self) -> SyncMeta {
        // Every field named, so a new one cannot be forgotten here.
        let SyncMeta {
            device,
            next_seq,
            checkpoints,
            outbox: _,
            trash,
            seen,
            published_ms,
            retired,
            log_start,
        } = self;
        SyncMeta {
            device: device.clone(),
            next_seq: *next_seq,
            checkpoints: checkpoints.clone(),
            outbox: Vec::new(),
            trash: trash.clone(),
            seen: seen.clone(),
            published_ms: *published_ms,
            retired: retired.clone(),
            log_start: *log_start,
        }
    }

    /// The state of a device that has never synced.
    ///
    /// ```
    /// use tapesync::core::{commit::SyncMeta, device::DeviceId};
    /// assert!(SyncMeta::new(DeviceId::parse("d").unwrap()).outbox.is_empty());
    /// ```
    pub fn new(device: DeviceId) -> Self {
        SyncMeta {
            device,
            next_seq: 0,
            checkpoints: BTreeMap::new(),
            outbox: Vec::new(),
            trash: Vec::new(),
            seen: BTreeMap::new(),
            published_ms: 0,
            retired: BTreeMap::new(),
            log_start: 0,
        }
    }
}

/// A local transaction for the driver to run; see the module docs for the protocol.
///
/// The driver reads [`Commit::reads`], calls [`Commit::run`], and if it answers [`Ran::Read`],
/// reads those too and runs again, all in the same transaction; then it writes the [`Writes`].
///
/// ```
/// use tapesync::core::{commit::{Commit, CommitOutcome, Ran, SyncMeta}, device::DeviceId, hlc::Clock};
/// let device = DeviceId::parse("d").unwrap();
/// let commit = Commit::trashed(SyncMeta::new(device.clone()), vec![]);
/// assert!(commit.reads().is_empty());
/// // The driver, inside one readwrite transaction:
/// let mut read = std::collections::BTreeMap::new();
/// let mut ids = commit.reads();
/// let (writes, outcome) = loop {
///     for id in ids { read.insert(id, None); } // store.get(id) in a real driver
///     match commit.run(Clock::new(device.clone()), &read) {
///         Ran::Done(w, o) => break (w, o),
///         Ran::Read(more) => ids = more,
///     }
/// };
/// assert!(writes.meta.is_some());
/// assert!(matches!(outcome, CommitOutcome::Done { .. }));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Commit {
    kind: Kind,
    now: u64,
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Apply {
        meta: SyncMeta,
        segment: Segment,
        cfg: MergeConfig,
        /// The checkpoint to move the segment's device to (never backwards): the next segment
        /// for a segment, `upto` for the last commit of a snapshot, `None` for the others.
        checkpoint: Option<u64>,
    },
    Seal {
        meta: SyncMeta,
        ids: Vec<RecordingId>,
        /// Uploads finished since the last confirmation, confirmed first in the same commit.
        uploaded: Vec<(RecordingId, ContentHash)>,
        layout: Layout,
    },
    Confirm {
        meta: SyncMeta,
        seq: u64,
    },
    Trashed {
        meta: SyncMeta,
        keys: Vec<String>,
    },
    /// Blobs confirmed in the cloud, batched: one transaction for every upload that finished
    /// while the previous local commit ran.
    Uploaded {
        items: Vec<(RecordingId, ContentHash)>,
    },
    Failed {
        id: RecordingId,
        message: String,
    },
    /// Another device's log is retired at this checkpoint (see `retire`).
    Retired {
        meta: SyncMeta,
        device: DeviceId,
        checkpoint: u64,
    },
}

/// Everything a commit writes. The driver writes, in one transaction and in this order:
///
/// 1. for each `(from, to)` in `copy_audio`, the local audio of `from` as the audio of `to`;
/// 2. each entry in `entries` into the `sync` store, and its [`LocalEntry::public`] into the
///    recordings store (put when `Some`, delete when `None`);
/// 3. for each id in `drop_audio`, delete its local audio;
/// 4. `clock` and, when `Some`, `meta`.
///
/// ```
/// use tapesync::core::commit::Writes;
/// # use tapesync::core::{device::DeviceId, hlc::Clock};
/// let w = Writes { clock: Clock::new(DeviceId::parse("d").unwrap()), ..Writes::empty(Clock::new(DeviceId::parse("d").unwrap())) };
/// assert!(w.entries.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Writes {
    /// Entries to put.
    pub entries: Vec<LocalEntry>,
    /// Local audio to copy first, `(from, to)`.
    pub copy_audio: Vec<(RecordingId, RecordingId)>,
    /// Local audio to delete.
    pub drop_audio: Vec<RecordingId>,
    /// The clock, always written back.
    pub clock: Clock,
    /// The device's sync state, when it changed.
    pub meta: Option<SyncMeta>,
}

impl Writes {
    /// Writes of nothing but the clock.
    ///
    /// ```
    /// use tapesync::core::{commit::Writes, device::DeviceId, hlc::Clock};
    /// assert!(Writes::empty(Clock::new(DeviceId::parse("d").unwrap())).meta.is_none());
    /// ```
    pub fn empty(clock: Clock) -> Self {
        Writes {
            entries: Vec::new(),
            copy_audio: Vec::new(),
            drop_audio: Vec::new(),
            clock,
            meta: None,
        }
    }
}

/// What a commit did, handed back to the engine by the driver after the transaction committed.
///
/// ```
/// use tapesync::core::commit::CommitOutcome;
/// let o = CommitOutcome::Done { meta: None };
/// assert!(matches!(o, CommitOutcome::Done { meta: None }));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum CommitOutcome {
    /// A pulled segment was applied.
    Applied {
        /// The device state after it (checkpoint moved on).
        meta: SyncMeta,
        /// Recordings whose visible state changed (the app may refresh them).
        changed: Vec<RecordingId>,
        /// Conflicts settled.
        conflicts: Vec<Conflict>,
        /// How many changes the segment held.
        changes: usize,
    },
    /// Local edits were sealed.
    Sealed {
        /// The device state after it (segment in the outbox, blobs in the trash).
        meta: SyncMeta,
        /// The new segment's sequence number, `None` if nothing was sealable.
        seq: Option<u64>,
        /// How many changes it holds.
        changes: usize,
        /// Whether more entries are waiting (the segment was full).
        more: bool,
        /// Recordings whose edits no reader would accept (beyond the limits, e.g. written by an
        /// older release without encoded-size limits): marked failed instead of sealed, with why.
        failed: Vec<(RecordingId, String)>,
    },
    /// Any other commit.
    Done {
        /// The device state after it, if the commit changed it.
        meta: Option<SyncMeta>,
    },
}

/// The result of [`Commit::run`].
///
/// ```
/// use tapesync::core::{commit::Ran, id::RecordingId};
/// let r = Ran::Read(vec![RecordingId::parse("c").unwrap()]);
/// assert!(matches!(r, Ran::Read(_)));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per transaction, moved once: boxing buys nothing
pub enum Ran {
    /// Write these, commit, and hand the outcome to the engine.
    Done(Writes, CommitOutcome),
    /// Read these entries too (in the same transaction), then run again. Happens when a conflict
    /// copy is about to be made whose id may exist already.
    Read(Vec<RecordingId>),
}

impl Commit {
    pub(crate) fn apply(meta: SyncMeta, segment: Segment, cfg: MergeConfig, now: u64) -> Self {
        let checkpoint = Some(segment.seq.saturating_add(1));
        Commit {
            kind: Kind::Apply {
                meta,
                segment,
                cfg,
                checkpoint,
            },
            now,
        }
    }

    /// Applies changes of a snapshot of `segment.device`'s log (carried as a segment), moving
    /// that device's checkpoint to `checkpoint` if given (the snapshot's last commit).
    pub(crate) fn apply_snapshot(
        meta: SyncMeta,
        segment: Segment,
        cfg: MergeConfig,
        checkpoint: Option<u64>,
        now: u64,
    ) -> Self {
        Commit {
            kind: Kind::Apply {
                meta,
                segment,
                cfg,
                checkpoint,
            },
            now,
        }
    }

    pub(crate) fn seal(
        meta: SyncMeta,
        ids: Vec<RecordingId>,
        uploaded: Vec<(RecordingId, ContentHash)>,
        layout: Layout,
        now: u64,
    ) -> Self {
        Commit {
            kind: Kind::Seal {
                meta,
                ids,
                uploaded,
                layout,
            },
            now,
        }
    }

    pub(crate) fn confirm(meta: SyncMeta, seq: u64, now: u64) -> Self {
        Commit {
            kind: Kind::Confirm { meta, seq },
            now,
        }
    }

    /// The commit that forgets blob keys whose deletion is done.
    ///
    /// ```
    /// use tapesync::core::{commit::{Commit, Ran, SyncMeta}, device::DeviceId, hlc::Clock};
    /// let d = DeviceId::parse("d").unwrap();
    /// let mut meta = SyncMeta::new(d.clone());
    /// meta.trash = vec!["blobs/r/x".into(), "blobs/r/y".into()];
    /// let commit = Commit::trashed(meta, vec!["blobs/r/x".into()]);
    /// let Ran::Done(w, _) = commit.run(Clock::new(d), &Default::default()) else { unreachable!() };
    /// assert_eq!(w.meta.unwrap().trash, vec!["blobs/r/y".to_string()]);
    /// ```
    pub fn trashed(meta: SyncMeta, keys: Vec<String>) -> Self {
        Commit {
            kind: Kind::Trashed { meta, keys },
            now: 0,
        }
    }

    pub(crate) fn uploaded(items: Vec<(RecordingId, ContentHash)>) -> Self {
        Commit {
            kind: Kind::Uploaded { items },
            now: 0,
        }
    }

    pub(crate) fn retired(meta: SyncMeta, device: DeviceId, checkpoint: u64) -> Self {
        Commit {
            kind: Kind::Retired {
                meta,
                device,
                checkpoint,
            },
            now: 0,
        }
    }

    pub(crate) fn failed(id: RecordingId, message: String) -> Self {
        Commit {
            kind: Kind::Failed { id, message },
            now: 0,
        }
    }

    /// The recordings whose entries the driver reads before [`Commit::run`]. Entries that do not
    /// exist are simply not passed.
    ///
    /// ```
    /// use tapesync::core::{commit::{Commit, SyncMeta}, device::DeviceId};
    /// let c = Commit::trashed(SyncMeta::new(DeviceId::parse("d").unwrap()), vec![]);
    /// assert_eq!(c.reads(), vec![]);
    /// ```
    pub fn reads(&self) -> Vec<RecordingId> {
        let mut ids: Vec<RecordingId> = match &self.kind {
            Kind::Apply { segment, .. } => segment.changes.iter().map(|c| c.id.clone()).collect(),
            Kind::Seal { ids, uploaded, .. } => ids
                .iter()
                .chain(uploaded.iter().map(|(id, _)| id))
                .cloned()
                .collect(),
            Kind::Confirm { meta, seq } => meta
                .outbox
                .iter()
                .filter(|s| s.seq == *seq)
                .flat_map(|s| s.changes.iter().map(|c| c.id.clone()))
                .collect(),
            Kind::Trashed { .. } | Kind::Retired { .. } => Vec::new(),
            Kind::Uploaded { items } => items.iter().map(|(id, _)| id.clone()).collect(),
            Kind::Failed { id, .. } => vec![id.clone()],
        };
        ids.sort();
        ids.dedup();
        ids
    }

    /// Whether the commit may copy or drop local audio (only applying a pulled segment does).
    /// The driver leaves the audio store out of the other commits' transactions, so they do not
    /// queue behind audio reads and writes.
    ///
    /// ```
    /// use tapesync::core::{commit::{Commit, SyncMeta}, device::DeviceId};
    /// let c = Commit::trashed(SyncMeta::new(DeviceId::parse("d").unwrap()), vec![]);
    /// assert!(!c.touches_audio());
    /// ```
    pub fn touches_audio(&self) -> bool {
        matches!(self.kind, Kind::Apply { .. })
    }

    /// Computes the writes from what the transaction has read: the device's `clock`, and for
    /// every id asked for so far ([`Commit::reads`], then any [`Ran::Read`]) its entry or `None`
    /// if there is none. Pure: the same input gives the same output, so the driver may call it
    /// again after reading more in the same transaction.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use tapesync::core::{commit::{Commit, Ran, SyncMeta}, device::DeviceId, hlc::Clock};
    /// let d = DeviceId::parse("d").unwrap();
    /// let Ran::Done(w, _) = Commit::trashed(SyncMeta::new(d.clone()), vec![]).run(Clock::new(d.clone()), &BTreeMap::new()) else {
    ///     unreachable!()
    /// };
    /// assert_eq!(w.clock, Clock::new(d));
    /// ```
    pub fn run(&self, clock: Clock, read: &BTreeMap<RecordingId, Option<LocalEntry>>) -> Ran {
        let mut clock = clock;
        let mut by_id: BTreeMap<RecordingId, LocalEntry> = read
            .values()
            .flatten()
            .map(|e| (e.id.clone(), e.clone()))
            .collect();
        let mut w = Writes::empty(clock.clone());
        let outcome = match &self.kind {
            Kind::Apply {
                meta,
                segment,
                cfg,
                checkpoint,
            } => {
                let mut touched: BTreeMap<RecordingId, LocalEntry> = BTreeMap::new();
                let mut changed = Vec::new();
                let mut conflicts = Vec::new();
                let mut need = Vec::new();
                for c in &segment.changes {
                    let current = touched.remove(&c.id).or_else(|| by_id.remove(&c.id));
                    let keep = current.clone();
                    // Entries made by earlier changes of this commit (looked up in place: a copy
                    // of the set per change made a 500-change commit quadratic).
                    let made = &touched;
                    let existing = |id: &RecordingId| {
                        if made.contains_key(id) {
                            Some(true)
                        } else {
                            read.get(id).map(Option::is_some)
                        }
                    };
                    let out = apply_change(current, c, cfg, &mut clock, self.now, &existing);
                    need.extend(out.need.iter().cloned());
                    if out.entries.is_empty() {
                        if let Some(k) = keep {
                            touched.insert(k.id.clone(), k);
                        }
                        continue;
                    }
                    if out.visible_change && !changed.contains(&c.id) {
                        changed.push(c.id.clone());
                    }
                    conflicts.extend(out.conflicts);
                    w.copy_audio.extend(out.copy_audio);
                    w.drop_audio.extend(out.drop_audio);
                    for e in out.entries {
                        if e.id != c.id && !changed.contains(&e.id) {
                            changed.push(e.id.clone());
                        }
                        touched.insert(e.id.clone(), e);
                    }
                }
                if !need.is_empty() {
                    return Ran::Read(need);
                }
                w.entries = touched.into_values().collect();
                let mut meta = meta.clone();
                if let Some(c) = checkpoint {
                    let at = meta.checkpoints.entry(segment.device.clone()).or_insert(0);
                    *at = (*at).max(*c);
                }
                let newest = newest_wall(&segment.changes);
                if newest > 0 {
                    let seen = meta.seen.entry(segment.device.clone()).or_insert(0);
                    *seen = (*seen).max(newest);
                }
                w.meta = Some(meta.clone());
                CommitOutcome::Applied {
                    meta,
                    changed,
                    conflicts,
                    changes: segment.changes.len(),
                }
            }
            Kind::Seal {
                meta,
                ids,
                uploaded,
                layout,
            } => {
                let mut meta = meta.clone();
                let mut changes = Vec::new();
                let mut trash = Vec::new();
                let mut more = false;
                let mut failed = Vec::new();
                let mut confirmed = BTreeSet::new();
                // The segment's encoded size so far: split by size as well as by count, so no
                // segment is ever over what readers accept.
                let mut bytes = Segment::new(meta.device.clone(), meta.next_seq, Vec::new())
                    .encode()
                    .len();
                for (id, hash) in uploaded {
                    if let Some(e) = by_id.get_mut(id) {
                        e.upload_confirmed(hash);
                        confirmed.insert(id.clone());
                    }
                }
                for id in ids {
                    if changes.len() >= COMMIT_CHANGES {
                        more = true;
                        break;
                    }
                    let Some(mut e) = by_id.get(id).cloned() else {
                        continue;
                    };
                    let before = e.clone();
                    let sealed = e.seal();
                    if let Some(c) = &sealed.change {
                        if let Err(why) = sealable(c, &meta.device) {
                            // Publishing it would make this device's log unreadable.
                            let mut e = before;
                            e.fail(&why);
                            failed.push((id.clone(), why));
                            by_id.remove(id);
                            w.entries.push(e);
                            continue;
                        }
                        let len = limits::encoded_len(c);
                        let sep = usize::from(!changes.is_empty());
                        if !changes.is_empty() && bytes + sep + len > MAX_SEGMENT_BYTES {
                            more = true;
                            break;
                        }
                        bytes += sep + len;
                    }
                    by_id.remove(id);
                    let touched = e != before || confirmed.contains(id);
                    if let Some(c) = sealed.change {
                        changes.push(c);
                    }
                    trash.extend(sealed.trash.iter().map(|h| layout.blob_key(&e.id, h)));
                    if touched {
                        w.entries.push(e);
                    }
                }
                // Confirmed uploads whose entries this segment did not take.
                w.entries
                    .extend(confirmed.iter().filter_map(|id| by_id.remove(id)));
                let n = changes.len();
                let seq = if changes.is_empty() {
                    None
                } else {
                    let seq = meta.next_seq;
                    meta.outbox
                        .push(Segment::new(meta.device.clone(), seq, changes));
                    meta.next_seq = seq.saturating_add(1);
                    Some(seq)
                };
                for k in trash {
                    if !meta.trash.contains(&k) {
                        meta.trash.push(k);
                    }
                }
                w.meta = Some(meta.clone());
                CommitOutcome::Sealed {
                    meta,
                    seq,
                    changes: n,
                    more,
                    failed,
                }
            }
            Kind::Confirm { meta, seq } => {
                let mut meta = meta.clone();
                if let Some(pos) = meta.outbox.iter().position(|s| s.seq == *seq) {
                    let seg = meta.outbox.remove(pos);
                    meta.published_ms = meta.published_ms.max(newest_wall(&seg.changes));
                    for c in &seg.changes {
                        if let Some(mut e) = by_id.remove(&c.id) {
                            e.confirm();
                            w.entries.push(e);
                        }
                    }
                }
                w.meta = Some(meta.clone());
                CommitOutcome::Done { meta: Some(meta) }
            }
            Kind::Retired {
                meta,
                device,
                checkpoint,
            } => {
                let mut meta = meta.clone();
                meta.retired.insert(device.clone(), *checkpoint);
                w.meta = Some(meta.clone());
                CommitOutcome::Done { meta: Some(meta) }
            }
            Kind::Trashed { meta, keys } => {
                let mut meta = meta.clone();
                meta.trash.retain(|k| !keys.contains(k));
                w.meta = Some(meta.clone());
                CommitOutcome::Done { meta: Some(meta) }
            }
            Kind::Uploaded { items } => {
                for (id, hash) in items {
                    if let Some(e) = by_id.get_mut(id) {
                        e.upload_confirmed(hash);
                    }
                }
                w.entries
                    .extend(items.iter().filter_map(|(id, _)| by_id.remove(id)));
                CommitOutcome::Done { meta: None }
            }
            Kind::Failed { id, message } => {
                if let Some(mut e) = by_id.remove(id) {
                    e.fail(message);
                    w.entries.push(e);
                }
                CommitOutcome::Done { meta: None }
            }
        };
        w.clock = clock;
        Ran::Done(w, outcome)
    }
}

/// Whether a change may be sealed: what every reader checks ([`crate::core::fields::Fields::validate`]),
/// plus the writers' encoded-size limits.
fn sealable(c: &Change, device: &DeviceId) -> Result<(), String> {
    c.fields.validate(device)?;
    for (k, v) in &c.fields.custom {
        if let Some(v) = &v.value {
            let len = limits::encoded_len(v);
            if len > limits::CUSTOM_VALUE_BYTES {
                return Err(format!(
                    "custom.{k} is {len} bytes encoded, at most {} bytes: not synced",
                    limits::CUSTOM_VALUE_BYTES
                ));
            }
        }
    }
    let len = limits::encoded_len(c);
    if len > limits::CHANGE_BYTES {
        return Err(format!(
            "the recording's changes are {len} bytes encoded, at most {} bytes: not synced",
            limits::CHANGE_BYTES
        ));
    }
    Ok(())
}

/// What the driver does after downloading audio `hash` for recording `entry` (an `Op::GetBlob`),
/// in one transaction: if this returns the updated entry, write it and store the bytes as the
/// recording's audio; if it returns `None`, the recording changed meanwhile: drop the bytes.
///
/// ```
/// use tapesync::core::{commit::audio_arrived, entry::LocalEntry, fields::ContentHash, id::RecordingId};
/// let e = LocalEntry::remote(RecordingId::parse("r").unwrap());
/// assert!(audio_arrived(Some(e), &ContentHash::parse(&"0".repeat(64)).unwrap()).is_none());
/// ```
pub fn audio_arrived(entry: Option<LocalEntry>, hash: &ContentHash) -> Option<LocalEntry> {
    let mut e = entry?;
    e.audio_arrived(hash).then_some(e)
}
