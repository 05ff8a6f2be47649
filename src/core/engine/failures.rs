//! Failed tasks: retried with backoff, after a token refresh, after checking whether a write
//! whose answer was lost landed, or given up (the recording, the log, or the round).

use super::*;

impl Engine {
    pub(super) fn failed(&mut self, mut task: Task, f: Failure) {
        let now = self.now;
        if matches!(task.job, Job::RefreshToken) && f.class != ErrorClass::Retryable {
            // The app could not give a fresh token: waiting on it would hang the round.
            self.permanent(task, f);
            return;
        }
        match f.class {
            ErrorClass::Retryable if !task.job.is_local() => {
                task.attempts += 1;
                let retry_after = f.retry_after_ms;
                // A server asking for a longer pause than a request's backoff gets it between
                // rounds (capped there), not with a round held open.
                let long_pause = retry_after.is_some_and(|ms| ms > self.cfg.backoff.max_ms);
                if task.attempts >= self.cfg.max_attempts.max(1) || long_pause {
                    let kind = if f.code == ErrorCode::Network {
                        SyncErrorKind::Network
                    } else {
                        SyncErrorKind::Remote
                    };
                    if let Some(r) = &mut self.round {
                        r.retry_after = retry_after;
                        r.requests_failed = true;
                    }
                    self.stop(RoundOutcome::Incomplete {
                        error: SyncError::from_failure(kind, &f),
                        retry_at: 0,
                    });
                    return;
                }
                let jitter = self.random();
                let delay = self
                    .cfg
                    .backoff
                    .delay_ms(task.attempts - 1, jitter)
                    .max(retry_after.unwrap_or(0));
                task.not_before = now.saturating_add(delay);
                if f.status.is_none() {
                    // No answer: the write may have landed. Every key is written once, so ask
                    // before sending it again.
                    task.job = task.job.check_first(None);
                }
                if let Some(r) = &mut self.round {
                    r.queue.push_back(task);
                }
            }
            ErrorClass::NeedsNewToken if !task.job.is_local() => {
                let Some(r) = &mut self.round else { return };
                match r.token {
                    Token::Fresh => {
                        r.token = Token::Refreshing;
                        r.parked.push(task);
                        r.queue.push_front(Task::new(Job::RefreshToken));
                    }
                    Token::Refreshing => r.parked.push(task),
                    Token::Refreshed => self.stop(RoundOutcome::Stopped {
                        error: SyncError::from_failure(SyncErrorKind::Unauthorized, &f),
                    }),
                }
            }
            _ if f.may_mean_exists()
                && matches!(
                    task.job,
                    Job::PutSegment(_) | Job::Upload(..) | Job::PutSnapPart(..)
                ) =>
            {
                // A create-only store refuses to overwrite: the object may be there from an
                // attempt whose answer was lost (or from before a crash). Ask before concluding.
                task.job = task.job.check_first(Some(f));
                task.not_before = 0;
                self.push_front(task);
            }
            _ => self.permanent(task, f),
        }
    }

    pub(super) fn permanent(&mut self, task: Task, f: Failure) {
        match task.job {
            Job::Upload(id, ..) | Job::HeadBlob(id, ..) => self.fail_recording(id, f, true),
            // Not this recording's fault on this device: reported, retried next round.
            Job::Download(id, _) => self.fail_recording(id, f, false),
            Job::DeleteTrash(key) => {
                // A blob we may not delete stays; it only costs storage. Not worth a stuck sync.
                self.trash_deleted(key, false);
            }
            Job::GetSegment(device, seq) => {
                let reason = match f.status {
                    Some(s) => format!("{} (HTTP status {s})", f.message),
                    None => f.message,
                };
                self.unreadable(device, seq, reason);
            }
            Job::RefreshToken => self.stop(RoundOutcome::Stopped {
                error: SyncError::from_failure(SyncErrorKind::Unauthorized, &f),
            }),
            job if job.is_snapshot_job() => self.snapshot_failed(job, f),
            job => {
                // The listing or this device's own log: the folder as a whole.
                let kind = if job.is_local() {
                    SyncErrorKind::Local
                } else if f.status == Some(403) || f.code == ErrorCode::Forbidden {
                    SyncErrorKind::Forbidden
                } else if f.code == ErrorCode::Unauthorized {
                    SyncErrorKind::Unauthorized
                } else {
                    SyncErrorKind::Remote
                };
                self.stop(RoundOutcome::Stopped {
                    error: SyncError::from_failure(kind, &f),
                });
            }
        }
    }

    pub(super) fn push_front(&mut self, task: Task) {
        if let Some(r) = &mut self.round {
            r.queue.push_front(task);
        }
    }
}

impl Job {
    /// The metadata read to make before sending this create-only write again (`refusal`: the
    /// refusal that prompted it, if any); other jobs are sent again as they are.
    pub(super) fn check_first(self, refusal: Option<Failure>) -> Job {
        match self {
            Job::PutSegment(seq) => Job::HeadSegment(seq, refusal),
            Job::Upload(id, hash, mime, size) => Job::HeadBlob(id, hash, mime, size, refusal),
            // A head that got no answer keeps the refusal it is checking.
            Job::HeadSegment(seq, earlier) => Job::HeadSegment(seq, earlier.or(refusal)),
            Job::HeadBlob(id, hash, mime, size, earlier) => {
                Job::HeadBlob(id, hash, mime, size, earlier.or(refusal))
            }
            Job::PutSnapPart(upto, part) => Job::HeadSnapPart(upto, part, refusal),
            Job::HeadSnapPart(upto, part, earlier) => {
                Job::HeadSnapPart(upto, part, earlier.or(refusal))
            }
            job => job,
        }
    }
}
