//! Compaction of this device's log into snapshots, and reading other devices' snapshots.
//!
//! Writing (this device, its own folders only): list `log/` for this device's snapshot folders;
//! read the newest complete one (the *base*; a folder with a part missing is skipped, it was cut
//! short by a crash); read the segments after it (from the cloud, or from the outbox for those not
//! uploaded yet); write the new snapshot's parts (create-only, checked like a segment after a lost
//! answer); and only once every part is in the cloud, delete the segments it covers (those not in
//! the outbox) and the older snapshot folders. A crash anywhere leaves either the old state or a
//! folder with missing parts that readers and the next compaction skip; deleting is redone by the
//! next compaction.
//!
//! Reading (other devices): a reader whose next segment is not found, while the listing shows a
//! snapshot of that device beyond its checkpoint, reads the snapshot (part 0 says how many parts)
//! and then the segments after it. A part not found (a snapshot being written, or deleted for a
//! newer one) makes it try the next older snapshot beyond its checkpoint, else wait for the next
//! round: its checkpoint moves only once a whole snapshot is applied, so nothing is skipped.

use std::collections::BTreeSet;

use super::{Engine, Job, Task};
use crate::core::commit::{newest_wall, Commit, CommitOutcome};
use crate::core::device::DeviceId;
use crate::core::engine::{Failure, Op, Outcome, RoundOutcome, SyncError, SyncErrorKind};
use crate::core::error_class::ErrorCode;
use crate::core::layout::Layout;
use crate::core::limits::COMMIT_CHANGES;
use crate::core::log::Segment;
use crate::core::retire;
use crate::core::snapshot::{Compactor, SnapshotPart};

/// A compaction of this device's log under way.
#[derive(Debug)]
pub(super) struct Compaction {
    /// The snapshot covers segments `0..upto` (the device's `next_seq` when it started).
    upto: u64,
    /// Made to announce the device before its outbox is uploaded (see `retire`).
    announce: bool,
    /// Made to announce it after segment `.0` landed, before it is confirmed.
    then_confirm: Option<u64>,
    /// This device's snapshot folders not known to be broken.
    own: BTreeSet<u64>,
    /// The base snapshot being read.
    base: Option<u64>,
    acc: Compactor,
    /// Segment reads still out.
    segs_left: usize,
    /// The parts, once built; each is encoded when it is sent (encoding them all at once would
    /// hold the page for long at 50,000 recordings).
    parts: Vec<SnapshotPart>,
    puts_left: usize,
    /// Listings still out while cleaning up, and the keys they found to delete.
    lists_left: usize,
    to_delete: Vec<String>,
    deletes_left: usize,
}

impl Job {
    pub(super) fn is_snapshot_job(&self) -> bool {
        matches!(
            self,
            Job::GetSnapPart(..)
                | Job::ApplySnap(..)
                | Job::CompactList(_)
                | Job::CompactGetPart(..)
                | Job::CompactGetSeg(_)
                | Job::PutSnapPart(..)
                | Job::HeadSnapPart(..)
                | Job::CleanList(..)
                | Job::CleanDelete(_)
                | Job::Retire(..)
        )
    }
}

impl Engine {
    /// Whether a full round should compact this device's log now: the listing shows its newest
    /// snapshot `compact_every` segments or more behind, or older snapshot folders left to clean.
    pub(super) fn compaction_due(&self) -> bool {
        let Some(r) = &self.round else { return false };
        if r.stop.is_some() || !r.listed || !self.meta.outbox.is_empty() {
            return false;
        }
        let own = r.snaps.get(&self.meta.device);
        let newest = own.and_then(|s| s.last().copied()).unwrap_or(0);
        let n = self.meta.next_seq;
        n > newest && n - newest >= self.cfg.compact_every.max(1)
            || own.is_some_and(|s| s.len() > 1)
    }

    /// Whether this device must announce itself before uploading its outbox (see `retire`).
    pub(super) fn must_announce(&self) -> bool {
        let Some(r) = &self.round else { return false };
        if r.announced.is_some_and(|u| u >= self.meta.next_seq) || r.compaction.is_some() {
            return false;
        }
        let first = self
            .meta
            .outbox
            .first()
            .map_or(self.meta.next_seq, |s| s.seq);
        let published = if self.meta.published_ms > 0 {
            Some(self.meta.published_ms)
        } else if first == 0 {
            // Nothing confirmed yet: readers can have seen at most the first sealed segment
            // (uploaded, its answer lost).
            let w = self
                .meta
                .outbox
                .first()
                .map_or(0, |s| newest_wall(&s.changes));
            if w == 0 {
                return false;
            }
            Some(w)
        } else {
            None
        };
        let elsewhere = self.meta.seen.values().copied().max().unwrap_or(0);
        retire::must_announce(self.now, published, elsewhere, self.cfg.retire_after_ms)
    }

    /// Starts compacting this device's log up to its `next_seq`.
    pub(super) fn start_compaction(&mut self, announce: bool) {
        let me = self.meta.device.clone();
        let upto = self.meta.next_seq;
        let Some(r) = &mut self.round else { return };
        let listed = r.listed;
        let own = r.snaps.get(&me).cloned().unwrap_or_default();
        r.compaction = Some(Compaction {
            upto,
            announce,
            then_confirm: None,
            own,
            base: None,
            acc: Compactor::new(me, upto),
            segs_left: 0,
            parts: Vec::new(),
            puts_left: 0,
            lists_left: 0,
            to_delete: Vec::new(),
            deletes_left: 0,
        });
        if listed {
            self.next_base();
        } else {
            self.push(Job::CompactList(None));
        }
    }

    fn compaction(&mut self) -> Option<&mut Compaction> {
        self.round.as_mut()?.compaction.as_mut()
    }

    /// Reads the newest own snapshot not known to be broken, or the log from its start.
    fn next_base(&mut self) {
        let start = self.meta.log_start;
        let Some(c) = self.compaction() else { return };
        let upto = c.upto;
        let base = c.own.range(..=upto).next_back().copied();
        c.base = base;
        match base {
            Some(u) => self.push(Job::CompactGetPart(u, 0)),
            None => self.read_segments(start),
        }
    }

    /// Reads segments `from..upto` into the snapshot (those in the outbox from there).
    fn read_segments(&mut self, from: u64) {
        let outbox = self.meta.outbox.clone();
        let Some(c) = self.compaction() else { return };
        let upto = c.upto;
        if from >= upto && c.base == Some(upto) {
            // The snapshot exists and is complete: only the cleaning up is left.
            self.clean_up();
            return;
        }
        let mut jobs = Vec::new();
        for seq in from..upto {
            match outbox.iter().find(|s| s.seq == seq) {
                Some(s) => c.acc.add(&s.changes),
                None => jobs.push(Job::CompactGetSeg(seq)),
            }
        }
        c.segs_left = jobs.len();
        if jobs.is_empty() {
            self.build();
        }
        for j in jobs {
            self.push(j);
        }
    }

    fn build(&mut self) {
        let Some(c) = self.compaction() else { return };
        c.parts = c.acc.parts();
        // What was read is in the parts now.
        c.acc.clear();
        c.puts_left = c.parts.len();
        let (upto, n) = (c.upto, c.parts.len() as u32);
        for k in 0..n {
            self.push(Job::PutSnapPart(upto, k));
        }
    }

    /// Every part is in the cloud: delete what the snapshot covers. The listings come first, all
    /// pages, so that deleting does not shift the pages still to be read.
    fn clean_up(&mut self) {
        let layout = self.cfg.layout.clone();
        let me = self.meta.device.clone();
        let Some(c) = self.compaction() else { return };
        let mut folders = vec![layout.device_log(&me)];
        folders.extend(
            c.own
                .range(..c.upto)
                .map(|u| layout.snapshot_folder(&me, *u)),
        );
        // Folders seen broken are old too.
        c.lists_left = folders.len();
        for f in folders {
            self.push(Job::CleanList(f, None));
        }
    }

    fn listed_for_cleaning(&mut self, folder: String, names: Vec<String>, next: Option<String>) {
        let layout = self.cfg.layout.clone();
        let me = self.meta.device.clone();
        let in_outbox: BTreeSet<u64> = self.meta.outbox.iter().map(|s| s.seq).collect();
        let Some(c) = self.compaction() else { return };
        let upto = c.upto;
        if folder == layout.device_log(&me) {
            for seq in names.iter().filter_map(|n| Layout::name_number(n)) {
                if seq < upto && !in_outbox.contains(&seq) {
                    c.to_delete.push(layout.segment_key(&me, seq));
                }
            }
        } else if let Some((_, u)) = layout.snapshot_of(&folder) {
            for part in names.iter().filter_map(|n| Layout::name_number(n)) {
                c.to_delete.push(layout.snapshot_key(&me, u, part));
            }
        }
        if let Some(t) = next {
            self.push(Job::CleanList(folder, Some(t)));
            return;
        }
        let Some(c) = self.compaction() else { return };
        c.lists_left = c.lists_left.saturating_sub(1);
        if c.lists_left == 0 {
            let keys = std::mem::take(&mut c.to_delete);
            c.deletes_left = keys.len();
            if keys.is_empty() {
                self.compaction_done();
            }
            for k in keys {
                self.push(Job::CleanDelete(k));
            }
        }
    }

    fn compaction_done(&mut self) {
        let Some(r) = &mut self.round else { return };
        let Some(c) = r.compaction.take() else { return };
        match c.then_confirm {
            Some(seq) => self.push(Job::Confirm(seq)),
            None if c.announce => self.flush_next(),
            None => {}
        }
    }

    /// Segment `seq` is in the cloud. It is confirmed at once, unless the announcement it needed
    /// was decided too long ago: an upload handed out before a long pause (a frozen tab, a
    /// sleeping laptop) may land after readers retired this log. Then the announcement is made
    /// now, before the confirmation: until it is in the cloud the segment stays in the outbox, and
    /// the next round announces before uploading it again.
    pub(super) fn segment_landed(&mut self, seq: u64) {
        if !self.must_announce() {
            self.push(Job::Confirm(seq));
            return;
        }
        let upto = self.meta.next_seq;
        if let Some(r) = &mut self.round {
            r.announced = Some(upto);
        }
        self.start_compaction(true);
        if let Some(c) = self.compaction() {
            c.then_confirm = Some(seq);
        }
    }

    /// The compaction cannot go on this round: nothing it wrote is relied on, nothing is deleted.
    /// An announcement that failed holds the uploads back (readers may have retired this log).
    fn abort_compaction(&mut self, why: String) {
        let Some(r) = &mut self.round else { return };
        let Some(c) = r.compaction.take() else { return };
        if c.announce {
            r.requests_failed = true;
            self.stop(RoundOutcome::Incomplete {
                error: SyncError {
                    kind: SyncErrorKind::Remote,
                    code: ErrorCode::Remote,
                    status: None,
                    message: format!("this device's log could not be compacted: {why}"),
                },
                retry_at: 0,
            });
        }
    }

    /// Reads another device's snapshot beyond `seq` (older than `below` if given) from part 0;
    /// whether there is one.
    pub(super) fn read_snapshot(&mut self, device: DeviceId, seq: u64, below: Option<u64>) -> bool {
        let Some(r) = &mut self.round else {
            return false;
        };
        let Some(snaps) = r.snaps.get(&device) else {
            return false;
        };
        let below = below.or_else(|| r.reading_snap.get(&device).copied());
        let pick = snaps
            .iter()
            .rev()
            .find(|u| **u > seq && below.map_or(true, |b| **u < b))
            .copied();
        if let Some(u) = pick {
            r.reading_snap.insert(device.clone(), u);
            self.push(Job::GetSnapPart(device, u, 0, None));
        }
        pick.is_some()
    }

    /// Nothing after `seq` in `device`'s log and no snapshot to read: retire the log if its
    /// newest stamp is old enough (see `retire`).
    pub(super) fn log_ended(&mut self, device: DeviceId, seq: u64) {
        let Some(r) = &self.round else { return };
        let beyond = r
            .snaps
            .get(&device)
            .is_some_and(|s| s.last().is_some_and(|u| *u > seq));
        let newest = self.meta.seen.get(&device).copied();
        if beyond
            || self.meta.retired.get(&device) == Some(&seq)
            || self.meta.checkpoints.get(&device).copied().unwrap_or(0) != seq
            || !retire::may_retire(self.now, newest, self.cfg.retire_after_ms)
        {
            return;
        }
        self.push(Job::Retire(device, seq));
    }

    pub(super) fn compact_op(&self, job: &Job) -> Op {
        let layout = &self.cfg.layout;
        let me = &self.meta.device;
        match job {
            Job::GetSnapPart(d, u, k, _) => Op::Get {
                key: layout.snapshot_key(d, *u, u64::from(*k)),
            },
            Job::ApplySnap(seg, u, last) => Op::Commit(Commit::apply_snapshot(
                self.meta.clone(),
                seg.clone(),
                self.cfg.merge,
                last.then_some(*u),
                self.now,
            )),
            Job::CompactList(token) => Op::List {
                folder: layout.log_folder(),
                page_token: token.clone(),
            },
            Job::CompactGetPart(u, k) => Op::Get {
                key: layout.snapshot_key(me, *u, u64::from(*k)),
            },
            Job::CompactGetSeg(seq) => Op::Get {
                key: layout.segment_key(me, *seq),
            },
            Job::PutSnapPart(u, k) => {
                let body = self
                    .round
                    .as_ref()
                    .and_then(|r| r.compaction.as_ref())
                    .and_then(|c| c.parts.get(*k as usize))
                    .map(SnapshotPart::encode)
                    .unwrap_or_default();
                Op::Put {
                    key: layout.snapshot_key(me, *u, u64::from(*k)),
                    body: super::Body::Json(body),
                    content_type: "application/json".into(),
                }
            }
            Job::HeadSnapPart(u, k, _) => Op::Head {
                key: layout.snapshot_key(me, *u, u64::from(*k)),
            },
            Job::CleanList(folder, token) => Op::List {
                folder: folder.clone(),
                page_token: token.clone(),
            },
            Job::CleanDelete(key) => Op::Delete { key: key.clone() },
            Job::Retire(d, cp) => Op::Commit(Commit::retired(self.meta.clone(), d.clone(), *cp)),
            // Every other job has its op in `op_for`.
            _ => Op::ScanWork,
        }
    }

    pub(super) fn handle_snapshot(&mut self, job: Job, outcome: Outcome, attempts: u32) {
        let me = self.meta.device.clone();
        match (job, outcome) {
            (Job::GetSnapPart(d, u, k, expected), Outcome::Got(bytes)) => {
                let p = match SnapshotPart::decode(&bytes, &d, u, k) {
                    Ok(p) if expected.map_or(true, |n| n == p.parts) => p,
                    Ok(p) => {
                        let why = format!(
                            "snapshot part {k} says {} parts, part 0 said {expected:?}",
                            p.parts
                        );
                        self.unreadable(d, u, why);
                        return;
                    }
                    Err(e) => {
                        self.unreadable(d, u, format!("snapshot part {k}: {e}"));
                        return;
                    }
                };
                let last_part = k + 1 == p.parts;
                let chunks: Vec<Vec<_>> = if p.changes.is_empty() {
                    vec![Vec::new()]
                } else {
                    p.changes
                        .chunks(COMMIT_CHANGES)
                        .map(<[_]>::to_vec)
                        .collect()
                };
                let n = chunks.len();
                for (i, chunk) in chunks.into_iter().enumerate() {
                    let seg = Segment::new(d.clone(), u, chunk);
                    self.push(Job::ApplySnap(seg, u, last_part && i + 1 == n));
                }
                if !last_part {
                    self.push(Job::GetSnapPart(d, u, k + 1, Some(p.parts)));
                }
            }
            (Job::GetSnapPart(d, u, _, _), Outcome::NotFound) => {
                // Being written, or deleted for a newer one: an older one may still be whole.
                let cp = self.meta.checkpoints.get(&d).copied().unwrap_or(0);
                self.read_snapshot(d, cp, Some(u));
            }
            (
                Job::ApplySnap(seg, u, last),
                Outcome::Committed(CommitOutcome::Applied {
                    meta,
                    changed,
                    conflicts,
                    changes,
                }),
            ) => {
                self.applied(meta, changed, conflicts, changes);
                if last {
                    self.push(Job::GetSegment(seg.device, u));
                }
            }
            (
                Job::CompactList(_),
                Outcome::Listed {
                    folders,
                    next_page_token,
                    ..
                },
            ) => {
                let layout = self.cfg.layout.clone();
                let Some(c) = self.compaction() else { return };
                for (d, u) in folders.iter().filter_map(|f| layout.snapshot_of(f)) {
                    if d == me {
                        c.own.insert(u);
                    }
                }
                match next_page_token {
                    Some(t) => self.push(Job::CompactList(Some(t))),
                    None => self.next_base(),
                }
            }
            (Job::CompactGetPart(u, k), Outcome::Got(bytes)) => {
                let Some(c) = self.compaction() else { return };
                match SnapshotPart::decode(&bytes, &me, u, k) {
                    Ok(p) => {
                        c.acc.add(&p.changes);
                        if k + 1 < p.parts {
                            self.push(Job::CompactGetPart(u, k + 1));
                        } else {
                            self.read_segments(u);
                        }
                    }
                    Err(_) => {
                        // Broken: the next older one (or the segments) is the base. What was
                        // added from it is this device's own log all the same.
                        c.own.remove(&u);
                        self.next_base();
                    }
                }
            }
            (Job::CompactGetPart(u, _), Outcome::NotFound) => {
                // Cut short by a crash: skipped, and deleted once a newer one is whole.
                let Some(c) = self.compaction() else { return };
                c.own.remove(&u);
                self.next_base();
            }
            (Job::CompactGetSeg(seq), Outcome::Got(bytes)) => {
                let Some(c) = self.compaction() else { return };
                match Segment::decode(&bytes, &me, seq) {
                    Ok(s) => {
                        c.acc.add(&s.changes);
                        c.segs_left = c.segs_left.saturating_sub(1);
                        if c.segs_left == 0 {
                            self.build();
                        }
                    }
                    Err(e) => self.abort_compaction(format!("segment {seq}: {e}")),
                }
            }
            (Job::CompactGetSeg(seq), Outcome::NotFound) => {
                self.abort_compaction(format!("segment {seq} is missing"));
            }
            (Job::PutSnapPart(..), Outcome::Done) => self.part_written(),
            (Job::HeadSnapPart(u, k, _), Outcome::Exists { size }) => {
                let expected = self
                    .compaction()
                    .and_then(|c| c.parts.get(k as usize))
                    .map(|p| p.encode().len() as u64);
                if expected == Some(size) {
                    self.part_written();
                } else {
                    self.abort_compaction(format!(
                        "snapshot {u} part {k} holds {size} bytes, not the {expected:?} built"
                    ));
                }
            }
            (Job::HeadSnapPart(u, k, refusal), Outcome::NotFound) => match refusal {
                Some(f) => self.abort_compaction(format!("snapshot part refused: {}", f.message)),
                None => self.push_front(Task {
                    job: Job::PutSnapPart(u, k),
                    attempts,
                    not_before: 0,
                }),
            },
            (
                Job::CleanList(folder, _),
                Outcome::Listed {
                    names,
                    next_page_token,
                    ..
                },
            ) => {
                self.listed_for_cleaning(folder, names, next_page_token);
            }
            (Job::CleanDelete(_), Outcome::Done | Outcome::NotFound) => self.deleted_one(),
            (Job::Retire(..), Outcome::Committed(CommitOutcome::Done { meta })) => {
                if let Some(m) = meta {
                    self.meta = m;
                }
            }
            (job, _) => {
                let message = "the driver answered a job with an outcome it cannot take".to_owned();
                self.snapshot_failed(job, Failure::local(ErrorCode::Internal, message));
            }
        }
    }

    fn part_written(&mut self) {
        let Some(c) = self.compaction() else { return };
        c.puts_left = c.puts_left.saturating_sub(1);
        if c.puts_left == 0 {
            self.clean_up();
        }
    }

    fn deleted_one(&mut self) {
        let Some(c) = self.compaction() else { return };
        c.deletes_left = c.deletes_left.saturating_sub(1);
        if c.deletes_left == 0 {
            self.compaction_done();
        }
    }

    /// A snapshot job failed for good (retries and token refreshes are handled before).
    pub(super) fn snapshot_failed(&mut self, job: Job, f: Failure) {
        match job {
            Job::GetSnapPart(d, u, k, _) => {
                let reason = match f.status {
                    Some(s) => format!("snapshot part {k}: {} (HTTP status {s})", f.message),
                    None => format!("snapshot part {k}: {}", f.message),
                };
                self.unreadable(d, u, reason);
            }
            Job::ApplySnap(..) | Job::Retire(..) => self.stop(RoundOutcome::Stopped {
                error: SyncError::from_failure(SyncErrorKind::Local, &f),
            }),
            // Not deleting costs storage only; the next compaction tries again.
            Job::CleanList(..) => self.listed_for_cleaning(String::new(), Vec::new(), None),
            Job::CleanDelete(_) => self.deleted_one(),
            _ => self.abort_compaction(f.message),
        }
    }
}
