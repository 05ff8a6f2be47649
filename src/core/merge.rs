//! Applying another device's change to a local entry, and the conflict policies.
//!
//! The cloud's version of a recording is always the per-field last-writer-wins merge of everything
//! published, the same on every device. A conflict exists only on the device that holds an
//! unpublished edit of a field when a pulled change moves that field: the policy decides which
//! survives, and the decision is published like any edit, so every device ends up agreeing.
//!
//! - `merge`: the edit with the later stamp wins, field by field.
//! - `local-wins`: the unpublished edit wins; it is re-stamped after the pulled one so that it wins
//!   on every device too.
//! - `cloud-wins`: the pulled change wins; the unpublished edit is dropped.
//!
//! Audio is never dropped silently. When a take loses against a take recorded without seeing it,
//! the device that recorded the losing take (it holds the bytes) turns it into a conflict copy: a
//! new recording with the same metadata, whose custom field `conflictOf` names the original. This
//! holds in every policy, and also when the winner is a deletion that did not see the take.
//!
//! Deletions are final: once a deletion is published, the id stays deleted everywhere, and edits of
//! it are dropped. What the policies decide is the fate of an unpublished local deletion that meets
//! a remote edit (cloud-wins withdraws it, the others publish it) and of unpublished local edits
//! that meet a remote deletion (local-wins keeps them as a conflict copy, the others drop them,
//! keeping audio as a copy). See `docs/sync.md` for the same rules in app developers' words.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::entry::LocalEntry;
use super::fields::{AudioVersion, Field, Fields, Lww};
use super::hlc::{Clock, Hlc};
use super::id::RecordingId;
use super::log::Change;
use super::state::{Phase, Step};

/// The custom field that names a conflict copy's original recording.
pub const CONFLICT_OF: &str = "conflictOf";

/// How a device settles its unpublished edits against changes from other devices.
///
/// ```
/// use tapesync::core::merge::Policy;
/// assert_eq!(serde_json::to_string(&Policy::LocalWins).unwrap(), r#""local-wins""#);
/// assert_eq!(Policy::parse("cloud-wins"), Some(Policy::CloudWins));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// This device's unpublished edits win.
    LocalWins,
    /// What is already in the cloud wins.
    CloudWins,
    /// Field by field, the later edit wins.
    #[default]
    Merge,
}

impl Policy {
    /// The policy with this name (`local-wins`, `cloud-wins`, `merge`).
    ///
    /// ```
    /// use tapesync::core::merge::Policy;
    /// assert_eq!(Policy::parse("merge"), Some(Policy::Merge));
    /// assert_eq!(Policy::parse("newest"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Policy> {
        match s {
            "local-wins" => Some(Policy::LocalWins),
            "cloud-wins" => Some(Policy::CloudWins),
            "merge" => Some(Policy::Merge),
            _ => None,
        }
    }
}

/// The conflict settings of a device.
///
/// ```
/// use tapesync::core::merge::{MergeConfig, Policy};
/// let c = MergeConfig::default();
/// assert_eq!((c.policy, c.conflict_copies), (Policy::Merge, true));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeConfig {
    /// The policy.
    pub policy: Policy,
    /// Keep losing audio as conflict copies (default `true`); `false` drops it.
    pub conflict_copies: bool,
}

impl Default for MergeConfig {
    fn default() -> Self {
        MergeConfig {
            policy: Policy::Merge,
            conflict_copies: true,
        }
    }
}

/// Which side a conflict was settled for.
///
/// ```
/// use tapesync::core::merge::Kept;
/// assert_ne!(Kept::Local, Kept::Cloud);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kept {
    /// This device's edit.
    Local,
    /// The other device's change.
    Cloud,
}

impl Kept {
    /// `"local"` or `"cloud"`, the serde name, for the `syncconflict` event. A `match` rather
    /// than `{:?}` and `to_lowercase`, which bring Unicode's case tables into the wasm (issue 14).
    ///
    /// ```
    /// use tapesync::core::merge::Kept;
    /// assert_eq!(Kept::Cloud.as_str(), "cloud");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Kept::Local => "local",
            Kept::Cloud => "cloud",
        }
    }
}

/// One conflict settled while applying a change.
///
/// ```
/// use tapesync::core::{fields::Field, id::RecordingId, merge::{Conflict, Kept}};
/// let c = Conflict { recording: RecordingId::parse("r").unwrap(), field: Field::Name, kept: Kept::Cloud, copy: None };
/// assert_eq!(c.to_string(), "r: name settled for the cloud's change");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// The recording.
    pub recording: RecordingId,
    /// The field both sides changed (`Audio` for takes, `Deleted` for delete against edit).
    pub field: Field,
    /// The side that won.
    pub kept: Kept,
    /// The conflict copy made for the losing audio, if any.
    pub copy: Option<RecordingId>,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = match self.kept {
            Kept::Local => "this device's edit",
            Kept::Cloud => "the cloud's change",
        };
        write!(f, "{}: {} settled for {side}", self.recording, self.field)?;
        if let Some(c) = &self.copy {
            write!(f, ", losing audio kept as {c}")?;
        }
        Ok(())
    }
}

/// What applying one change did.
///
/// ```
/// use tapesync::core::merge::Applied;
/// let a = Applied::default();
/// assert!(a.entries.is_empty() && !a.visible_change);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Applied {
    /// Entries to write: the recording's and any conflict copies made.
    pub entries: Vec<LocalEntry>,
    /// Local audio to copy, `(from, to)`, before anything else is written: conflict copies.
    pub copy_audio: Vec<(RecordingId, RecordingId)>,
    /// Recordings whose local audio is to be deleted (they were deleted).
    pub drop_audio: Vec<RecordingId>,
    /// Conflicts settled.
    pub conflicts: Vec<Conflict>,
    /// Whether what the app sees of the recording changed.
    pub visible_change: bool,
    /// Entries (of conflict copies) the caller must look up before this result counts: when not
    /// empty, apply the change again with `existing` answering for them.
    pub need: Vec<RecordingId>,
}

/// The id of the conflict copy of `origin`'s audio version stamped `take`.
///
/// It is a UUIDv7 at the take's time whose random bits come from hashing the origin and the stamp,
/// so that making the same copy twice (after a crash, or on two devices) makes one recording.
///
/// ```
/// use tapesync::core::{device::DeviceId, hlc::Hlc, id::RecordingId, merge::copy_id};
/// let r = RecordingId::parse("r1").unwrap();
/// let t = Hlc::new(1_700_000_000_000, 0, DeviceId::parse("d").unwrap());
/// assert_eq!(copy_id(&r, &t), copy_id(&r, &t));
/// assert_ne!(copy_id(&r, &t), r);
/// ```
pub fn copy_id(origin: &RecordingId, take: &Hlc) -> RecordingId {
    let digest = Sha256::digest(format!("conflict-copy\n{origin}\n{take}").as_bytes());
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    RecordingId::new_v7(take.wall_ms(), random)
}

/// A conflict copy of `origin` (as this device shows it) with audio `take`, as a new pending
/// recording of this device whose audio is the bytes this device holds.
fn conflict_copy(
    origin: &RecordingId,
    view: &Fields,
    take: &AudioVersion,
    clock: &mut Clock,
    now: u64,
) -> LocalEntry {
    let id = copy_id(origin, &take.at);
    let at = clock.tick(now);
    let mut local = Fields {
        created_at: Some(Lww {
            value: view
                .created_at
                .as_ref()
                .map(|c| c.value)
                .unwrap_or(take.at.wall_ms() as f64),
            at: at.clone(),
        }),
        name: Some(Lww {
            value: view
                .name
                .as_ref()
                .map(|n| n.value.clone())
                .unwrap_or_default(),
            at: at.clone(),
        }),
        tags: Some(Lww {
            value: view
                .tags
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_default(),
            at: at.clone(),
        }),
        duration_ms: Some(Lww {
            value: view.duration_ms.as_ref().and_then(|d| d.value),
            at: at.clone(),
        }),
        custom: Default::default(),
        audio: Some(AudioVersion {
            audio: take.audio.clone(),
            at: at.clone(),
            base: None,
        }),
        deleted: None,
    };
    for (k, r) in &view.custom {
        if let Some(v) = &r.value {
            local.custom.insert(
                k.clone(),
                Lww {
                    value: Some(v.clone()),
                    at: at.clone(),
                },
            );
        }
    }
    local.custom.insert(
        CONFLICT_OF.to_owned(),
        Lww {
            value: Some(serde_json::Value::String(origin.to_string())),
            at,
        },
    );
    let mut e = LocalEntry {
        local,
        audio_here: Some(take.audio.hash.clone()),
        phase: Phase::Conflict,
        ..LocalEntry::remote(id)
    };
    e.refresh();
    e
}

struct Ctx<'a> {
    cfg: &'a MergeConfig,
    clock: &'a mut Clock,
    now: u64,
    existing: &'a dyn Fn(&RecordingId) -> Option<bool>,
    out: Applied,
}

impl Ctx<'_> {
    /// Keeps `take` as a conflict copy if copies are on and this device holds its bytes.
    ///
    /// The copy's id is derived from the take, so the copy may exist already: made earlier, or
    /// by another device from the same take. Then it is not made again (and a copy the user has
    /// deleted stays deleted).
    fn keep_copy(
        &mut self,
        entry: &LocalEntry,
        view: &Fields,
        take: &AudioVersion,
    ) -> Option<RecordingId> {
        if !self.cfg.conflict_copies || entry.audio_here.as_ref() != Some(&take.audio.hash) {
            return None;
        }
        let id = copy_id(&entry.id, &take.at);
        if self.out.entries.iter().any(|e| e.id == id) {
            return Some(id);
        }
        match (self.existing)(&id) {
            None => self.out.need.push(id.clone()),
            Some(true) => {}
            Some(false) => {
                let copy = conflict_copy(&entry.id, view, take, self.clock, self.now);
                self.out.copy_audio.push((entry.id.clone(), id.clone()));
                self.out.entries.push(copy);
            }
        }
        Some(id)
    }

    fn conflict(
        &mut self,
        recording: &RecordingId,
        field: Field,
        kept: Kept,
        copy: Option<RecordingId>,
    ) {
        self.out.conflicts.push(Conflict {
            recording: recording.clone(),
            field,
            kept,
            copy,
        });
    }
}

/// Applies one change pulled from another device to this device's entry for the recording
/// (`None` if the device has never heard of it), settling conflicts with unpublished local edits
/// by `cfg`. The clock observes every stamp in the change, so later local edits order after it.
///
/// `existing` says whether an entry exists for a recording id (`None`: not looked up). Conflict
/// copies have ids derived from their take, so a copy may exist already; when the answer is
/// `None`, the id is listed in [`Applied::need`] and the caller looks it up and applies again
/// (the function is pure, so applying again from the same inputs is safe).
///
/// ```
/// use tapesync::core::{device::DeviceId, entry::{Edit, LocalEntry}, fields::{Fields, Lww}, hlc::{Clock, Hlc},
///     id::RecordingId, log::Change, merge::{apply_change, MergeConfig, Policy}, recording::Recording};
/// let mut mine = Clock::new(DeviceId::parse("phone").unwrap());
/// let mut rec = Recording::new(RecordingId::parse("r").unwrap(), "audio/ogg".into(), 9, 0.0);
/// rec.content_hash = Some("0".repeat(64));
/// let mut entry = LocalEntry::create(&rec, &mut mine, 1_000).unwrap();
/// entry.edit(&Edit { name: Some("mine".into()), ..Edit::default() }, &mut mine, 2_000).unwrap();
/// // Meanwhile the laptop renamed it, later by the clock.
/// let mut fields = Fields::default();
/// fields.name = Some(Lww { value: "theirs".into(), at: Hlc::new(3_000, 0, DeviceId::parse("laptop").unwrap()) });
/// let change = Change { id: rec.id.clone(), fields };
/// for (policy, expect) in [(Policy::Merge, "theirs"), (Policy::LocalWins, "mine"), (Policy::CloudWins, "theirs")] {
///     let mut clock = mine.clone();
///     let cfg = MergeConfig { policy, conflict_copies: true };
///     let out = apply_change(Some(entry.clone()), &change, &cfg, &mut clock, 2_500, &|_| Some(false));
///     assert_eq!(out.entries[0].public().unwrap().name, expect);
///     assert_eq!(out.conflicts.len(), 1);
/// }
/// ```
pub fn apply_change(
    entry: Option<LocalEntry>,
    change: &Change,
    cfg: &MergeConfig,
    clock: &mut Clock,
    now: u64,
    existing: &dyn Fn(&RecordingId) -> Option<bool>,
) -> Applied {
    for s in change.fields.all_stamps() {
        clock.observe(s);
    }
    let mut e = entry.unwrap_or_else(|| LocalEntry::remote(change.id.clone()));
    let mut ctx = Ctx {
        cfg,
        clock,
        now,
        existing,
        out: Applied::default(),
    };
    let me = ctx.clock.device().clone();
    let before_cloud = e.cloud.clone();
    let view_before = e.view();
    let public_before = e.public();
    let changed = e.cloud.merge(&change.fields);
    if changed.is_empty() {
        return ctx.out;
    }
    if let Some(old) = before_cloud.audio.as_ref().filter(|v| v.at.device() == &me) {
        let live = e.cloud.deleted.is_none()
            && e.cloud.audio.as_ref().map(|a| &a.audio.hash) == Some(&old.audio.hash);
        if !live {
            // A take this device recorded is no longer the recording's audio, and never will be
            // again (stamps only grow, deletes are final). Its author deletes its blob, whatever
            // else happens; whoever replaced or deleted it knowingly does too, and deleting twice
            // is harmless. Every take has an author that keeps syncing, so no blob is left behind.
            e.add_garbage(old.audio.hash.clone());
        }
    }

    if before_cloud.deleted.is_none() && e.cloud.deleted.is_some() {
        remote_delete(&mut ctx, &mut e, &before_cloud, &view_before, &me);
    } else if e.cloud.deleted.is_some() {
        // Already deleted: later edits of a deleted recording have no effect (deletes are final).
    } else if e.local.deleted.is_some() {
        // A remote edit met this device's unpublished deletion.
        match cfg.policy {
            Policy::CloudWins => {
                e.local = Fields::default();
                e.go(Step::CancelDelete);
                ctx.conflict(&e.id, Field::Deleted, Kept::Cloud, None);
            }
            Policy::LocalWins | Policy::Merge => {
                ctx.conflict(&e.id, Field::Deleted, Kept::Local, None);
            }
        }
    } else {
        if changed.contains(&Field::Audio) {
            audio_changed(&mut ctx, &mut e, &before_cloud, &view_before, &me);
        }
        for f in &changed {
            settle_field(&mut ctx, &mut e, f);
        }
        if e.local.is_empty() && matches!(e.phase, Phase::Pending | Phase::Conflict | Phase::Failed)
        {
            e.go(Step::Settle);
        }
    }
    e.refresh();
    ctx.out.visible_change = e.public() != public_before;
    ctx.out.entries.insert(0, e);
    ctx.out
}

/// A deletion arrived for a recording this device still had.
fn remote_delete(
    ctx: &mut Ctx<'_>,
    e: &mut LocalEntry,
    before_cloud: &Fields,
    view_before: &Fields,
    me: &super::device::DeviceId,
) {
    let seen = e.cloud.deleted.as_ref().and_then(|t| t.seen_audio.clone());
    let deleted_here_too = e.local.deleted.is_some();
    let has_local_edits = !e.local.is_empty() && !deleted_here_too;
    // The take this device recorded and the deleting user never saw, if any.
    let unseen_own: Option<AudioVersion> = if deleted_here_too {
        None
    } else if let Some(l) = &e.local.audio {
        Some(l.clone())
    } else {
        before_cloud
            .audio
            .as_ref()
            .filter(|v| v.at.device() == me && seen.as_ref() != Some(&v.at))
            .cloned()
    };
    let keep = if ctx.cfg.policy == Policy::LocalWins && has_local_edits {
        // Local wins: the recording as this device shows it survives, as a copy.
        view_before.audio.clone()
    } else {
        unseen_own.clone()
    };
    if let Some(take) = keep {
        let copy = ctx.keep_copy(e, view_before, &take);
        ctx.conflict(&e.id, Field::Deleted, Kept::Cloud, copy);
    } else if has_local_edits {
        ctx.conflict(&e.id, Field::Deleted, Kept::Cloud, None);
    }
    if let Some(l) = &e.local.audio {
        e.add_garbage(l.audio.hash.clone());
    }
    if let Some(v) = unseen_own {
        e.add_garbage(v.audio.hash);
    }
    if e.audio_here.take().is_some() {
        ctx.out.drop_audio.push(e.id.clone());
    }
    e.local = Fields::default();
    e.uploaded = None;
    e.failure = None;
    e.go(Step::RemoteDelete);
}

/// The cloud's audio moved while this device was showing `view_before`.
fn audio_changed(
    ctx: &mut Ctx<'_>,
    e: &mut LocalEntry,
    before_cloud: &Fields,
    view_before: &Fields,
    me: &super::device::DeviceId,
) {
    let Some(winner) = e.cloud.audio.clone() else {
        return;
    };
    if let Some(mut l) = e.local.audio.clone() {
        if l.audio.hash == winner.audio.hash {
            // The same bytes won elsewhere (e.g. the same conflict copy made on two devices):
            // nothing is lost by dropping this take, and its blob is the winner's.
            e.local.audio = None;
            e.uploaded = None;
            return;
        }
        let local_wins = match ctx.cfg.policy {
            Policy::Merge => l.at > winner.at,
            Policy::LocalWins => true,
            Policy::CloudWins => false,
        };
        if local_wins {
            if l.at < winner.at {
                // Re-stamped after the pulled take so it wins everywhere; the base stays, so the
                // other take's author sees it was not seen and keeps it as a copy.
                l.at = ctx.clock.tick(ctx.now);
                e.local.audio = Some(l);
            }
            ctx.conflict(&e.id, Field::Audio, Kept::Local, None);
        } else {
            let copy = ctx.keep_copy(e, view_before, &l);
            e.add_garbage(l.audio.hash.clone());
            e.local.audio = None;
            e.uploaded = None;
            ctx.conflict(&e.id, Field::Audio, Kept::Cloud, copy);
        }
    } else if let Some(old) = &before_cloud.audio {
        if old.at.device() == me
            && old.at != winner.at
            && old.audio.hash != winner.audio.hash
            && !winner.replaced(old)
        {
            // This device's published take lost to one recorded without seeing it.
            let copy = ctx.keep_copy(e, view_before, old);
            ctx.conflict(&e.id, Field::Audio, Kept::Cloud, copy);
        }
    }
}

/// A metadata field moved in the cloud; settle it against an unpublished local edit of it.
fn settle_field(ctx: &mut Ctx<'_>, e: &mut LocalEntry, f: &Field) {
    fn settle<T: Serialize + Clone>(
        ctx: &mut Ctx<'_>,
        local: &mut Option<Lww<T>>,
        cloud: &Option<Lww<T>>,
    ) -> Option<Kept> {
        let (Some(l), Some(c)) = (local.as_mut(), cloud.as_ref()) else {
            return None;
        };
        let keep = match ctx.cfg.policy {
            Policy::Merge => l.beats(c),
            Policy::LocalWins => true,
            Policy::CloudWins => false,
        };
        if keep {
            if !l.beats(c) {
                l.at = ctx.clock.tick(ctx.now);
            }
            Some(Kept::Local)
        } else {
            *local = None;
            Some(Kept::Cloud)
        }
    }
    let kept = match f {
        Field::CreatedAt => settle(ctx, &mut e.local.created_at, &e.cloud.created_at),
        Field::Name => settle(ctx, &mut e.local.name, &e.cloud.name),
        Field::Tags => settle(ctx, &mut e.local.tags, &e.cloud.tags),
        Field::DurationMs => settle(ctx, &mut e.local.duration_ms, &e.cloud.duration_ms),
        Field::Custom(k) => {
            let cloud = e.cloud.custom.get(k).cloned();
            let mut local = e.local.custom.remove(k);
            let kept = settle(ctx, &mut local, &cloud);
            if let Some(l) = local {
                e.local.custom.insert(k.clone(), l);
            }
            kept
        }
        Field::Audio | Field::Deleted => None,
    };
    if let Some(kept) = kept {
        ctx.conflict(&e.id.clone(), f.clone(), kept, None);
    }
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default)] // tests build fields one by one for clarity
mod tests {
    use super::*;
    use crate::core::device::DeviceId;
    use crate::core::entry::Edit;
    use crate::core::fields::{AudioRef, ContentHash, Tombstone};
    use crate::core::recording::Recording;

    fn dev(s: &str) -> DeviceId {
        DeviceId::parse(s).unwrap()
    }

    fn hash(c: char) -> ContentHash {
        ContentHash::parse(&c.to_string().repeat(64)).unwrap()
    }

    fn take(c: char, at: Hlc, base: Option<Hlc>) -> AudioVersion {
        AudioVersion {
            audio: AudioRef {
                hash: hash(c),
                size: 1,
                mime_type: "audio/ogg".into(),
            },
            at,
            base,
        }
    }

    /// A recording created on "a" and published, as device `me` holds it.
    fn published(me: &str) -> (LocalEntry, Clock) {
        let mut a = Clock::new(dev("a"));
        let mut rec = Recording::new(RecordingId::parse("r").unwrap(), "audio/ogg".into(), 1, 0.0);
        rec.content_hash = Some(hash('0').to_string());
        let mut e = LocalEntry::create(&rec, &mut a, 1_000).unwrap();
        e.upload_confirmed(&hash('0'));
        let sealed = e.seal();
        e.confirm();
        if me == "a" {
            return (e, a);
        }
        let mut clock = Clock::new(dev(me));
        let out = apply_change(
            None,
            &sealed.change.unwrap(),
            &MergeConfig::default(),
            &mut clock,
            1_000,
            &|_| Some(false),
        );
        let mut e = out.entries[0].clone();
        e.audio_here = Some(hash('0'));
        e.refresh();
        (e, clock)
    }

    fn cfg(policy: Policy) -> MergeConfig {
        MergeConfig {
            policy,
            conflict_copies: true,
        }
    }

    #[test]
    fn concurrent_takes_keep_the_loser_as_a_copy_made_by_its_author() {
        for policy in [Policy::Merge, Policy::LocalWins, Policy::CloudWins] {
            // "a" published take 0; "b" re-recorded it (take 1, unpublished); "c" re-recorded it
            // too and published first (take 2, later stamp).
            let (mut b, mut bc) = published("b");
            b.replace_audio(
                take('1', Hlc::new(0, 0, dev("b")), None).audio,
                &mut bc,
                2_000,
            )
            .unwrap();
            let base = b.cloud.audio.as_ref().unwrap().at.clone();
            let mut f = Fields::default();
            f.audio = Some(take('2', Hlc::new(3_000, 0, dev("c")), Some(base)));
            let change = Change {
                id: b.id.clone(),
                fields: f,
            };
            let out = apply_change(
                Some(b.clone()),
                &change,
                &cfg(policy),
                &mut bc,
                2_500,
                &|_| Some(false),
            );
            let e = &out.entries[0];
            match policy {
                Policy::LocalWins => {
                    assert_eq!(e.view().audio.unwrap().audio.hash, hash('1'));
                    assert!(e.local.audio.as_ref().unwrap().at > Hlc::new(3_000, 0, dev("c")));
                    assert_eq!(out.entries.len(), 1, "the other take's author copies it");
                }
                Policy::Merge | Policy::CloudWins => {
                    assert_eq!(e.view().audio.unwrap().audio.hash, hash('2'));
                    assert_eq!(out.entries.len(), 2);
                    let copy = out.entries[1].public().unwrap();
                    assert_eq!(copy.content_hash.as_deref(), Some(hash('1').as_str()));
                    assert_eq!(copy.custom[CONFLICT_OF], "r");
                    assert_eq!(
                        out.copy_audio,
                        vec![(e.id.clone(), out.entries[1].id.clone())]
                    );
                    assert_eq!(e.garbage, vec![hash('1')]);
                    assert!(e.needs_download().is_some());
                }
            }
        }
    }

    #[test]
    fn a_published_take_that_loses_unseen_is_copied_by_its_author_only() {
        // "a" authored take 0 (published). "c" re-recorded without seeing it (base None).
        let (a, mut ac) = published("a");
        let mut f = Fields::default();
        f.audio = Some(take('2', Hlc::new(9_000, 0, dev("c")), None));
        let change = Change {
            id: a.id.clone(),
            fields: f.clone(),
        };
        let out = apply_change(
            Some(a.clone()),
            &change,
            &cfg(Policy::Merge),
            &mut ac,
            5_000,
            &|_| Some(false),
        );
        assert_eq!(out.entries.len(), 2);
        // The same change on a device that did not author take 0 makes no copy.
        let (b, mut bc) = published("b");
        let out = apply_change(
            Some(b),
            &change,
            &cfg(Policy::Merge),
            &mut bc,
            5_000,
            &|_| Some(false),
        );
        assert_eq!(out.entries.len(), 1);
        // A deliberate replacement (base = take 0) makes no copy, and its author trashes take 0.
        let mut f2 = Fields::default();
        f2.audio = Some(take(
            '3',
            Hlc::new(9_000, 0, dev("c")),
            Some(a.cloud.audio.as_ref().unwrap().at.clone()),
        ));
        let out = apply_change(
            Some(a),
            &Change {
                id: change.id.clone(),
                fields: f2,
            },
            &cfg(Policy::Merge),
            &mut ac,
            5_000,
            &|_| Some(false),
        );
        assert_eq!(out.entries.len(), 1);
        assert!(out.conflicts.is_empty());
    }

    #[test]
    fn delete_against_edit_follows_the_policy() {
        // "b" renamed the recording (unpublished); a deletion arrives that saw take 0.
        for policy in [Policy::Merge, Policy::LocalWins, Policy::CloudWins] {
            let (mut b, mut bc) = published("b");
            b.edit(
                &Edit {
                    name: Some("renamed".into()),
                    ..Edit::default()
                },
                &mut bc,
                2_000,
            )
            .unwrap();
            let mut f = Fields::default();
            f.deleted = Some(Tombstone {
                at: Hlc::new(1_500, 0, dev("c")),
                seen_audio: b.cloud.audio.as_ref().map(|a| a.at.clone()),
            });
            let change = Change {
                id: b.id.clone(),
                fields: f,
            };
            let out = apply_change(Some(b), &change, &cfg(policy), &mut bc, 2_500, &|_| {
                Some(false)
            });
            assert_eq!(out.entries[0].phase, Phase::Deleted);
            assert_eq!(out.drop_audio.len(), 1);
            let copies: Vec<_> = out.entries[1..]
                .iter()
                .map(|e| e.public().unwrap())
                .collect();
            if policy == Policy::LocalWins {
                assert_eq!(copies.len(), 1);
                assert_eq!(copies[0].name, "renamed");
            } else {
                assert!(copies.is_empty());
            }
        }
        // "b" deleted the recording (unpublished); a rename arrives.
        for policy in [Policy::Merge, Policy::LocalWins, Policy::CloudWins] {
            let (mut b, mut bc) = published("b");
            b.delete(&mut bc, 2_000).unwrap();
            let mut f = Fields::default();
            f.name = Some(Lww {
                value: "theirs".into(),
                at: Hlc::new(1_500, 0, dev("c")),
            });
            let change = Change {
                id: b.id.clone(),
                fields: f,
            };
            let out = apply_change(Some(b), &change, &cfg(policy), &mut bc, 2_500, &|_| {
                Some(false)
            });
            let e = &out.entries[0];
            if policy == Policy::CloudWins {
                assert_eq!(e.public().unwrap().name, "theirs");
                assert!(
                    e.needs_download().is_some(),
                    "its audio was dropped with the delete"
                );
            } else {
                assert!(e.public().is_none());
                assert!(e.needs_push());
            }
        }
    }

    #[test]
    fn an_unseen_own_take_survives_a_deletion() {
        let (a, mut ac) = published("a");
        let mut f = Fields::default();
        f.deleted = Some(Tombstone {
            at: Hlc::new(9_000, 0, dev("c")),
            seen_audio: None, // "c" never saw take 0
        });
        let out = apply_change(
            Some(a.clone()),
            &Change {
                id: a.id.clone(),
                fields: f.clone(),
            },
            &cfg(Policy::Merge),
            &mut ac.clone(),
            5_000,
            &|_| Some(false),
        );
        assert_eq!(out.entries.len(), 2);
        let no_copies = MergeConfig {
            policy: Policy::Merge,
            conflict_copies: false,
        };
        let out = apply_change(
            Some(a.clone()),
            &Change {
                id: a.id.clone(),
                fields: f,
            },
            &no_copies,
            &mut ac,
            5_000,
            &|_| Some(false),
        );
        assert_eq!(out.entries.len(), 1);
        assert_eq!(out.entries[0].garbage, vec![hash('0')]);
    }

    #[test]
    fn applying_twice_changes_nothing_the_second_time() {
        let (b, mut bc) = published("b");
        let mut f = Fields::default();
        f.name = Some(Lww {
            value: "x".into(),
            at: Hlc::new(5_000, 0, dev("c")),
        });
        let change = Change {
            id: b.id.clone(),
            fields: f,
        };
        let out = apply_change(Some(b), &change, &cfg(Policy::Merge), &mut bc, 10, &|_| {
            Some(false)
        });
        assert_eq!(out.entries[0].public().unwrap().name, "x");
        let again = apply_change(
            Some(out.entries[0].clone()),
            &change,
            &cfg(Policy::Merge),
            &mut bc,
            10,
            &|_| Some(false),
        );
        assert!(again.entries.is_empty());
    }
}
