//! A small reference model of the policies, for histories of whole sync rounds without faults.
//!
//! It knows nothing of segments, checkpoints, outboxes, blobs or the engine: the cloud is a list of
//! published writes, one per (recording, field), in publish order, and a round on a device is
//! "pull everything, settle my unpublished edits by the policy, publish what is left". The rules
//! below are docs/sync.md in code; the simulation checks the real system against them.
//!
//! With whole rounds, every published write is the newest for its field when it is published (the
//! publisher has seen everything before it, and kept only edits that win by its policy), so the
//! cloud's value of a field is simply its last published write.

use std::collections::{BTreeMap, BTreeSet};

use tapesync::core::entry::LocalEntry;
use tapesync::core::fields::ContentHash;
use tapesync::core::hlc::Hlc;
use tapesync::core::id::RecordingId;
use tapesync::core::merge::{Policy, CONFLICT_OF};
use tapesync::core::recording::Recording;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Name,
    Tags,
    Duration,
    Custom(String),
    Audio,
    Deleted,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Name(String),
    Tags(Vec<String>),
    Duration(Option<f64>),
    Custom(Option<serde_json::Value>),
    Audio(ContentHash),
    /// A deletion, and the take the deleting user saw (by hash: the model does not follow the
    /// re-stamping local-wins does, hashes are unique per take).
    Deleted {
        seen: Option<ContentHash>,
    },
}

#[derive(Clone, Debug)]
struct Write {
    device: usize,
    rec: RecordingId,
    key: Key,
    val: Val,
    at: Hlc,
}

type Pending = BTreeMap<(RecordingId, Key), (Val, Hlc)>;

pub struct Model {
    policy: Policy,
    published: Vec<Write>,
    seen: Vec<usize>,
    pending: Vec<Pending>,
    /// Conflict copies the rules require: (original, take).
    pub copies: BTreeSet<(RecordingId, ContentHash)>,
}

impl Model {
    pub fn new(devices: usize, policy: Policy) -> Self {
        Model {
            policy,
            published: Vec::new(),
            seen: vec![0; devices],
            pending: vec![Pending::new(); devices],
            copies: BTreeSet::new(),
        }
    }

    /// Records a user's edit on device `d`: the entry's unpublished fields after it.
    pub fn edited(&mut self, d: usize, e: &LocalEntry) {
        let p = &mut self.pending[d];
        p.retain(|(rec, _), _| *rec != e.id);
        let l = &e.local;
        let mut put = |k: Key, v: Val, at: &Hlc| {
            p.insert((e.id.clone(), k), (v, at.clone()));
        };
        if let Some(t) = &l.deleted {
            let seen = e
                .cloud
                .audio
                .as_ref()
                .filter(|a| Some(&a.at) == t.seen_audio.as_ref())
                .map(|a| a.audio.hash.clone());
            put(Key::Deleted, Val::Deleted { seen }, &t.at);
            return;
        }
        if let Some(r) = &l.name {
            put(Key::Name, Val::Name(r.value.clone()), &r.at);
        }
        if let Some(r) = &l.tags {
            put(Key::Tags, Val::Tags(r.value.clone()), &r.at);
        }
        if let Some(r) = &l.duration_ms {
            put(Key::Duration, Val::Duration(r.value), &r.at);
        }
        for (k, r) in &l.custom {
            put(Key::Custom(k.clone()), Val::Custom(r.value.clone()), &r.at);
        }
        if let Some(a) = &l.audio {
            put(Key::Audio, Val::Audio(a.audio.hash.clone()), &a.at);
        }
    }

    fn last<'a>(&'a self, upto: usize, rec: &RecordingId, key: &Key) -> Option<&'a Write> {
        self.published[..upto]
            .iter()
            .rev()
            .find(|w| w.rec == *rec && w.key == *key)
    }

    fn tombstoned(&self, upto: usize, rec: &RecordingId) -> bool {
        self.last(upto, rec, &Key::Deleted).is_some()
    }

    /// One whole round on device `d`.
    pub fn round(&mut self, d: usize) {
        let before = self.seen[d];
        let end = self.published.len();
        let incoming: Vec<Write> = self.published[before..]
            .iter()
            .filter(|w| w.device != d)
            .cloned()
            .collect();
        let mut pending = std::mem::take(&mut self.pending[d]);
        let recs: BTreeSet<RecordingId> = incoming.iter().map(|w| w.rec.clone()).collect();
        for rec in &recs {
            let mine: Vec<(Key, Val)> = pending
                .iter()
                .filter(|((r, _), _)| r == rec)
                .map(|((_, k), (v, _))| (k.clone(), v.clone()))
                .collect();
            let deleted_before = self.tombstoned(before, rec);
            let deleted_now = self.tombstoned(end, rec);
            if deleted_now && !deleted_before {
                // A deletion arrived: deletes are final; audio the deleter did not see survives.
                let i_deleted = mine.iter().any(|(k, _)| *k == Key::Deleted);
                // When new audio arrives in the same round, which of it and the deletion this
                // device applies first depends on segment order; the model predicts copies only
                // when the outcome does not.
                let racing_take = incoming
                    .iter()
                    .any(|w| w.rec == *rec && w.key == Key::Audio);
                if !i_deleted {
                    let seen: Vec<Option<ContentHash>> = incoming
                        .iter()
                        .filter(|w| w.rec == *rec)
                        .filter_map(|w| match &w.val {
                            Val::Deleted { seen } => Some(seen.clone()),
                            _ => None,
                        })
                        .collect();
                    let cloud_audio = self.last(before, rec, &Key::Audio).cloned();
                    let my_take = mine.iter().find_map(|(k, v)| match (k, v) {
                        (Key::Audio, Val::Audio(h)) => Some(h.clone()),
                        _ => None,
                    });
                    let keep = if racing_take && my_take.is_none() {
                        None
                    } else if self.policy == Policy::LocalWins && !mine.is_empty() {
                        my_take.or_else(|| {
                            cloud_audio.as_ref().and_then(|w| match &w.val {
                                Val::Audio(h) => Some(h.clone()),
                                _ => None,
                            })
                        })
                    } else if my_take.is_some() {
                        my_take
                    } else {
                        cloud_audio
                            .filter(|w| {
                                w.device == d
                                    && seen.iter().all(|s| match (&w.val, s) {
                                        (Val::Audio(h), Some(seen)) => h != seen,
                                        _ => true,
                                    })
                            })
                            .and_then(|w| match w.val {
                                Val::Audio(h) => Some(h),
                                _ => None,
                            })
                    };
                    if let Some(h) = keep {
                        self.copies.insert((rec.clone(), h));
                    }
                }
                pending.retain(|(r, _), _| r != rec);
                continue;
            }
            if deleted_before {
                continue;
            }
            if mine.iter().any(|(k, _)| *k == Key::Deleted) {
                // My deletion met an edit from elsewhere.
                if self.policy == Policy::CloudWins {
                    pending.retain(|(r, _), _| r != rec);
                }
                continue;
            }
            let keys: BTreeSet<Key> = incoming
                .iter()
                .filter(|w| w.rec == *rec)
                .map(|w| w.key.clone())
                .collect();
            for key in keys {
                let Some((val, at)) = pending.get(&(rec.clone(), key.clone())).cloned() else {
                    continue;
                };
                let Some(newest) = self.last(end, rec, &key) else {
                    continue;
                };
                let keep = match self.policy {
                    Policy::Merge => at > newest.at,
                    Policy::LocalWins => true,
                    Policy::CloudWins => false,
                };
                if !keep {
                    pending.remove(&(rec.clone(), key.clone()));
                    if let Val::Audio(h) = val {
                        self.copies.insert((rec.clone(), h));
                    }
                }
            }
        }
        for ((rec, key), (val, at)) in pending {
            self.published.push(Write {
                device: d,
                rec,
                key,
                val,
                at,
            });
        }
        self.seen[d] = self.published.len();
    }

    /// Checks what devices show against the model, for the recordings users created.
    pub fn check(
        &self,
        created: &BTreeSet<RecordingId>,
        shown: &[Recording],
    ) -> Result<(), String> {
        let by_id: BTreeMap<&RecordingId, &Recording> = shown.iter().map(|r| (&r.id, r)).collect();
        let end = self.published.len();
        for rec in created {
            let alive = !self.tombstoned(end, rec);
            let Some(r) = by_id.get(rec) else {
                if alive {
                    return Err(format!("model: {rec} should be alive"));
                }
                continue;
            };
            if !alive {
                return Err(format!("model: {rec} should be deleted"));
            }
            for w in self.published.iter().filter(|w| w.rec == *rec) {
                let newest = self.last(end, rec, &w.key).map(|x| &x.val);
                if newest != Some(&w.val) {
                    continue;
                }
                let ok = match &w.val {
                    Val::Name(n) => r.name == *n,
                    Val::Tags(t) => r.tags == *t,
                    Val::Duration(x) => r.duration_ms == *x,
                    Val::Custom(v) => {
                        let Key::Custom(k) = &w.key else {
                            unreachable!()
                        };
                        r.custom.get(k) == v.as_ref()
                    }
                    Val::Audio(h) => r.content_hash.as_deref() == Some(h.as_str()),
                    Val::Deleted { .. } => false,
                };
                if !ok {
                    return Err(format!(
                        "model: {rec}.{:?} should be {:?}, devices show {r:?}",
                        w.key, w.val
                    ));
                }
            }
        }
        let actual: BTreeSet<(String, String)> = shown
            .iter()
            .filter_map(|r| {
                let origin = r.custom.get(CONFLICT_OF)?.as_str()?.to_owned();
                Some((origin, r.content_hash.clone()?))
            })
            .collect();
        for (rec, h) in &self.copies {
            if !actual.contains(&(rec.to_string(), h.to_string())) {
                return Err(format!(
                    "model: a conflict copy of {rec} with take {h} is missing"
                ));
            }
        }
        Ok(())
    }
}
