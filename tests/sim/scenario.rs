//! Seeded histories: generation, running, checking, shrinking.

use tapesync::core::engine::Direction;
use tapesync::core::merge::Policy;

use super::model::Model;
use super::rng::Rng;
use super::world::{Action, Fault, Setup, Step, World};

const HOUR: u64 = 3_600_000;

/// The setup and history of seed `seed`.
pub fn generate(seed: u64) -> (Setup, Vec<Step>) {
    let mut rng = Rng::new(seed);
    let devices = rng.range(2, 5) as usize;
    let skews_ms = (0..devices)
        .map(|_| {
            if rng.chance(1, 2) {
                0
            } else {
                rng.range(0, 6 * HOUR) as i64 - 3 * HOUR as i64
            }
        })
        .collect();
    let all = [Policy::Merge, Policy::LocalWins, Policy::CloudWins];
    let policies = if rng.chance(7, 10) {
        vec![all[rng.below(3) as usize]; devices]
    } else {
        (0..devices).map(|_| all[rng.below(3) as usize]).collect()
    };
    let setup = Setup {
        devices,
        skews_ms,
        policies,
        conflict_copies: rng.chance(6, 7),
        page_size: rng.range(1, 3) as usize,
        max_in_flight: rng.range(1, 3) as usize,
        // Small, so that histories compact often and at random moments.
        compact_every: rng.range(1, 4),
        // Beyond twice the largest clock skew between two devices (6 hours), as `retire` assumes.
        retire_after_ms: [13 * HOUR, 24 * HOUR][rng.below(2) as usize],
    };
    // One device may join late (acts only in the second half) and one may vanish for good.
    let late = rng.chance(1, 3).then(|| rng.below(devices as u64) as usize);
    let vanish = (devices > 2 && rng.chance(1, 4)).then(|| rng.below(devices as u64) as usize);
    let len = rng.range(30, 140);
    let mut steps = Vec::with_capacity(len as usize);
    let vanish_at = rng.range(len / 3, len);
    for i in 0..len {
        if vanish.is_some() && i == vanish_at {
            steps.push(Step::Vanish(vanish.unwrap_or(0)));
        }
        let mut d = rng.below(devices as u64) as usize;
        if late == Some(d) && i < len / 2 {
            d = (d + 1) % devices;
        }
        let roll = rng.below(100);
        let step = match roll {
            0..=21 => {
                let p = rng.below(64) as u16;
                let k = rng.below(3) as u8;
                let a = match rng.below(20) {
                    0..=4 => Action::Create,
                    5..=7 => Action::Rename(p),
                    8 => Action::Tag(p),
                    9..=10 => Action::SetCustom(p, k),
                    11 => Action::RemoveCustom(p, k),
                    12 => Action::Duration(p),
                    13..=16 => Action::Rerecord(p),
                    _ => Action::Delete(p),
                };
                Step::User(d, a)
            }
            22..=31 => {
                let direction = match rng.below(4) {
                    0 => Direction::Push,
                    1 => Direction::Pull,
                    _ => Direction::Both,
                };
                if roll <= 26 {
                    Step::Sync(d, direction)
                } else {
                    Step::AutoSync(d, direction)
                }
            }
            32..=85 => {
                let fault = match rng.below(100) {
                    0..=71 => Fault::None,
                    72..=77 => Fault::Before,
                    78..=79 => Fault::Throttled(if rng.chance(1, 2) {
                        rng.range(1, 20_000)
                    } else {
                        rng.range(HOUR / 2, 3 * HOUR)
                    }),
                    80..=88 => Fault::Lost,
                    89..=91 => Fault::Unauthorized,
                    92..=95 => Fault::Forbidden,
                    _ => Fault::TxFail,
                };
                Step::Deliver(d, rng.below(8) as u16, fault)
            }
            86..=93 => Step::Advance(if rng.chance(1, 12) {
                // Long enough for logs to be retired.
                rng.range(12 * HOUR, 40 * HOUR)
            } else if rng.chance(1, 4) {
                rng.range(HOUR / 4, 2 * HOUR)
            } else {
                rng.range(10, 5_000)
            }),
            94..=95 => Step::Crash(d, rng.next_u64()),
            96 => Step::SwitchTab(d),
            97 => Step::Outage(rng.chance(1, 2)),
            _ => Step::Offline(d, rng.chance(1, 2)),
        };
        steps.push(step);
    }
    (setup, steps)
}

/// Runs a history, then quiesces and checks every invariant.
pub fn run(setup: &Setup, steps: &[Step]) -> Result<World, String> {
    let mut w = World::new(setup.clone());
    for s in steps {
        w.step(s);
    }
    w.heal()?;
    w.quiesce()?;
    w.check()?;
    w.check_quiet_round()?;
    Ok(w)
}

/// Runs a seed, catching panics too, so a failing seed is reported and shrunk like any failure.
pub fn run_seed(seed: u64) -> Result<(), String> {
    let (setup, steps) = generate(seed);
    run_caught(&setup, &steps)
}

pub fn run_caught(setup: &Setup, steps: &[Step]) -> Result<(), String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(setup, steps))) {
        Ok(r) => r.map(|_| ()),
        Err(p) => Err(format!(
            "panic: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
    }
}

/// The kind of a failure, to keep shrinking on the same bug.
fn kind(err: &str) -> String {
    err.split([':', '\n'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .collect()
}

/// Removes steps while the history still fails the same way; returns the indices of the steps
/// kept, the smallest history found.
pub fn shrink(setup: &Setup, steps: &[Step], err: &str) -> Vec<usize> {
    let want = kind(err);
    let pick = |idx: &[usize]| idx.iter().map(|&i| steps[i].clone()).collect::<Vec<_>>();
    let fails = |idx: &[usize]| {
        run_caught(setup, &pick(idx))
            .err()
            .is_some_and(|e| kind(&e) == want)
    };
    let mut cur: Vec<usize> = (0..steps.len()).collect();
    let mut chunk = cur.len().div_ceil(2).max(1);
    let mut budget = 3_000;
    while budget > 0 {
        let mut i = 0;
        let mut removed = false;
        while i < cur.len() && budget > 0 {
            let end = (i + chunk).min(cur.len());
            let mut cand = cur[..i].to_vec();
            cand.extend_from_slice(&cur[end..]);
            budget -= 1;
            if fails(&cand) {
                cur = cand;
                removed = true;
            } else {
                i += chunk;
            }
        }
        if !removed {
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
    }
    cur
}

/// Runs seeds `range`, panicking with a replay command (and a shrunk history) on the first failure.
pub fn run_seeds(range: std::ops::Range<u64>) {
    for seed in range {
        if let Err(e) = run_seed(seed) {
            let (setup, steps) = generate(seed);
            let small = shrink(&setup, &steps, &e);
            let mut history = String::new();
            for &i in &small {
                history.push_str(&format!("\n    #{i} {:?}", steps[i]));
            }
            let kept: Vec<Step> = small.iter().map(|&i| steps[i].clone()).collect();
            let small_err = run_caught(&setup, &kept).err().unwrap_or_default();
            let list: Vec<String> = small.iter().map(|i| i.to_string()).collect();
            panic!(
                "seed {seed} failed: {e}\n\
                 replay: TAPESYNC_SIM_SEED={seed} cargo test --test simulation replay -- --nocapture\n\
                 replay the shrunk history, traced: TAPESYNC_SIM_TRACE=1 TAPESYNC_SIM_STEPS={} \
                 TAPESYNC_SIM_SEED={seed} cargo test --test simulation replay -- --nocapture\n\
                 setup: {setup:?}\n\
                 shrunk history ({} of {} steps), failing with: {small_err}{history}",
                list.join(","),
                small.len(),
                steps.len()
            );
        }
    }
}

/// A step of a reference-model history: whole rounds, no faults.
#[derive(Clone, Debug)]
pub enum ModelStep {
    User(usize, Action),
    Round(usize),
    Advance(u64),
}

/// The setup and history of reference-model seed `seed`: one policy for all devices.
pub fn generate_model(seed: u64) -> (Setup, Vec<ModelStep>) {
    let mut rng = Rng::new(seed ^ 0x6d6f_6465_6c00_0000);
    let devices = rng.range(2, 4) as usize;
    let policy = [Policy::Merge, Policy::LocalWins, Policy::CloudWins][rng.below(3) as usize];
    let setup = Setup {
        devices,
        skews_ms: (0..devices)
            .map(|_| rng.range(0, 2 * HOUR) as i64 - HOUR as i64)
            .collect(),
        policies: vec![policy; devices],
        conflict_copies: true,
        page_size: 2,
        max_in_flight: 2,
        compact_every: rng.range(1, 6),
        retire_after_ms: 30 * 86_400_000,
    };
    let len = rng.range(10, 50);
    let steps = (0..len)
        .map(|_| {
            let d = rng.below(devices as u64) as usize;
            let p = rng.below(16) as u16;
            let k = rng.below(2) as u8;
            match rng.below(20) {
                0..=2 => ModelStep::User(d, Action::Create),
                3..=4 => ModelStep::User(d, Action::Rename(p)),
                5 => ModelStep::User(d, Action::Tag(p)),
                6 => ModelStep::User(d, Action::SetCustom(p, k)),
                7 => ModelStep::User(d, Action::RemoveCustom(p, k)),
                8 => ModelStep::User(d, Action::Duration(p)),
                9..=10 => ModelStep::User(d, Action::Rerecord(p)),
                11 => ModelStep::User(d, Action::Delete(p)),
                12..=17 => ModelStep::Round(d),
                _ => ModelStep::Advance(rng.range(1, 3 * HOUR)),
            }
        })
        .collect();
    (setup, steps)
}

/// Runs a reference-model history on the real system and on the model, and compares them.
pub fn run_model(setup: &Setup, steps: &[ModelStep]) -> Result<(), String> {
    let mut w = World::new(setup.clone());
    w.picks_only_created = true;
    let mut m = Model::new(setup.devices, setup.policies[0]);
    for s in steps {
        match s {
            ModelStep::User(d, a) => {
                if let Some(id) = w.user(*d, a) {
                    m.edited(*d, &w.devices[*d].db.entries[&id]);
                }
            }
            ModelStep::Round(d) => {
                w.round(*d)?;
                m.round(*d);
            }
            ModelStep::Advance(ms) => w.now += ms,
        }
    }
    let mut quiet = false;
    for _ in 0..12 {
        let before = w.cloud.stats;
        for d in 0..setup.devices {
            w.round(d)?;
            m.round(d);
        }
        if w.cloud.stats.since(&before).writes() == 0 {
            quiet = true;
            break;
        }
    }
    if !quiet {
        return Err("no quiescence".into());
    }
    w.check()?;
    m.check(&w.ledger.created, &w.devices[0].db.visible())
}

/// Runs reference-model seeds `range`, panicking with a replay hint on the first failure.
pub fn run_model_seeds(range: std::ops::Range<u64>) {
    for seed in range {
        let (setup, steps) = generate_model(seed);
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_model(&setup, &steps)))
                .unwrap_or_else(|_| Err("panic".into()));
        if let Err(e) = r {
            let mut history = String::new();
            for s in &steps {
                history.push_str(&format!("\n    {s:?}"));
            }
            panic!(
                "model seed {seed} failed: {e}\n\
                 replay: TAPESYNC_SIM_MODEL_SEED={seed} cargo test --test simulation replay_model -- --nocapture\n\
                 setup: {setup:?}\n\
                 history:{history}"
            );
        }
    }
}
