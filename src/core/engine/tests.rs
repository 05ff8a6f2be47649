use super::*;

fn engine() -> Engine {
    Engine::new(
        EngineConfig::default(),
        SyncMeta::new(DeviceId::parse("me").unwrap()),
        1,
    )
}

/// An engine with `max_in_flight` requests at once.
fn engine_with(max_in_flight: usize) -> Engine {
    let cfg = EngineConfig {
        max_in_flight,
        ..EngineConfig::default()
    };
    Engine::new(cfg, SyncMeta::new(DeviceId::parse("me").unwrap()), 1)
}

/// The entries of `n` recordings saved here and never synced: `r0`, `r1`, ...
fn new_recordings(n: usize) -> Vec<LocalEntry> {
    use crate::core::{hlc::Clock, id::RecordingId, recording::Recording};
    let mut clock = Clock::new(DeviceId::parse("me").unwrap());
    (0..n)
        .map(|i| {
            let id = RecordingId::parse(&format!("r{i}")).unwrap();
            let mut rec = Recording::new(id, "audio/ogg".into(), 9, 5.0);
            rec.content_hash = Some(format!("{i}").repeat(64));
            LocalEntry::create(&rec, &mut clock, 5).unwrap()
        })
        .collect()
}

fn take_done(e: &mut Engine) -> Option<Report> {
    let mut out = None;
    while let Some(ev) = e.poll_event() {
        if let Event::Done(r) = ev {
            out = Some(r);
        }
    }
    out
}

#[test]
fn retries_back_off_then_give_up_and_schedule_a_round() {
    let mut e = engine();
    e.start_sync(0);
    let mut now = 0;
    let mut waits = Vec::new();
    loop {
        let Some((id, op)) = e.poll_op() else {
            let Some(t) = e.next_wakeup() else { break };
            waits.push(t - now);
            now = t;
            e.handle_timeout(now);
            continue;
        };
        assert!(matches!(op, Op::List { .. }));
        e.on_result(
            id,
            Outcome::Failed(Failure::http(503, ErrorCode::Remote, "down")),
            now,
        );
        if !e.is_syncing() {
            break;
        }
    }
    assert_eq!(waits.len(), 4, "{waits:?}");
    assert!(waits.windows(2).all(|w| w[1] >= w[0] / 2), "{waits:?}");
    let report = take_done(&mut e).unwrap();
    let RoundOutcome::Incomplete { retry_at, .. } = report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(e.next_wakeup(), Some(retry_at));
    e.handle_timeout(retry_at);
    assert!(e.is_syncing());
}

#[test]
fn a_401_refreshes_the_token_once() {
    let mut e = engine();
    e.start_sync(0);
    let (id, _) = e.poll_op().unwrap();
    e.on_result(
        id,
        Outcome::Failed(Failure::http(401, ErrorCode::Unauthorized, "expired")),
        1,
    );
    let (id, op) = e.poll_op().unwrap();
    assert_eq!(op, Op::RefreshToken);
    e.on_result(id, Outcome::Done, 2);
    let (id, op) = e.poll_op().unwrap();
    assert!(matches!(op, Op::List { .. }));
    e.on_result(
        id,
        Outcome::Failed(Failure::http(401, ErrorCode::Unauthorized, "still")),
        3,
    );
    assert!(!e.is_syncing());
    let report = take_done(&mut e).unwrap();
    assert!(matches!(
        report.outcome,
        RoundOutcome::Stopped {
            error: SyncError {
                kind: SyncErrorKind::Unauthorized,
                ..
            }
        }
    ));
    assert_eq!(
        e.next_wakeup(),
        None,
        "no retry storm after a refused token"
    );
}

#[test]
fn queued_uploads_lists_the_uploads_in_start_order() {
    let entries = new_recordings(5);
    let mut e = engine_with(2);
    e.start_sync(0);
    // Drive the round to its transfers: an empty cloud, then a scan that finds five entries.
    let mut started = Vec::new();
    while let Some((id, op)) = e.poll_op() {
        match op {
            Op::List { .. } => e.on_result(
                id,
                Outcome::Listed {
                    names: vec![],
                    folders: vec![],
                    next_page_token: None,
                },
                1,
            ),
            Op::ScanWork => e.on_result(id, Outcome::Scanned(entries.clone()), 2),
            Op::Put {
                body: Body::LocalAudio { recording, .. },
                ..
            } => started.push(recording),
            other => panic!("unexpected {other:?}"),
        }
    }
    let ids = |v: &[RecordingId]| v.iter().map(|r| r.as_str().to_owned()).collect::<Vec<_>>();
    assert_eq!(ids(&started), ["r0", "r1"], "two slots");
    let next = e.queued_uploads(2);
    let queued: Vec<RecordingId> = next.iter().map(|u| u.recording.clone()).collect();
    assert_eq!(ids(&queued), ["r2", "r3"]);
    assert_eq!(next[0].hash.as_str(), "2".repeat(64));
    assert!(
        next[0].key.ends_with(&format!("r2/{}", "2".repeat(64))),
        "{}",
        next[0].key
    );
    assert_eq!(e.queued_uploads(10).len(), 3);
}

#[test]
fn finished_uploads_are_confirmed_once_the_first_has_waited_two_seconds() {
    let entries = new_recordings(4);
    let mut e = engine_with(1);
    e.start_sync(0);
    let mut now = 0;
    let mut seen = Vec::new();
    while let Some((id, op)) = e.poll_op() {
        now += 1_000;
        let out = match &op {
            Op::List { .. } => Outcome::Listed {
                names: vec![],
                folders: vec![],
                next_page_token: None,
            },
            Op::ScanWork => Outcome::Scanned(entries.clone()),
            Op::Put {
                body: Body::LocalAudio { recording, .. },
                ..
            } => {
                seen.push(format!("upload {}", recording.as_str()));
                Outcome::Done
            }
            Op::Commit(_) if seen.len() < 5 => {
                seen.push("commit".into());
                // Not answered: whatever comes next may start beside it.
                continue;
            }
            Op::Commit(_) => break,
            other => panic!("unexpected {other:?}"),
        };
        e.on_result(id, out, now);
    }
    // One second apart: when the third upload finishes the first has waited two seconds, so
    // their confirmation is committed before the fourth upload starts (not with the seal).
    assert_eq!(
        seen[..5],
        ["upload r0", "upload r1", "upload r2", "commit", "upload r3"]
    );
}

#[test]
fn garbage_from_the_driver_never_panics() {
    let mut e = engine();
    e.start_sync(0);
    let answers = [
        Outcome::Got(b"nonsense".to_vec()),
        Outcome::Scanned(vec![]),
        Outcome::Listed {
            names: vec!["x".into()],
            folders: vec!["../..".into(), "ok".into(), "".into()],
            next_page_token: None,
        },
        Outcome::Got(b"{\"v\":1}".to_vec()),
        Outcome::Got(vec![0xff; 10]),
        Outcome::NotFound,
    ];
    let mut i = 0;
    while let Some((id, _)) = e.poll_op() {
        e.on_result(id, answers[i % answers.len()].clone(), i as u64);
        i += 1;
        if i > 50 {
            break;
        }
    }
    assert!(take_done(&mut e).is_some());
}

/// A device and a cloud as maps, and a driver loop, with a hook that may answer any op in
/// place of the cloud (to inject failures).
struct Rig {
    engine: Engine,
    entries: BTreeMap<RecordingId, LocalEntry>,
    audio: BTreeMap<RecordingId, ContentHash>,
    cloud: BTreeMap<String, Vec<u8>>,
    clock: crate::core::hlc::Clock,
    now: u64,
    ops: Vec<Op>,
}

impl Rig {
    fn new(device: &str) -> Rig {
        let id = DeviceId::parse(device).unwrap();
        Rig {
            engine: Engine::new(EngineConfig::default(), SyncMeta::new(id.clone()), 3),
            entries: BTreeMap::new(),
            audio: BTreeMap::new(),
            cloud: BTreeMap::new(),
            clock: crate::core::hlc::Clock::new(id),
            now: 1_000,
            ops: Vec::new(),
        }
    }

    /// Saves `n` recordings here (`r0`, `r1`, ...), audio of `i + 1` bytes each.
    fn save(&mut self, n: usize) {
        use crate::core::recording::Recording;
        for i in 0..n {
            let id = RecordingId::parse(&format!("r{i}")).unwrap();
            let hash = ContentHash::parse(&format!("{:x}", i % 16).repeat(64)).unwrap();
            let mut rec = Recording::new(id.clone(), "audio/ogg".into(), i as u64 + 1, 5.0);
            rec.content_hash = Some(hash.to_string());
            let e = LocalEntry::create(&rec, &mut self.clock, self.now).unwrap();
            self.entries.insert(id.clone(), e);
            self.audio.insert(id, hash);
        }
    }

    fn cloud_op(&mut self, op: &Op) -> Outcome {
        match op.clone() {
            Op::List { folder, .. } => {
                let prefix = format!("{folder}/");
                let mut folders: Vec<String> = self
                    .cloud
                    .keys()
                    .filter_map(|k| k.strip_prefix(&prefix)?.split_once('/'))
                    .map(|(dir, _)| dir.to_string())
                    .collect();
                folders.dedup();
                Outcome::Listed {
                    names: vec![],
                    folders,
                    next_page_token: None,
                }
            }
            Op::Get { key } => self
                .cloud
                .get(&key)
                .map_or(Outcome::NotFound, |b| Outcome::Got(b.clone())),
            Op::Head { key } => {
                self.cloud
                    .get(&key)
                    .map_or(Outcome::NotFound, |b| Outcome::Exists {
                        size: b.len() as u64,
                    })
            }
            Op::Put { key, body, .. } => {
                let bytes = match body {
                    Body::Json(b) => b,
                    Body::LocalAudio { recording, .. } => {
                        let size = self.entries[&recording].needs_upload().unwrap().size;
                        vec![0; size as usize]
                    }
                };
                if self.cloud.contains_key(&key) {
                    return Outcome::Failed(Failure::http(403, ErrorCode::Forbidden, "exists"));
                }
                self.cloud.insert(key, bytes);
                Outcome::Done
            }
            Op::GetBlob {
                key,
                recording,
                hash,
            } => match self.cloud.get(&key) {
                None => Outcome::NotFound,
                Some(_) => {
                    if let Some(e) = crate::core::commit::audio_arrived(
                        self.entries.get(&recording).cloned(),
                        &hash,
                    ) {
                        self.entries.insert(recording.clone(), e);
                        self.audio.insert(recording, hash);
                    }
                    Outcome::Done
                }
            },
            Op::Delete { key } => {
                self.cloud.remove(&key);
                Outcome::Done
            }
            Op::RefreshToken => Outcome::Done,
            Op::ScanWork => Outcome::Scanned(
                self.entries
                    .values()
                    .filter(|e| e.work.is_some())
                    .cloned()
                    .collect(),
            ),
            Op::Commit(c) => {
                use crate::core::commit::Ran;
                let mut read = BTreeMap::new();
                let mut ids = c.reads();
                let (w, out) = loop {
                    for id in ids {
                        read.insert(id.clone(), self.entries.get(&id).cloned());
                    }
                    match c.run(self.clock.clone(), &read) {
                        Ran::Done(w, o) => break (w, o),
                        Ran::Read(more) => ids = more,
                    }
                };
                for e in w.entries {
                    self.entries.insert(e.id.clone(), e);
                }
                self.clock = w.clock;
                Outcome::Committed(out)
            }
        }
    }

    /// Drives the running round to its report; `hook` may answer an op instead of the cloud.
    fn finish(&mut self, hook: &mut dyn FnMut(&Op) -> Option<Outcome>) -> Report {
        for _ in 0..10_000 {
            while let Some(ev) = self.engine.poll_event() {
                if let Event::Done(r) = ev {
                    return r;
                }
            }
            match self.engine.poll_op() {
                Some((id, op)) => {
                    self.ops.push(op.clone());
                    let out = hook(&op).unwrap_or_else(|| self.cloud_op(&op));
                    self.now += 10;
                    self.engine.on_result(id, out, self.now);
                }
                None => {
                    let t = self.engine.next_wakeup().expect("a hung round");
                    self.now = self.now.max(t);
                    self.engine.handle_timeout(self.now);
                }
            }
        }
        panic!("the round never ended");
    }

    /// Drives the running round as a browser does: every op the engine gives is in flight at
    /// once, then all are answered in order.
    fn finish_concurrently(&mut self) -> Report {
        for _ in 0..10_000 {
            while let Some(ev) = self.engine.poll_event() {
                if let Event::Done(r) = ev {
                    return r;
                }
            }
            let mut batch = Vec::new();
            while let Some((id, op)) = self.engine.poll_op() {
                batch.push((id, op));
            }
            assert!(!batch.is_empty(), "a hung round");
            for (id, op) in batch {
                self.ops.push(op.clone());
                let out = self.cloud_op(&op);
                self.now += 10;
                self.engine.on_result(id, out, self.now);
            }
        }
        panic!("the round never ended");
    }

    fn round(&mut self, hook: &mut dyn FnMut(&Op) -> Option<Outcome>) -> Report {
        self.engine.start_sync(self.now);
        self.finish(hook)
    }
}

fn is_put(op: &Op, part: &str) -> bool {
    matches!(op, Op::Put { key, .. } if key.contains(part))
}

fn puts(ops: &[Op], part: &str) -> usize {
    ops.iter().filter(|op| is_put(op, part)).count()
}

fn forbidden() -> Option<Outcome> {
    Some(Outcome::Failed(Failure::http(
        403,
        ErrorCode::Forbidden,
        "rules",
    )))
}

#[test]
fn a_403_on_the_listing_or_the_own_log_stops_the_round_forbidden() {
    let mut rig = Rig::new("me");
    let report = rig.round(&mut |op| matches!(op, Op::List { .. }).then(forbidden).flatten());
    let forbidden_403 = SyncError {
        kind: SyncErrorKind::Forbidden,
        code: ErrorCode::Forbidden,
        status: Some(403),
        message: "rules".into(),
    };
    assert_eq!(
        report.outcome,
        RoundOutcome::Stopped {
            error: forbidden_403.clone()
        }
    );
    assert_eq!(
        serde_json::to_value(&report.outcome).unwrap(),
        serde_json::json!({ "kind": "stopped", "error": { "kind": "forbidden", "code": "Forbidden", "status": 403, "message": "rules" } })
    );
    // No retry by itself, and automatic triggers wait for the app.
    assert_eq!(rig.engine.retry_at(), None);
    assert!(!rig.engine.start_automatic(Direction::Both, rig.now));

    // The own log folder: the segment put and the metadata read it prompts are both refused.
    let mut rig = Rig::new("me");
    rig.save(1);
    let report = rig.round(&mut |op| {
        let own_log =
            matches!(op, Op::Put { key, .. } | Op::Head { key } if key.starts_with("log/me/"));
        own_log.then(forbidden).flatten()
    });
    assert_eq!(
        report.outcome,
        RoundOutcome::Stopped {
            error: forbidden_403
        }
    );
    assert_eq!(report.blobs_uploaded, 1, "the audio went up before the log");
}

#[test]
fn a_403_on_one_recordings_audio_fails_that_recording_only() {
    let mut rig = Rig::new("me");
    rig.save(3);
    let report = rig.round(&mut |op| {
        let r1 =
            matches!(op, Op::Put { key, .. } | Op::Head { key } if key.starts_with("blobs/r1/"));
        r1.then(forbidden).flatten()
    });
    assert_eq!(report.outcome, RoundOutcome::Complete);
    assert_eq!(
        report.failed,
        vec![RecordingFailure {
            id: RecordingId::parse("r1").unwrap(),
            code: ErrorCode::Forbidden,
            status: Some(403),
            message: "rules".into(),
        }]
    );
    assert_eq!((report.blobs_uploaded, report.changes_pushed), (2, 2));
    let r1 = &rig.entries[&RecordingId::parse("r1").unwrap()];
    assert_eq!(r1.phase, crate::core::state::Phase::Failed);
    assert_eq!(
        r1.failure.as_deref(),
        Some("rules"),
        "no status prefix in the message"
    );

    // A download refused: that recording is reported (and tried again next round).
    let mut phone = Rig::new("phone");
    phone.cloud = rig.cloud.clone();
    let report = phone.round(&mut |op| {
        let r0 = matches!(op, Op::GetBlob { key, .. } if key.starts_with("blobs/r0/"));
        r0.then(forbidden).flatten()
    });
    assert_eq!(report.outcome, RoundOutcome::Complete);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(
        (report.failed[0].id.as_str(), report.failed[0].code),
        ("r0", ErrorCode::Forbidden)
    );
    assert_eq!(report.blobs_downloaded, 1);
    let report = phone.round(&mut |_| None);
    assert_eq!((report.blobs_downloaded, report.failed.len()), (1, 0));
}

#[test]
fn a_put_with_no_answer_is_checked_before_it_is_sent_again() {
    // The segment put lands but its answer is lost: a metadata read finds it, no second put.
    let mut rig = Rig::new("me");
    rig.save(1);
    let mut lost = false;
    let report = {
        let cloud = std::cell::RefCell::new(None::<(String, Vec<u8>)>);
        let r = rig.round(&mut |op| match op {
            Op::Put {
                key,
                body: Body::Json(b),
                ..
            } if !lost => {
                lost = true;
                *cloud.borrow_mut() = Some((key.clone(), b.clone()));
                Some(Outcome::Failed(Failure::network("reset")))
            }
            Op::Head { key } => {
                let c = cloud.borrow();
                let (k, b) = c.as_ref().unwrap();
                assert_eq!(key, k);
                Some(Outcome::Exists {
                    size: b.len() as u64,
                })
            }
            _ => None,
        });
        r
    };
    assert_eq!(report.outcome, RoundOutcome::Complete);
    assert_eq!(report.segments_pushed, 1);
    assert_eq!(puts(&rig.ops, "log/"), 1);
    assert!(rig.ops.iter().any(|op| matches!(op, Op::Head { .. })));
    assert!(rig.entries.values().all(|e| e.public().unwrap().synced));

    // The blob put got no answer and did not land: the read says so, and it is sent again.
    let mut rig = Rig::new("me");
    rig.save(1);
    let mut first = true;
    let report = rig.round(&mut |op| {
        if is_put(op, "blobs/") && std::mem::take(&mut first) {
            return Some(Outcome::Failed(Failure::network("timeout")));
        }
        None
    });
    assert_eq!(report.outcome, RoundOutcome::Complete);
    assert_eq!((puts(&rig.ops, "blobs/"), report.blobs_uploaded), (2, 1));
    let heads: Vec<&Op> = rig
        .ops
        .iter()
        .filter(|op| matches!(op, Op::Head { .. }))
        .collect();
    assert_eq!(heads.len(), 1);

    // A put refused because the object exists (from before a crash): the read confirms it.
    let mut rig = Rig::new("me");
    rig.save(1);
    let key = rig.engine.cfg.layout.blob_key(
        &RecordingId::parse("r0").unwrap(),
        &ContentHash::parse(&"0".repeat(64)).unwrap(),
    );
    rig.cloud.insert(key, vec![0; 1]);
    let report = rig.round(&mut |_| None);
    assert_eq!(report.outcome, RoundOutcome::Complete);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.changes_pushed, 1);
}

#[test]
fn an_existing_object_of_another_size_is_a_conflict() {
    // A blob: that recording fails with Conflict, the rest goes on.
    let mut rig = Rig::new("me");
    rig.save(2);
    let key = rig.engine.cfg.layout.blob_key(
        &RecordingId::parse("r1").unwrap(),
        &ContentHash::parse(&"1".repeat(64)).unwrap(),
    );
    rig.cloud.insert(key, vec![0; 99]);
    let report = rig.round(&mut |_| None);
    assert_eq!(report.outcome, RoundOutcome::Complete);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(
        (report.failed[0].id.as_str(), report.failed[0].code),
        ("r1", ErrorCode::Conflict)
    );
    assert_eq!(report.changes_pushed, 1);

    // A segment of this device's log: its log in the cloud is corrupt; the round stops.
    let mut rig = Rig::new("me");
    rig.save(1);
    rig.cloud
        .insert("log/me/00000000000000000000.json".into(), b"{}".to_vec());
    let report = rig.round(&mut |_| None);
    let RoundOutcome::Stopped { error } = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(
        (error.kind, error.code),
        (SyncErrorKind::Remote, ErrorCode::Conflict)
    );
}

#[test]
fn retries_exhausted_end_the_round_incomplete_with_a_typed_error() {
    for (failure, kind) in [
        (
            Failure::http(503, ErrorCode::Remote, "unavailable"),
            SyncErrorKind::Remote,
        ),
        (Failure::network("offline"), SyncErrorKind::Network),
    ] {
        let mut rig = Rig::new("me");
        let f = failure.clone();
        let report = rig.round(&mut |_| Some(Outcome::Failed(f.clone())));
        let RoundOutcome::Incomplete { error, retry_at } = report.outcome else {
            panic!("{:?}", report.outcome)
        };
        assert_eq!(error, SyncError::from_failure(kind, &failure));
        assert_eq!(rig.engine.retry_at(), Some(retry_at));
    }
}

#[test]
fn rounds_back_off_exponentially_up_to_15_minutes_and_reset_after_a_complete_one() {
    let mut rig = Rig::new("me");
    let down = || {
        Some(Outcome::Failed(Failure::http(
            503,
            ErrorCode::Remote,
            "down",
        )))
    };
    let round_backoff = rig.engine.cfg.round_backoff;
    let mut delays = Vec::new();
    rig.engine.start_sync(rig.now);
    for n in 0..12 {
        let report = rig.finish(&mut |_| down());
        let RoundOutcome::Incomplete { retry_at, .. } = report.outcome else {
            panic!("{:?}", report.outcome)
        };
        let delay = retry_at - rig.now;
        let ceiling = round_backoff.ceiling_ms(n);
        assert!(
            (ceiling / 2..=ceiling).contains(&delay),
            "round {n}: {delay} not within {ceiling}"
        );
        delays.push(delay);
        // An automatic trigger does not cut the backoff short ...
        assert!(!rig.engine.start_automatic(Direction::Push, rig.now + 1));
        assert!(!rig.engine.is_syncing());
        assert_eq!(rig.engine.next_wakeup(), Some(retry_at));
        // ... the retry starts by itself when it is due.
        rig.now = retry_at;
        rig.engine.handle_timeout(rig.now);
        assert!(rig.engine.is_syncing());
    }
    assert!(delays[4] >= 2 * delays[0], "{delays:?}");
    assert!(delays.iter().all(|&d| d <= 15 * 60_000), "{delays:?}");
    assert!(delays[11] >= 15 * 60_000 / 2, "{delays:?}");
    // The server heals: the retry completes and the backoff starts over.
    let report = rig.finish(&mut |_| None);
    assert_eq!(report.outcome, RoundOutcome::Complete);
    assert_eq!(rig.engine.retry_at(), None);
    let report = rig.round(&mut |_| down());
    let RoundOutcome::Incomplete { retry_at, .. } = report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert!(retry_at - rig.now <= round_backoff.ceiling_ms(0));
    // An explicit round runs at once, backoff or not.
    rig.engine.start(Direction::Both, rig.now + 1);
    assert!(rig.engine.is_syncing());
}

#[test]
fn retry_after_is_honoured_up_to_an_hour() {
    for (asked, expect_at_least, expect_at_most) in [
        (10 * 60_000, 10 * 60_000, 10 * 60_000 + 5_000),
        (48 * 3_600_000, 3_600_000, 3_600_000),
    ] {
        let mut rig = Rig::new("me");
        let report = rig.round(&mut |_| {
            Some(Outcome::Failed(
                Failure::http(429, ErrorCode::Remote, "slow down").with_retry_after(Some(asked)),
            ))
        });
        let RoundOutcome::Incomplete { retry_at, .. } = report.outcome else {
            panic!("{:?}", report.outcome)
        };
        // A long pause ends the round at once instead of holding it open.
        assert_eq!(rig.ops.len(), 1);
        let delay = retry_at - rig.now;
        assert!(
            (expect_at_least..=expect_at_most).contains(&delay),
            "{asked}: {delay}"
        );
    }
}

#[test]
fn unreadable_segments_stop_their_log_only_and_are_retried() {
    use crate::core::log::Segment;
    // Device "good" published a segment; device "bad" a corrupt one, and one of a newer format
    // on a third device. All three logs have a readable segment after the bad ones.
    let mut writer = Rig::new("good");
    writer.save(1);
    writer.round(&mut |_| None);
    let mut rig = Rig::new("me");
    rig.cloud = writer.cloud.clone();
    let bad = DeviceId::parse("bad").unwrap();
    let newer = DeviceId::parse("newer").unwrap();
    let layout = rig.engine.cfg.layout.clone();
    rig.cloud
        .insert(layout.segment_key(&bad, 0), b"{not json".to_vec());
    rig.cloud.insert(
        layout.segment_key(&bad, 1),
        Segment::new(bad.clone(), 1, vec![]).encode(),
    );
    rig.cloud.insert(
        layout.segment_key(&newer, 0),
        br#"{"v":2,"device":"newer","seq":0,"changes":[],"snapshot":{}}"#.to_vec(),
    );
    let report = rig.round(&mut |_| None);
    let RoundOutcome::Incomplete { error, .. } = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(
        (error.kind, error.code),
        (SyncErrorKind::Remote, ErrorCode::Remote)
    );
    let seen: Vec<(&str, u64)> = report
        .unreadable
        .iter()
        .map(|u| (u.device.as_str(), u.seq))
        .collect();
    assert_eq!(seen, [("bad", 0), ("newer", 0)]);
    assert!(
        report.unreadable[1].reason.contains("newer"),
        "{}",
        report.unreadable[1].reason
    );
    // The good log was applied; the bad ones wait at their segment.
    assert_eq!((report.segments_pulled, report.blobs_downloaded), (1, 1));
    assert_eq!(rig.engine.meta().checkpoints.get(&bad), None);
    assert_eq!(rig.engine.meta().checkpoints.get(&newer), None);
    assert!(!rig
        .ops
        .iter()
        .any(|op| matches!(op, Op::Get { key } if *key == layout.segment_key(&bad, 1))));
    // Another device's log does not hold this device's pushes back: an automatic push runs at
    // once, and takes the pending retry of the pull with it.
    rig.save(2);
    assert!(rig.engine.start_automatic(Direction::Push, rig.now));
    assert_eq!(rig.engine.direction(), Direction::Both);
    let report = rig.finish(&mut |_| None);
    assert_eq!(report.changes_pushed, 2);
    assert_eq!(report.unreadable.len(), 2);
    assert!(matches!(report.outcome, RoundOutcome::Incomplete { .. }));
    // Retried later: once the segment is readable, the log goes on.
    rig.cloud.insert(
        layout.segment_key(&bad, 0),
        Segment::new(bad.clone(), 0, vec![]).encode(),
    );
    rig.cloud.remove(&layout.segment_key(&newer, 0));
    let retry_at = rig.engine.retry_at().unwrap();
    rig.now = retry_at;
    rig.engine.handle_timeout(retry_at);
    let report = rig.finish(&mut |_| None);
    assert_eq!(report.outcome, RoundOutcome::Complete);
    assert_eq!(rig.engine.meta().checkpoints.get(&bad), Some(&2));
}

#[test]
fn load_meta_is_taken_between_rounds_only() {
    let mut rig = Rig::new("me");
    let mut meta = rig.engine.meta().clone();
    meta.next_seq = 9;
    rig.engine.start_sync(0);
    rig.engine.load_meta(meta.clone());
    assert_eq!(rig.engine.meta().next_seq, 0, "ignored while a round runs");
    rig.finish(&mut |_| None);
    rig.engine.load_meta(meta);
    assert_eq!(rig.engine.meta().next_seq, 9);
}

/// A segment of 350 changes (older releases sealed up to 500) is applied in local commits of
/// at most `COMMIT_CHANGES`, and only the last moves the checkpoint: a commit that fails part
/// way leaves the segment to be read again, and the next round applies all of it.
#[test]
fn a_large_segment_is_applied_in_small_commits_and_only_the_last_moves_the_checkpoint() {
    use crate::core::layout::Layout;
    let mut a = Rig::new("a");
    a.save(350);
    a.engine.start_sync(a.now);
    let pushed = a.finish_concurrently();
    assert_eq!(pushed.changes_pushed, 350);
    let seg_keys: Vec<String> = a
        .cloud
        .keys()
        .filter(|k| k.starts_with("log/"))
        .cloned()
        .collect();
    // Writers seal at most COMMIT_CHANGES a segment: 100, 100, 100, 50.
    assert_eq!(seg_keys.len(), 4, "{seg_keys:?}");
    // Each is uploaded while the next seals run, not all after the last seal: more commits
    // follow the first segment's upload than the four confirmations.
    let first_put = a.ops.iter().position(|op| is_put(op, "log/")).unwrap();
    let later_commits = a.ops[first_put..]
        .iter()
        .filter(|op| matches!(op, Op::Commit(_)))
        .count();
    assert!(
        later_commits > 4,
        "{later_commits} commits after the first upload"
    );
    let dev = DeviceId::parse("a").unwrap();
    let mut changes = Vec::new();
    for (seq, key) in seg_keys.iter().enumerate() {
        let seg = Segment::decode(&a.cloud[key], &dev, seq as u64).unwrap();
        assert!(seg.changes.len() <= COMMIT_CHANGES);
        changes.extend(seg.changes);
    }
    // The same changes as one segment of an older release, in a cloud that holds only it.
    let mut cloud = a.cloud.clone();
    cloud.retain(|k, _| !k.starts_with("log/"));
    let layout = Layout::default();
    cloud.insert(
        layout.segment_key(&dev, 0),
        Segment::new(dev.clone(), 0, changes).encode(),
    );

    let mut b = Rig::new("b");
    b.cloud = cloud;
    let mut applies = 0;
    let failed = b.round(&mut |op| match op {
        Op::Commit(c) if c.touches_audio() => {
            applies += 1;
            (applies == 3)
                .then(|| Outcome::Failed(Failure::local(ErrorCode::QuotaExceeded, "disk full")))
        }
        _ => None,
    });
    assert!(
        matches!(failed.outcome, RoundOutcome::Stopped { .. }),
        "{:?}",
        failed.outcome
    );
    assert_eq!(
        b.engine.meta().checkpoints.get(&dev),
        None,
        "moved before the last commit"
    );

    let before = b.ops.len();
    let report = b.round(&mut |_| None);
    assert!(
        matches!(report.outcome, RoundOutcome::Complete),
        "{:?}",
        report.outcome
    );
    let applied = b.ops[before..]
        .iter()
        .filter(|op| matches!(op, Op::Commit(c) if c.touches_audio()))
        .count();
    assert_eq!(
        applied, 4,
        "250 leading changes in 3 commits, the last 100 in one"
    );
    assert_eq!((report.segments_pulled, report.changes_pulled), (1, 350));
    assert_eq!(b.engine.meta().checkpoints.get(&dev), Some(&1));
    assert_eq!(b.entries.len(), 350);
}
