//! Deterministic simulation of several devices syncing through a weak object store with faults.
//!
//! Every seed generates a setup (2 to 5 devices, skewed clocks, policies, page sizes) and a history
//! (user edits, syncs, operations delivered in any order with faults, crashes, offline periods,
//! hours passing). After the history, faults stop and every device syncs until quiet; then the
//! invariants in `sim::world::World::check` must hold. `TAPESYNC_SIM_SEEDS=N` runs N seeds
//! (default 10,000, from `TAPESYNC_SIM_FIRST_SEED`, default 0); `TAPESYNC_SIM_SEED=S` with the
//! `replay` test runs one seed and prints it (`TAPESYNC_SIM_TRACE=1` prints every operation).
#![cfg(not(target_arch = "wasm32"))]

mod sim;

use sim::scenario::{generate, generate_model, run, run_model, run_model_seeds, run_seeds};
use sim::world::World;

/// How many seeds in total, split over the shard tests (run in parallel by the test harness).
fn seeds() -> u64 {
    std::env::var("TAPESYNC_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

const SHARDS: u64 = 4;

/// The first seed (`TAPESYNC_SIM_FIRST_SEED`, default 0), so that a soak can go past seeds already run.
fn first_seed() -> u64 {
    std::env::var("TAPESYNC_SIM_FIRST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn shard(i: u64) {
    let n = seeds();
    let per = n.div_ceil(SHARDS);
    let start = first_seed() + i * per;
    let end = first_seed() + ((i + 1) * per).min(n);
    run_seeds(start..end);
}

#[test]
fn random_histories_shard_0() {
    shard(0);
}

#[test]
fn random_histories_shard_1() {
    shard(1);
}

#[test]
fn random_histories_shard_2() {
    shard(2);
}

#[test]
fn random_histories_shard_3() {
    shard(3);
}

/// `TAPESYNC_SIM_SEED=1234 cargo test --test simulation replay -- --nocapture`
#[test]
fn replay() {
    let Some(seed) = std::env::var("TAPESYNC_SIM_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return;
    };
    let (setup, steps) = generate(seed);
    println!("seed {seed}: {setup:?}");
    for s in &steps {
        println!("  {s:?}");
    }
    let steps = match std::env::var("TAPESYNC_SIM_STEPS") {
        // A comma-separated list of step indices: replays just those (e.g. a shrunk history).
        Ok(list) => list
            .split(',')
            .filter_map(|i| i.trim().parse::<usize>().ok())
            .filter_map(|i| steps.get(i).cloned())
            .collect(),
        Err(_) => steps,
    };
    match run(&setup, &steps) {
        Ok(w) => {
            println!("ok: {} objects in the cloud", w.cloud.objects.len());
            for d in &w.devices {
                println!("{}: {} visible", d.id, d.db.visible().len());
            }
        }
        Err(e) => {
            run_seeds(seed..seed + 1);
            panic!("{e}");
        }
    }
}

/// Each policy gives the outcome docs/sync.md promises: whole sync rounds without faults, checked
/// against the reference model in `sim::model`.
#[test]
fn policies_match_the_reference_model() {
    run_model_seeds(first_seed()..first_seed() + (seeds() / 4).max(1));
}

/// `TAPESYNC_SIM_MODEL_SEED=12 cargo test --test simulation replay_model -- --nocapture`
#[test]
fn replay_model() {
    let Some(seed) = std::env::var("TAPESYNC_SIM_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return;
    };
    let (setup, steps) = generate_model(seed);
    println!("model seed {seed}: {setup:?}");
    for s in &steps {
        println!("  {s:?}");
    }
    if let Err(e) = run_model(&setup, &steps) {
        panic!("{e}");
    }
}

/// A pull with nothing new costs the same few requests whether the cloud holds 10 recordings or
/// 10,000: one listing of the device folders and one "not found" per other device's log.
#[test]
fn a_quiet_pull_costs_the_same_for_10_and_10000_recordings() {
    use sim::world::{Action, Setup, World};
    use tapesync::core::merge::Policy;
    let cost = |n: usize| {
        let mut w = World::new(Setup {
            devices: 3,
            skews_ms: vec![0, 0, 0],
            policies: vec![Policy::Merge; 3],
            conflict_copies: true,
            page_size: 1_000,
            max_in_flight: 4,
            compact_every: 64,
            retire_after_ms: 30 * 86_400_000,
        });
        let t = std::time::Instant::now();
        for _ in 0..n {
            w.user(0, &Action::Create);
        }
        w.user(1, &Action::Create);
        eprintln!("create {:?}", t.elapsed());
        for d in 0..3 {
            w.round(d).unwrap();
            eprintln!("round {d} {:?}", t.elapsed());
        }
        w.quiesce().unwrap();
        eprintln!("quiesce {:?}", t.elapsed());
        w.check().unwrap();
        eprintln!("check {:?}", t.elapsed());
        assert_eq!(w.devices[2].db.visible().len(), n + 1);
        let before = w.cloud.stats;
        let report = w.round(2).unwrap();
        assert_eq!(report.segments_pulled, 0);
        w.cloud.stats.since(&before)
    };
    let small = cost(10);
    let big = cost(10_000);
    assert_eq!(small, big, "10 recordings: {small:?}, 10,000: {big:?}");
    assert_eq!(
        (small.list, small.get, small.writes(), small.get_blob),
        (1, 2, 0, 0)
    );
}

/// Uploads are confirmed locally in batches, and a last partial batch in the seal's own commit: a
/// first push of 600 recordings (finishing at once) makes 18 local commits: six batches of 100
/// confirmations, six seals (a writer seals 100 changes a segment, `COMMIT_CHANGES`) and the
/// confirmations of the six published segments. Not one per recording.
#[test]
fn a_push_confirms_its_uploads_in_batches() {
    use sim::world::{Action, Setup, World};
    use tapesync::core::merge::Policy;
    let mut w = World::new(Setup {
        devices: 1,
        skews_ms: vec![0],
        policies: vec![Policy::Merge],
        conflict_copies: true,
        page_size: 1_000,
        max_in_flight: 4,
        compact_every: 64,
        retire_after_ms: 30 * 86_400_000,
    });
    for _ in 0..600 {
        w.user(0, &Action::Create);
    }
    let before = w.devices[0].commits;
    let report = w.round(0).unwrap();
    assert_eq!((report.blobs_uploaded, report.changes_pushed), (600, 600));
    assert_eq!(w.devices[0].commits - before, 18);
    w.check().unwrap();
}

/// A pull reads the other devices' changes and publishes nothing; a push publishes this device's
/// and reads nothing; a full round afterwards finds nothing left to do either way.
#[test]
fn a_pull_publishes_nothing_and_a_push_reads_nothing() {
    use sim::world::{Action, Setup, World};
    use tapesync::core::engine::Direction;
    use tapesync::core::merge::Policy;
    let mut w = World::new(Setup {
        devices: 2,
        skews_ms: vec![0, 0],
        policies: vec![Policy::Merge; 2],
        conflict_copies: true,
        page_size: 1_000,
        max_in_flight: 4,
        compact_every: 64,
        retire_after_ms: 30 * 86_400_000,
    });
    for _ in 0..3 {
        w.user(0, &Action::Create);
    }
    for _ in 0..2 {
        w.user(1, &Action::Create);
    }
    w.round(1).unwrap();

    let before = w.cloud.stats;
    let pulled = w.round_to(0, Direction::Pull).unwrap();
    let cost = w.cloud.stats.since(&before);
    assert_eq!(cost.writes(), 0, "a pull wrote to the cloud: {cost:?}");
    assert_eq!((pulled.changes_pulled, pulled.changes_pushed), (2, 0));
    assert_eq!((cost.get_blob, pulled.blobs_uploaded), (2, 0));
    assert_eq!(w.devices[0].db.visible().len(), 5);

    let before = w.cloud.stats;
    let pushed = w.round_to(0, Direction::Push).unwrap();
    let cost = w.cloud.stats.since(&before);
    assert_eq!(
        (cost.list, cost.get, cost.get_blob),
        (0, 0, 0),
        "a push read: {cost:?}"
    );
    assert_eq!((pushed.changes_pushed, pushed.blobs_uploaded), (3, 3));

    w.round(1).unwrap();
    assert_eq!(w.devices[1].db.visible().len(), 5);
    let before = w.cloud.stats;
    w.round(0).unwrap();
    assert_eq!(
        w.cloud.stats.since(&before).writes(),
        0,
        "the full round had work left"
    );
    w.check().unwrap();
}

fn one_policy(devices: usize) -> sim::world::Setup {
    use tapesync::core::merge::Policy;
    sim::world::Setup {
        devices,
        skews_ms: vec![0; devices],
        policies: vec![Policy::Merge; devices],
        conflict_copies: true,
        page_size: 1_000,
        max_in_flight: 4,
        compact_every: 64,
        retire_after_ms: 30 * 86_400_000,
    }
}

/// The lifecycle that ships: one engine per device across rounds, started by an automatic
/// trigger, through two hours in which every request fails. Rounds back off exponentially (with
/// jitter, up to 15 minutes), automatic triggers do not cut the backoff short, and once the
/// cloud heals the recordings saved meanwhile sync by themselves, with no call from the app;
/// the backoff then starts over.
#[test]
fn during_an_outage_rounds_back_off_and_pending_work_syncs_by_itself_after_it() {
    use sim::world::{Action, Step, World};
    use tapesync::core::engine::{Direction, RoundOutcome};
    const MINUTE: u64 = 60_000;
    let mut w = World::new(one_policy(2));
    for _ in 0..5 {
        w.user(0, &Action::Create);
    }
    w.outage = true;
    w.start(0, Direction::Push, false);
    let start = w.now;
    let mut delays = Vec::new();
    while w.now < start + 120 * MINUTE {
        w.settle(0).unwrap();
        let report = w.devices[0].reports.last().unwrap().clone();
        let RoundOutcome::Incomplete { retry_at, .. } = report.outcome else {
            panic!("{:?}", report.outcome)
        };
        delays.push(retry_at - w.device_now(0));
        // A save during the outage: autoSync's trigger joins the retry instead of starting now.
        w.user(0, &Action::Create);
        let rounds = w.devices[0].reports.len();
        w.start(0, Direction::Push, false);
        assert!(!w.devices[0].engine.is_syncing());
        // Time passes; the retry starts by itself when it is due, not before.
        w.step(&Step::Advance(retry_at - w.device_now(0) - 1));
        assert!(!w.devices[0].engine.is_syncing());
        w.step(&Step::Advance(1));
        assert!(w.devices[0].engine.is_syncing());
        assert_eq!(w.devices[0].reports.len(), rounds);
    }
    assert!(w.violations.is_empty(), "{:?}", w.violations);
    // 5 s, 10 s, 20 s ... doubling (each drawn from the upper half) up to 15 minutes.
    let round_backoff = w.devices[0].cfg.round_backoff;
    for (n, d) in delays.iter().enumerate() {
        let ceiling = round_backoff.ceiling_ms(n as u32);
        assert!(
            (ceiling / 2..=ceiling).contains(d),
            "round {n}: {d} ms ({delays:?})"
        );
    }
    assert_eq!(round_backoff.max_ms, 15 * MINUTE);
    assert!(
        (12..=22).contains(&delays.len()),
        "{} rounds in two hours: {delays:?}",
        delays.len()
    );
    // The cloud heals: the retry already scheduled pushes everything saved, by itself.
    w.outage = false;
    w.settle(0).unwrap();
    let report = w.devices[0].reports.last().unwrap().clone();
    assert_eq!(report.outcome, RoundOutcome::Complete);
    assert_eq!(report.changes_pushed, 5 + delays.len() as u64);
    assert!(w.devices[0].db.visible().iter().all(|r| r.synced));
    assert_eq!(w.devices[0].engine.retry_at(), None);
    w.round(1).unwrap();
    assert_eq!(w.devices[1].db.visible().len(), 5 + delays.len());
    // The backoff starts over after a complete round.
    w.outage = true;
    w.start(0, Direction::Both, false);
    w.settle(0).unwrap();
    let RoundOutcome::Incomplete { retry_at, .. } = w.devices[0].reports.last().unwrap().outcome
    else {
        panic!()
    };
    assert!(retry_at - w.device_now(0) <= round_backoff.ceiling_ms(0));
    // And a sync the app asks for runs at once, backoff or not.
    w.start(0, Direction::Both, true);
    assert!(w.devices[0].engine.is_syncing());
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

/// Recordings whose metadata is near the limits: sealing splits them by encoded size, every
/// segment stays under the reader's cap, and another device reads them all.
#[test]
fn segments_are_split_by_encoded_size_under_the_readers_cap() {
    use sim::cloud::Obj;
    use tapesync::core::limits::{self, MAX_SEGMENT_BYTES};
    let mut w = World::new(one_policy(2));
    let n = 300;
    for i in 0..n {
        let mut custom = serde_json::Map::new();
        // Two values just under the per-value limit: the recording is just under the total.
        custom.insert(
            "a".into(),
            serde_json::json!(
                format!("{i}").repeat(limits::CUSTOM_VALUE_BYTES / 8)
                    + &"x".repeat(
                        limits::CUSTOM_VALUE_BYTES
                            - 2
                            - limits::CUSTOM_VALUE_BYTES / 8 * format!("{i}").len()
                            - 100
                    )
            ),
        );
        custom.insert(
            "b".into(),
            serde_json::json!("y".repeat(limits::CUSTOM_VALUE_BYTES - 2 - 100)),
        );
        let meta = limits::metadata_len(&format!("take {}", i + 1), &[], &custom);
        assert!(
            meta <= limits::METADATA_BYTES && meta > limits::METADATA_BYTES - 300,
            "{meta}"
        );
        w.create_with(0, custom).unwrap();
    }
    let report = w.round(0).unwrap();
    assert_eq!(report.changes_pushed, n);
    assert!(report.segments_pushed >= 2, "{report:?}");
    let mut segments = 0;
    for (key, obj) in &w.cloud.objects {
        if let Obj::Json(bytes) = obj {
            assert!(
                bytes.len() <= MAX_SEGMENT_BYTES,
                "{key}: {} bytes",
                bytes.len()
            );
            segments += 1;
        }
    }
    assert_eq!(segments, report.segments_pushed);
    let pulled = w.round(1).unwrap();
    assert_eq!(pulled.changes_pulled, n);
    assert_eq!(w.devices[1].db.visible().len(), n as usize);
    w.check().unwrap();
}

/// Nothing is accepted that sync cannot carry: a 20 MiB custom value is refused on save, and a
/// recording that holds one anyway (saved by an older release) fails alone with
/// `InvalidArgument` instead of making this device's log unreadable; the other recordings sync.
#[test]
fn metadata_sync_cannot_carry_is_refused_and_never_blocks_the_log() {
    use tapesync::core::error_class::ErrorCode;
    use tapesync::core::fields::Lww;
    let mut w = World::new(one_policy(2));
    let mut huge = serde_json::Map::new();
    huge.insert("big".into(), serde_json::json!("x".repeat(20 << 20)));
    let err = w.create_with(0, huge.clone()).unwrap_err();
    assert!(err.contains("32768 bytes"), "{err}");
    let old = w.create_with(0, serde_json::Map::new()).unwrap();
    {
        let e = w.devices[0].db.entries.get_mut(&old).unwrap();
        let at = e.local.name.as_ref().unwrap().at.clone();
        e.local.custom.insert(
            "big".into(),
            Lww {
                value: Some(huge["big"].clone()),
                at,
            },
        );
    }
    for _ in 0..3 {
        w.user(0, &sim::world::Action::Create);
    }
    let report = w.round(0).unwrap();
    assert_eq!(report.changes_pushed, 3);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(
        (&report.failed[0].id, report.failed[0].code),
        (&old, ErrorCode::InvalidArgument)
    );
    let pulled = w.round(1).unwrap();
    assert_eq!((pulled.changes_pulled, pulled.unreadable.len()), (3, 0));
    assert_eq!(w.devices[1].db.visible().len(), 3);
}

/// The log does not grow without end: two devices write a long history (`TAPESYNC_SIM_HISTORY`
/// recordings, default 5,000; `TAPESYNC_SIM_BATCH` per segment, default 10, and a rename of 5
/// older ones with each), compacting
/// their logs every 64 segments; a third device joins afterwards. Its first pull reads each
/// device's snapshot parts plus the few segments after them, not every segment ever written
/// (without compaction it reads them all), and it ends with the whole library.
#[test]
fn a_new_devices_first_pull_reads_snapshots_and_recent_segments_only() {
    use sim::world::{Action, World};
    use tapesync::core::engine::Direction;
    use tapesync::core::snapshot::PART_CHANGES;
    let n: usize = std::env::var("TAPESYNC_SIM_HISTORY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000);
    let batch: usize = std::env::var("TAPESYNC_SIM_BATCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let run = |compact_every: u64| {
        let mut setup = one_policy(3);
        setup.compact_every = compact_every;
        let mut w = World::new(setup);
        let t = std::time::Instant::now();
        for i in 0..n / batch {
            let d = i % 2;
            for _ in 0..batch {
                w.user(d, &Action::Create);
            }
            for k in 0..5u16 {
                w.user(
                    d,
                    &Action::Rename(k.wrapping_mul(7919).wrapping_add(i as u16)),
                );
            }
            w.round(d).unwrap();
        }
        w.round(0).unwrap();
        w.round(1).unwrap();
        let segments = w
            .cloud
            .objects
            .keys()
            .filter(|k| k.ends_with(".json") && !k.contains(".snap-"))
            .count();
        let parts = w
            .cloud
            .objects
            .keys()
            .filter(|k| k.contains(".snap-"))
            .count();
        let history = t.elapsed();
        let before = w.cloud.stats;
        let t = std::time::Instant::now();
        let report = w.round_to(2, Direction::Pull).unwrap();
        let pull = t.elapsed();
        let cost = w.cloud.stats.since(&before);
        assert_eq!(w.devices[2].db.visible().len(), n);
        w.quiesce().unwrap();
        w.check().unwrap();
        eprintln!(
            "{n} recordings, compact every {compact_every}: {segments} segments and {parts} snapshot parts in the cloud; \
             first pull: {} list + {} get requests ({} changes, {} blob downloads), {pull:?} (history {history:?})",
            cost.list, cost.get, report.changes_pulled, cost.get_blob
        );
        (cost, segments, parts)
    };
    let (compacted, segments, parts) = run(64);
    let (full, all_segments, no_parts) = run(u64::MAX);
    assert_eq!(no_parts, 0);
    // Every segment ever written is read without compaction (plus one "not found" per device).
    assert_eq!(full.get as usize, all_segments + 2);
    // With it: at most 63 segments after each device's snapshot, and the snapshot parts.
    assert!(segments <= 2 * 64, "{segments} segments left");
    assert!(parts <= 2 * (n / PART_CHANGES + 1), "{parts} parts");
    assert!(
        compacted.get as usize <= parts + segments + 2 * 2,
        "{compacted:?} for {parts} parts and {segments} segments"
    );
    assert!(compacted.get * 4 < full.get, "{compacted:?} vs {full:?}");
}

/// A reader that was mid-way (it remembers "next segment 3") when the writer compacted its log and
/// deleted segments 0..12 falls back to the snapshot; a crash between the snapshot's upload and
/// the deletion leaves the segments (readers read them or the snapshot), and the next compaction
/// deletes them; a new device reads the snapshot. Everyone ends with the same recordings.
#[test]
fn readers_mid_way_and_crashes_between_upload_and_deletion_converge() {
    use sim::world::{Action, Step, World};
    use tapesync::core::engine::{Direction, Op};
    let mut setup = one_policy(3);
    setup.compact_every = 4;
    let mut w = World::new(setup);
    let segments = |w: &World| {
        w.cloud
            .objects
            .keys()
            .filter(|k| k.contains("/log/dev-k/"))
            .count()
    };
    for _ in 0..3 {
        w.user(0, &Action::Create);
        w.round_to(0, Direction::Push).unwrap();
    }
    w.round(1).unwrap();
    assert_eq!(w.devices[1].db.meta.checkpoints[&w.devices[0].id], 3);
    for i in 0..9 {
        w.user(0, &Action::Create);
        w.user(0, &Action::Rename(i));
        w.round_to(0, Direction::Push).unwrap();
    }
    // A full round compacts: 12 segments into a snapshot, and deletes them.
    w.round(0).unwrap();
    assert_eq!(segments(&w), 0, "{:?}", w.cloud.objects.keys());
    let before = w.cloud.stats;
    w.round(1).unwrap();
    let cost = w.cloud.stats.since(&before);
    assert_eq!(w.devices[1].db.visible().len(), 12);
    // The listing, segment 3 (gone), the snapshot's one part, segment 12 (not yet).
    assert_eq!((cost.list, cost.get), (1, 3), "{cost:?}");

    // Four more segments, then a compaction that crashes right after its upload.
    for _ in 0..4 {
        w.user(0, &Action::Create);
        w.round_to(0, Direction::Push).unwrap();
    }
    w.start(0, Direction::Both, true);
    loop {
        let pos = w.devices[0]
            .in_flight
            .iter()
            .position(|(_, op)| matches!(op, Op::Delete { key } if key.contains("/log/")));
        if pos.is_some() {
            break;
        }
        if w.devices[0].in_flight.is_empty() {
            panic!("the round ended without compacting");
        }
        w.step(&Step::Deliver(0, 0, sim::world::Fault::None));
    }
    w.step(&Step::Crash(0, 0));
    assert_eq!(segments(&w), 4, "the crash left the compacted segments");
    // A new device and the mid-way reader both converge; the next compaction cleans up.
    w.round(2).unwrap();
    w.round(1).unwrap();
    assert_eq!(w.devices[2].db.visible().len(), 16);
    for _ in 0..4 {
        w.user(0, &Action::Create);
        w.round_to(0, Direction::Push).unwrap();
    }
    w.round(0).unwrap();
    assert_eq!(segments(&w), 0);
    w.quiesce().unwrap();
    w.check().unwrap();
    w.check_quiet_round().unwrap();
}

/// Retirement: a reader stops asking the log of a device gone for over `retire_after_ms`, and
/// takes it up again when that device comes back (it announces itself with a snapshot before
/// uploading), so nothing it publishes is missed.
#[test]
fn logs_of_devices_gone_for_long_are_retired_and_taken_up_again() {
    use sim::world::{Action, Step, World};
    const DAY: u64 = 86_400_000;
    let mut w = World::new(one_policy(2));
    w.user(0, &Action::Create);
    w.round(0).unwrap();
    w.round(1).unwrap();
    w.step(&Step::Advance(31 * DAY));
    w.round(1).unwrap(); // finds nothing new: retires the log
    let k = w.devices[0].id.clone();
    assert_eq!(w.devices[1].db.meta.retired.get(&k), Some(&1));
    let before = w.cloud.stats;
    w.round(1).unwrap();
    assert_eq!(
        w.cloud.stats.since(&before).get,
        0,
        "a retired log was asked"
    );
    // The device comes back and publishes: it announces itself first.
    w.user(0, &Action::Create);
    w.round(0).unwrap();
    assert!(w.cloud.objects.keys().any(|k| k.contains("dev-k.snap-")));
    w.round(1).unwrap();
    assert_eq!(w.devices[1].db.visible().len(), 2);
    w.quiesce().unwrap();
    w.check().unwrap();
}

/// Nothing from the network is trusted: a snapshot part that does not parse, or that carries
/// another device's stamps, is never applied; the reader reports it (`unreadable`), its checkpoint
/// for that log stays, and the round ends incomplete.
#[test]
fn corrupt_or_forged_snapshot_parts_are_reported_and_never_applied() {
    use sim::cloud::Obj;
    use sim::world::{Action, World};
    use tapesync::core::engine::RoundOutcome;
    use tapesync::core::snapshot::SnapshotPart;
    let mut setup = one_policy(2);
    setup.compact_every = 2;
    let mut w = World::new(setup);
    for _ in 0..2 {
        w.user(0, &Action::Create);
        w.round(0).unwrap();
    }
    w.round(0).unwrap();
    let layout = w.devices[0].cfg.layout.clone();
    let k = w.devices[0].id.clone();
    let key = layout.snapshot_key(&k, 2, 0);
    let Some(Obj::Json(good)) = w.cloud.objects.get(&key).cloned() else {
        panic!("no snapshot: {:?}", w.cloud.objects.keys())
    };
    let forged = {
        let mut p = SnapshotPart::decode(&good, &k, 2, 0).unwrap();
        let other = w.devices[1].id.clone();
        let name = p.changes[0].fields.name.as_mut().unwrap();
        name.at = tapesync::core::hlc::Hlc::new(name.at.wall_ms() + 1, 0, other);
        p.encode()
    };
    for bad in [b"{\"v\":1,".to_vec(), forged] {
        w.cloud.objects.insert(key.clone(), Obj::Json(bad));
        w.start(1, tapesync::core::engine::Direction::Pull, true);
        w.settle(1).unwrap();
        let r = w.devices[1].reports.last().unwrap().clone();
        assert!(
            matches!(r.outcome, RoundOutcome::Incomplete { .. }),
            "{r:?}"
        );
        assert_eq!(r.unreadable.len(), 1, "{r:?}");
        assert!(w.devices[1].db.visible().is_empty());
        assert_eq!(
            w.devices[1]
                .db
                .meta
                .checkpoints
                .get(&k)
                .copied()
                .unwrap_or(0),
            0
        );
    }
    w.cloud.objects.insert(key, Obj::Json(good));
    w.round(1).unwrap();
    assert_eq!(w.devices[1].db.visible().len(), 2);
}

/// How often the random histories meet what compaction and retirement must survive (printed,
/// not asserted beyond "at all"): `cargo test --test simulation coverage -- --nocapture`.
#[test]
fn random_histories_compact_retire_and_lose_devices() {
    use sim::world::Step;
    let (mut compacted, mut deleted, mut retired, mut vanished, mut announced) = (0, 0, 0, 0, 0);
    let n = 500;
    for seed in first_seed()..first_seed() + n {
        let (setup, steps) = generate(seed);
        let w = run(&setup, &steps).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let keys: Vec<&String> = w.cloud.objects.keys().collect();
        compacted += keys.iter().any(|k| k.contains(".snap-")) as u32;
        // Some device's log no longer starts at segment 0.
        deleted += w.devices.iter().any(|d| {
            w.cloud
                .objects
                .keys()
                .any(|k| k.contains(&format!("/log/{}.snap-", d.id)))
                && !w
                    .cloud
                    .objects
                    .keys()
                    .any(|k| k.ends_with(&format!("/log/{}/00000000000000000000.json", d.id)))
        }) as u32;
        retired += w.devices.iter().any(|d| !d.db.meta.retired.is_empty()) as u32;
        vanished += steps.iter().any(|s| matches!(s, Step::Vanish(_))) as u32;
        announced += w.devices.iter().any(|d| {
            d.db.meta.retired.keys().any(|r| {
                let at = d.db.meta.retired[r];
                d.db.meta.checkpoints.get(r).copied().unwrap_or(0) > at
            })
        }) as u32;
    }
    eprintln!(
        "{n} histories: {compacted} compacted, {deleted} with compacted-away segments, {retired} with a retired log, \
         {announced} where a retired log was taken up again, {vanished} with a vanished device"
    );
    assert!(compacted > 0 && deleted > 0 && retired > 0 && vanished > 0);
}

/// An upload handed out before a long pause (a frozen tab) lands after the readers retired the
/// log: the device announces itself before confirming it, so the readers still get it.
#[test]
fn a_segment_that_lands_after_readers_retired_the_log_is_announced() {
    use sim::world::{Action, Fault, Step, World};
    use tapesync::core::engine::{Direction, Op};
    const DAY: u64 = 86_400_000;
    let mut w = World::new(one_policy(2));
    w.user(0, &Action::Create);
    w.round(0).unwrap();
    w.round(1).unwrap();
    w.user(0, &Action::Create);
    w.start(0, Direction::Push, true);
    let is_segment_put = |op: &Op| matches!(op, Op::Put { key, .. } if key.contains("/log/dev-k/"));
    while !w.devices[0]
        .in_flight
        .iter()
        .any(|(_, op)| is_segment_put(op))
    {
        assert!(!w.devices[0].in_flight.is_empty(), "no segment upload");
        w.step(&Step::Deliver(0, 0, Fault::None));
    }
    w.step(&Step::Advance(31 * DAY));
    w.round(1).unwrap();
    let k = w.devices[0].id.clone();
    assert_eq!(w.devices[1].db.meta.retired.get(&k), Some(&1));
    w.settle(0).unwrap();
    assert!(w
        .cloud
        .objects
        .keys()
        .any(|key| key.contains("dev-k.snap-")));
    w.round(1).unwrap();
    assert_eq!(w.devices[1].db.visible().len(), 2);
    w.quiesce().unwrap();
    w.check().unwrap();
}
