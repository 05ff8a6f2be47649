//! The steps of a round, in order (flush, list, pull, scan, transfer, seal, final flush,
//! compact): what each queues when it starts, and when the round moves on or ends.

use super::*;

impl Engine {
    pub(super) fn begin(&mut self) {
        self.round = Some(Round {
            step: Step::Flush,
            queue: VecDeque::new(),
            local: VecDeque::new(),
            in_flight: BTreeMap::new(),
            parked: Vec::new(),
            token: Token::Fresh,
            stop: None,
            report: Report::default(),
            devices: BTreeSet::new(),
            planned: Vec::new(),
            seal_ids: Vec::new(),
            trash_done: Vec::new(),
            transfers: (0, 0),
            confirming: Vec::new(),
            confirming_since: 0,
            passes: 0,
            repull: false,
            retry_after: None,
            requests_failed: false,
            listed: false,
            snaps: BTreeMap::new(),
            reading_snap: BTreeMap::new(),
            compaction: None,
            announced: None,
        });
        self.retry_at = None;
        self.events.push_back(Event::Started);
        self.enter(if self.direction.pushes() {
            Step::Flush
        } else {
            Step::List
        });
        self.advance();
    }

    pub(super) fn push(&mut self, job: Job) {
        if let Some(r) = &mut self.round {
            if job.is_local() {
                r.local.push_back(Task::new(job));
            } else {
                r.queue.push_back(Task::new(job));
            }
        }
    }

    pub(super) fn progress(&mut self, stage: Stage, done: u64, total: u64) {
        self.events
            .push_back(Event::Progress(Progress { stage, done, total }));
    }

    /// Queues the first tasks of `step`.
    pub(super) fn enter(&mut self, step: Step) {
        if step != Step::Seal {
            // Transfers are over and the round pulls again before it seals.
            self.confirm_uploads();
        }
        let Some(r) = &mut self.round else { return };
        r.step = step;
        match step {
            Step::Flush | Step::FinalFlush => {
                self.progress(Stage::Flush, 0, self.meta.outbox.len() as u64);
                self.flush_next();
            }
            Step::List => {
                r.devices.clear();
                r.snaps.clear();
                r.reading_snap.clear();
                r.listed = true;
                r.passes += 1;
                r.repull = false;
                self.progress(Stage::Pull, 0, 0);
                self.push(Job::ListLog(None));
            }
            Step::Pull => {
                let me = self.meta.device.clone();
                let meta = &self.meta;
                let starts: Vec<(DeviceId, u64)> = r
                    .devices
                    .iter()
                    .filter(|d| **d != me)
                    .map(|d| (d.clone(), meta.checkpoints.get(d).copied().unwrap_or(0)))
                    // Logs of devices gone for long are not asked: see `retire`.
                    .filter(|(d, cp)| {
                        let newest = r.snaps.get(d).and_then(|s| s.last().copied());
                        !retire::retired(meta.retired.get(d).copied(), *cp, newest)
                    })
                    .collect();
                for (d, seq) in starts {
                    self.push(Job::GetSegment(d, seq));
                }
            }
            Step::Scan => {
                r.planned.clear();
                r.seal_ids.clear();
                self.progress(Stage::Scan, 0, 1);
                self.push(Job::Scan);
            }
            Step::Transfer => {
                let jobs = std::mem::take(&mut r.planned);
                r.transfers = (0, jobs.len() as u64);
                self.progress(Stage::Transfer, 0, jobs.len() as u64);
                for j in jobs {
                    self.push(j);
                }
            }
            Step::Seal => {
                let ids = std::mem::take(&mut r.seal_ids);
                // The last uploads are confirmed by the first seal, which reads those entries
                // anyway: one local commit less at the end of every push.
                let mut uploaded = std::mem::take(&mut r.confirming);
                self.progress(Stage::Seal, 0, ids.len() as u64);
                // One segment per batch, so a commit reads at most a segment's worth of entries.
                for batch in ids.chunks(COMMIT_CHANGES) {
                    self.push(Job::Seal(batch.to_vec(), std::mem::take(&mut uploaded)));
                }
                // Nothing to seal: they get a commit of their own.
                if !uploaded.is_empty() {
                    self.push(Job::MarkUploaded(uploaded));
                }
            }
            Step::Compact => self.start_compaction(false),
        }
    }

    /// Applies a segment pulled from another device, in local commits of at most
    /// [`COMMIT_CHANGES`] (older releases wrote up to 500 changes a segment). Only the last
    /// commit moves the checkpoint; merging is idempotent, so a crash between them costs the
    /// segment's changes applied again, nothing more.
    pub(super) fn apply_segment(&mut self, mut seg: Segment) {
        let mut head = Vec::new();
        if seg.changes.len() > COMMIT_CHANGES {
            let tail = seg.changes.split_off(seg.changes.len() - COMMIT_CHANGES);
            head = std::mem::replace(&mut seg.changes, tail);
        }
        let next = seg.seq.saturating_add(1);
        for chunk in head.chunks(COMMIT_CHANGES) {
            let part = Segment::new(seg.device.clone(), seg.seq, chunk.to_vec());
            self.push(Job::ApplySnap(part, next, false));
        }
        self.push(Job::Apply(seg));
    }

    /// Starts uploading the segment a seal just made, while the next seals run, when no upload
    /// of this device's log is under way (the confirmation of one goes on to the next). A bulk
    /// push seals dozens of segments; uploaded only after the last seal, all of them would sit
    /// in the sync meta that every seal writes whole, which made the push quadratic.
    pub(super) fn flush_while_sealing(&mut self, sealed: Option<u64>) {
        let sealing = self
            .round
            .as_ref()
            .is_some_and(|r| r.step == Step::Seal && r.stop.is_none());
        let alone = matches!(self.meta.outbox.as_slice(), [only] if Some(only.seq) == sealed);
        // An announcement (a snapshot first) is left to the final flush.
        if sealing && alone && !self.must_announce() {
            if let Some(seq) = sealed {
                self.push(Job::PutSegment(seq));
            }
        }
    }

    /// The next flush task: the oldest unconfirmed segment, else the trash.
    pub(super) fn flush_next(&mut self) {
        if let Some(seg) = self.meta.outbox.first() {
            let seq = seg.seq;
            if self.must_announce() {
                // Readers may have retired this log: a snapshot beyond their checkpoints, in the
                // listing they make anyway, comes before the segments they would miss.
                let upto = self.meta.next_seq;
                if let Some(r) = &mut self.round {
                    r.announced = Some(upto);
                }
                self.start_compaction(true);
                return;
            }
            self.push(Job::PutSegment(seq));
        } else if !self.meta.trash.is_empty() {
            let keys = self.meta.trash.clone();
            if let Some(r) = &mut self.round {
                r.trash_done.clear();
            }
            for k in keys {
                self.push(Job::DeleteTrash(k));
            }
        }
    }

    /// Moves to the next step whenever the current one has nothing queued, parked or in flight.
    pub(super) fn advance(&mut self) {
        loop {
            let Some(r) = &self.round else { return };
            if r.stop.is_some()
                || !r.queue.is_empty()
                || !r.local.is_empty()
                || !r.in_flight.is_empty()
                || !r.parked.is_empty()
            {
                return;
            }
            let (pulls, pushes) = (self.direction.pulls(), self.direction.pushes());
            let next = match r.step {
                Step::Flush if pulls => Some(Step::List),
                Step::Flush => Some(Step::Scan),
                Step::List => Some(Step::Pull),
                Step::Pull => Some(Step::Scan),
                Step::Scan => Some(Step::Transfer),
                Step::Transfer if r.repull && r.passes < 3 => Some(Step::List),
                Step::Transfer if pushes => Some(Step::Seal),
                Step::Seal => Some(Step::FinalFlush),
                Step::FinalFlush if self.compaction_due() => Some(Step::Compact),
                Step::Transfer | Step::FinalFlush | Step::Compact => None,
            };
            let Some(next) = next else {
                if let Some(r) = &mut self.round {
                    // A log that could not be read is retried by a later round.
                    r.stop = Some(match r.report.unreadable.first() {
                        None => RoundOutcome::Complete,
                        Some(u) => RoundOutcome::Incomplete {
                            error: SyncError {
                                kind: SyncErrorKind::Remote,
                                code: ErrorCode::Remote,
                                status: None,
                                message: format!(
                                    "{} log segment(s) of other devices could not be read, the first {}/{}: {}",
                                    r.report.unreadable.len(),
                                    u.device,
                                    u.seq,
                                    u.reason
                                ),
                            },
                            retry_at: 0,
                        },
                    });
                }
                return;
            };
            self.enter(next);
        }
    }

    pub(super) fn maybe_finish(&mut self) {
        let done = matches!(&self.round, Some(r) if r.stop.is_some() && r.in_flight.is_empty());
        if !done {
            return;
        }
        let Some(r) = self.round.take() else { return };
        let mut report = r.report;
        let mut outcome = r.stop.unwrap_or(RoundOutcome::Complete);
        match &mut outcome {
            RoundOutcome::Incomplete { retry_at, .. } => {
                // Exponential with jitter across incomplete rounds in a row; a server's
                // Retry-After is honoured up to a cap, so a bogus one cannot park sync for days.
                let jitter = self.random();
                let delay = self
                    .cfg
                    .round_backoff
                    .delay_ms(self.failed_rounds, jitter)
                    .max(r.retry_after.unwrap_or(0).min(self.cfg.max_retry_after_ms));
                self.failed_rounds = self.failed_rounds.saturating_add(1);
                *retry_at = self.now.saturating_add(delay);
                self.retry_at = Some(*retry_at);
            }
            RoundOutcome::Complete => {
                self.failed_rounds = 0;
                self.retry_at = None;
            }
            RoundOutcome::Stopped { .. } => {
                self.retry_at = None;
            }
            RoundOutcome::Cancelled => {
                self.retry_at = None;
            }
        }
        self.stopped = matches!(outcome, RoundOutcome::Stopped { .. });
        self.triggers_wait =
            matches!(outcome, RoundOutcome::Incomplete { .. }) && r.requests_failed;
        let backing_off = self.retry_at.is_some() && self.triggers_wait;
        report.outcome = outcome;
        self.events.push_back(Event::Done(report));
        if let Some(direction) = self.again.take() {
            let explicit = std::mem::take(&mut self.again_explicit);
            if explicit || (!backing_off && !self.stopped) {
                self.direction = direction;
                self.begin();
            } else if backing_off {
                // An automatic request joins the retry instead of cutting the backoff short.
                self.direction = self.direction.and(direction);
            }
        }
    }

    pub(super) fn stop(&mut self, outcome: RoundOutcome) {
        if let Some(r) = &mut self.round {
            if r.stop.is_none() {
                r.stop = Some(outcome);
            }
            r.queue.clear();
            r.local.clear();
            r.parked.clear();
        }
    }
}
