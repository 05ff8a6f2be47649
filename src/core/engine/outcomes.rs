//! What the engine does with each answer the driver gives it: the next tasks, the round's report
//! and the app's events.

use super::*;

/// Finished uploads are confirmed locally once this many wait, or once the first of them has
/// waited this long (ms): a crash loses at most that much uploading, which is done again.
const CONFIRM_BATCH: usize = COMMIT_CHANGES;
const CONFIRM_AFTER_MS: u64 = 2_000;

impl Engine {
    pub(super) fn handle(&mut self, task: Task, outcome: Outcome) {
        if let Outcome::Failed(f) = outcome {
            self.failed(task, f);
            return;
        }
        let attempts = task.attempts;
        match (task.job, outcome) {
            (Job::PutSegment(seq), Outcome::Done) => self.segment_landed(seq),
            (Job::HeadSegment(seq, _), Outcome::Exists { size }) => {
                let expected = self.segment_len(seq);
                if Some(size) == expected {
                    // The earlier put landed.
                    self.segment_landed(seq);
                } else {
                    let key = self.cfg.layout.segment_key(&self.meta.device, seq);
                    self.stop(RoundOutcome::Stopped {
                        error: SyncError {
                            kind: SyncErrorKind::Remote,
                            code: ErrorCode::Conflict,
                            status: None,
                            message: format!(
                                "this device's log segment {key} holds {size} bytes, not the {} sealed: the log in the cloud is corrupt",
                                expected.unwrap_or(0)
                            ),
                        },
                    });
                }
            }
            (Job::HeadSegment(seq, refusal), Outcome::NotFound) => match refusal {
                // Not there: the refusal was meant, not an overwrite refused.
                Some(f) => self.permanent(Task::new(Job::PutSegment(seq)), f),
                None => self.push_front(Task {
                    job: Job::PutSegment(seq),
                    attempts,
                    not_before: 0,
                }),
            },
            (Job::HeadBlob(id, hash, _, expected, _), Outcome::Exists { size }) => {
                if size == expected {
                    self.upload_done(id, hash);
                } else {
                    let message = format!(
                        "the cloud holds {size} bytes under this take's key, not its {expected}: it cannot be overwritten"
                    );
                    let f = Failure::new(ErrorClass::Permanent, ErrorCode::Conflict, None, message);
                    self.fail_recording(id, f, true);
                }
            }
            (Job::HeadBlob(id, hash, mime, size, refusal), Outcome::NotFound) => match refusal {
                Some(f) => self.permanent(Task::new(Job::Upload(id, hash, mime, size)), f),
                None => self.push_front(Task {
                    job: Job::Upload(id, hash, mime, size),
                    attempts,
                    not_before: 0,
                }),
            },
            (Job::Confirm(seq), Outcome::Committed(CommitOutcome::Done { meta })) => {
                if let Some(m) = meta {
                    self.meta = m;
                }
                let pushed = self
                    .round
                    .as_ref()
                    .map(|r| r.report.segments_pushed)
                    .unwrap_or(0);
                if let Some(r) = &mut self.round {
                    r.report.segments_pushed += 1;
                }
                let _ = seq;
                self.progress(
                    Stage::Flush,
                    pushed + 1,
                    pushed + 1 + self.meta.outbox.len() as u64,
                );
                self.flush_next();
            }
            (Job::DeleteTrash(key), Outcome::Done | Outcome::NotFound) => {
                self.trash_deleted(key, true);
            }
            (Job::TrashDone(_), Outcome::Committed(CommitOutcome::Done { meta })) => {
                if let Some(m) = meta {
                    self.meta = m;
                }
            }
            (
                Job::ListLog(_),
                Outcome::Listed {
                    folders,
                    next_page_token,
                    ..
                },
            ) => {
                let layout = self.cfg.layout.clone();
                if let Some(r) = &mut self.round {
                    r.devices
                        .extend(folders.iter().filter_map(|f| layout.device_folder(f)));
                    // A device whose segments are all compacted away has only snapshot folders.
                    for (d, upto) in folders.iter().filter_map(|f| layout.snapshot_of(f)) {
                        r.devices.insert(d.clone());
                        r.snaps.entry(d).or_default().insert(upto);
                    }
                }
                if let Some(t) = next_page_token {
                    self.push(Job::ListLog(Some(t)));
                }
            }
            (Job::GetSegment(device, seq), Outcome::Got(bytes)) => {
                match Segment::decode(&bytes, &device, seq) {
                    Ok(seg) => self.apply_segment(seg),
                    Err(e) => self.unreadable(device, seq, e.to_string()),
                }
            }
            (Job::GetSegment(device, seq), Outcome::NotFound) => {
                // Nothing new, or compacted away: a snapshot beyond `seq` has it.
                if !self.read_snapshot(device.clone(), seq, None) {
                    self.log_ended(device, seq);
                }
            }
            (
                Job::Apply(seg),
                Outcome::Committed(CommitOutcome::Applied {
                    meta,
                    changed,
                    conflicts,
                    changes,
                }),
            ) => {
                if let Some(r) = &mut self.round {
                    r.report.segments_pulled += 1;
                }
                self.applied(meta, changed, conflicts, changes);
                self.push(Job::GetSegment(seg.device, seg.seq.saturating_add(1)));
            }
            (Job::Scan, Outcome::Scanned(entries)) => self.plan(entries),
            (Job::Download(..), Outcome::Done) => {
                if let Some(r) = &mut self.round {
                    r.report.blobs_downloaded += 1;
                }
                self.transfer_done();
            }
            (Job::Download(..), Outcome::NotFound) => {
                // The blob was deleted: the audio was replaced or the recording deleted since
                // this device pulled. Pull again to learn which.
                if let Some(r) = &mut self.round {
                    r.repull = true;
                }
                self.transfer_done();
            }
            (Job::Upload(id, hash, ..), Outcome::Done) => self.upload_done(id, hash),
            (Job::Upload(..), Outcome::NotFound) => self.transfer_done(),
            (Job::MarkUploaded(..) | Job::MarkFailed(..), Outcome::Committed(_)) => {}
            (
                Job::Seal(ids, _),
                Outcome::Committed(CommitOutcome::Sealed {
                    meta,
                    seq,
                    changes,
                    more,
                    failed,
                }),
            ) => {
                self.meta = meta;
                for (id, message) in failed {
                    // Marked failed by the seal itself: only reported here.
                    let f = Failure::local(ErrorCode::InvalidArgument, message);
                    self.report_failure(id, f);
                }
                if let Some(r) = &mut self.round {
                    r.report.changes_pushed += changes as u64;
                }
                self.progress(Stage::Seal, changes as u64, changes as u64);
                if more && seq.is_some() {
                    self.push(Job::Seal(ids, Vec::new()));
                }
                self.flush_while_sealing(seq);
            }
            (Job::RefreshToken, Outcome::Done) => {
                if let Some(r) = &mut self.round {
                    r.token = Token::Refreshed;
                    let parked = std::mem::take(&mut r.parked);
                    for t in parked.into_iter().rev() {
                        r.queue.push_front(t);
                    }
                }
            }
            (job, outcome) if job.is_snapshot_job() => self.handle_snapshot(job, outcome, attempts),
            (job, _) => {
                let message = "the driver answered a job with an outcome it cannot take".to_owned();
                self.failed(
                    Task {
                        job,
                        attempts,
                        not_before: 0,
                    },
                    Failure::local(ErrorCode::Internal, message),
                );
            }
        }
    }

    /// What an applied commit of pulled changes (a segment's or a snapshot's) tells: the new
    /// state, the report's counts and the app's events.
    pub(super) fn applied(
        &mut self,
        meta: SyncMeta,
        changed: Vec<RecordingId>,
        conflicts: Vec<crate::core::merge::Conflict>,
        changes: usize,
    ) {
        self.meta = meta;
        if let Some(r) = &mut self.round {
            r.report.changes_pulled += changes as u64;
            r.report.conflicts += conflicts.len() as u64;
        }
        if !changed.is_empty() {
            self.events.push_back(Event::Changed(changed));
        }
        for c in conflicts {
            self.events.push_back(Event::Conflict(c));
        }
    }

    pub(super) fn transfer_done(&mut self) {
        let Some(r) = &mut self.round else { return };
        r.transfers.0 += 1;
        let (done, total) = r.transfers;
        // Finished uploads are confirmed in batches: one local commit per upload paced the
        // uploads by commits (each slower with every Blob the database holds). A batch lost to a
        // crash only means its audio is uploaded again, to the same content-addressed keys. The
        // last batch goes with the seal (`enter`).
        let waited = self.now.saturating_sub(r.confirming_since);
        if r.confirming.len() >= CONFIRM_BATCH || waited >= CONFIRM_AFTER_MS {
            self.confirm_uploads();
        }
        self.progress(Stage::Transfer, done, total);
    }

    /// Queues the commit recording the finished uploads not recorded yet, if there are any.
    pub(super) fn confirm_uploads(&mut self) {
        let Some(r) = &mut self.round else { return };
        if !r.confirming.is_empty() {
            let items = std::mem::take(&mut r.confirming);
            self.push(Job::MarkUploaded(items));
        }
    }

    pub(super) fn trash_deleted(&mut self, key: String, deleted: bool) {
        let Some(r) = &mut self.round else { return };
        if deleted {
            r.report.blobs_deleted += 1;
        }
        r.trash_done.push(key);
        let pending = r
            .queue
            .iter()
            .chain(r.in_flight.values())
            .chain(r.parked.iter())
            .any(|t| matches!(t.job, Job::DeleteTrash(_)));
        if !pending {
            let keys = std::mem::take(&mut r.trash_done);
            self.push(Job::TrashDone(keys));
        }
    }

    /// Plans the transfer and seal steps from the entries with work.
    pub(super) fn plan(&mut self, entries: Vec<LocalEntry>) {
        let Some(r) = &mut self.round else { return };
        // A push leaves downloads to the next pull; a pull leaves uploads and sealing to the
        // next push.
        let (pulls, pushes) = (self.direction.pulls(), self.direction.pushes());
        for e in entries {
            if let Some(a) = e.wants_download().filter(|_| pulls) {
                r.planned.push(Job::Download(e.id.clone(), a.hash.clone()));
            }
            if let Some(a) = e.needs_upload().filter(|_| pushes) {
                r.planned.push(Job::Upload(
                    e.id.clone(),
                    a.hash.clone(),
                    a.mime_type.clone(),
                    a.size,
                ));
            }
            if pushes && e.needs_push() {
                r.seal_ids.push(e.id.clone());
            }
        }
        self.progress(Stage::Scan, 1, 1);
    }

    /// The encoded length of outbox segment `seq`, if it is in the outbox.
    pub(super) fn segment_len(&self, seq: u64) -> Option<u64> {
        self.meta
            .outbox
            .iter()
            .find(|s| s.seq == seq)
            .map(|s| s.encode().len() as u64)
    }

    pub(super) fn upload_done(&mut self, id: RecordingId, hash: ContentHash) {
        if let Some(r) = &mut self.round {
            r.report.blobs_uploaded += 1;
            if r.confirming.is_empty() {
                r.confirming_since = self.now;
            }
            r.confirming.push((id, hash));
        }
        self.transfer_done();
    }

    /// Recording `id` failed this round: reported; with `mark`, marked failed in the store (an
    /// upload the cloud refused for good waits for the app).
    pub(super) fn fail_recording(&mut self, id: RecordingId, f: Failure, mark: bool) {
        if mark {
            self.push(Job::MarkFailed(id.clone(), f.message.clone()));
        }
        self.report_failure(id, f);
        self.transfer_done();
    }

    pub(super) fn report_failure(&mut self, id: RecordingId, f: Failure) {
        if let Some(r) = &mut self.round {
            if !r.report.failed.iter().any(|x| x.id == id) {
                r.report.failed.push(RecordingFailure {
                    id: id.clone(),
                    code: f.code,
                    status: f.status,
                    message: f.message.clone(),
                });
            }
        }
        self.events.push_back(Event::RecordingFailed {
            recording: id,
            failure: f,
        });
    }

    /// Segment `seq` of `device`'s log cannot be read: that log waits here (no later segment is
    /// asked for, the checkpoint stays), the other logs go on, and the round ends incomplete.
    pub(super) fn unreadable(&mut self, device: DeviceId, seq: u64, reason: String) {
        let u = UnreadableSegment {
            device,
            seq,
            reason,
        };
        if let Some(r) = &mut self.round {
            // A later pull pass of the same round meets it again.
            if r.report
                .unreadable
                .iter()
                .any(|x| x.device == u.device && x.seq == u.seq)
            {
                return;
            }
            r.report.unreadable.push(u.clone());
        }
        self.events.push_back(Event::LogUnreadable(u));
    }
}
