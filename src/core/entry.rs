//! What a device keeps per recording for sync: the cloud's version, its own unpublished edits, and
//! which audio bytes it holds.
//!
//! The store keeps one [`LocalEntry`] per recording in its `sync` object store (key: the recording
//! id) next to the public [`Recording`], which is always [`LocalEntry::public`] of the entry. Local
//! edits are pure functions on an entry and the device's [`Clock`]; the store runs them inside the
//! same IndexedDB transaction that reads and writes the entry and the clock, so edits made in two
//! tabs, or during a sync, are never lost.
//!
//! The entry serializes a `work` field (`1`) only while the sync engine has something to do for it
//! (push its edits, download its audio). An IndexedDB index on `work` holds exactly those entries,
//! so finding pending work costs time in the number of pending recordings, not in the total.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::fields::{AudioRef, AudioVersion, ContentHash, Fields, Lww, Tombstone};
use super::hlc::Clock;
use super::id::RecordingId;
use super::log::Change;
use super::recording::Recording;
use super::state::{Phase, Step};

/// A recording's sync state on one device.
///
/// ```
/// use tapesync::core::{device::DeviceId, entry::{Edit, LocalEntry}, hlc::Clock, id::RecordingId, recording::{Recording, SyncState}};
/// let mut clock = Clock::new(DeviceId::parse("laptop").unwrap());
/// let mut rec = Recording::new(RecordingId::parse("r1").unwrap(), "audio/webm".into(), 3, 1_000.0);
/// rec.content_hash = Some("ab".repeat(32));
/// let mut entry = LocalEntry::create(&rec, &mut clock, 1_000).unwrap();
/// assert_eq!(entry.public().unwrap().sync_state, SyncState::Pending);
/// entry.edit(&Edit { name: Some("Interview".into()), ..Edit::default() }, &mut clock, 2_000).unwrap();
/// assert_eq!(entry.public().unwrap().name, "Interview");
/// assert!(entry.needs_push());
/// // What the store writes: the entry (with its `work` marker) and the public recording.
/// let json = serde_json::to_value(&entry).unwrap();
/// assert_eq!(json["work"], 1);
/// // The upload path reads this one field without decoding the entry.
/// assert_eq!(json["audioHere"], "ab".repeat(32));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalEntry {
    /// The recording's id (the key in the store).
    pub id: RecordingId,
    /// The recording as the cloud has it, as far as this device knows: every change pulled, plus
    /// this device's own sealed edits.
    pub cloud: Fields,
    /// Edits made on this device that are not sealed into a log segment yet.
    pub local: Fields,
    /// The hash of the audio bytes this device holds for the recording, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_here: Option<ContentHash>,
    /// The hash of the local audio whose blob is confirmed in the cloud, while that audio is unpublished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded: Option<ContentHash>,
    /// Hashes of this recording's blobs in the cloud that nothing needs any more; deleted after this
    /// device's next log segment is in the cloud.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub garbage: Vec<ContentHash>,
    /// Where the recording stands in the sync cycle.
    pub phase: Phase,
    /// Why pushing failed, while `phase` is `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// `Some(1)` while the sync engine has work for this entry; absent otherwise (a sparse index key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<u8>,
    /// The size before compression of the take this device compressed (see
    /// [`Recording::original_size`]); local, never in the log. Shown only while that take is current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Original>,
    /// The audio is left in the cloud on purpose (evicted, or an `audio: "lazy"`/`"none"` sync):
    /// rounds do not download it, only a request for it does. Local, never in the log.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub away: bool,
    /// When the app last read this recording's audio (ms since 1970), for eviction's "least
    /// recently played". Local, never in the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub played: Option<f64>,
}

/// The size a take had before this device compressed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Original {
    /// The compressed take's content hash.
    pub hash: ContentHash,
    /// Its size before compression, in bytes.
    pub size: u64,
}

/// A metadata edit: each `Some` field is set, the others left alone.
///
/// In `custom`, a `None` (or JSON `null`) value removes the key.
///
/// ```
/// use tapesync::core::entry::Edit;
/// let e = Edit { tags: Some(vec!["podcast".into()]), ..Edit::default() };
/// assert!(e.name.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Edit {
    /// A new name.
    pub name: Option<String>,
    /// A new tag list.
    pub tags: Option<Vec<String>>,
    /// A new duration (`Some(None)` clears it).
    pub duration_ms: Option<Option<f64>>,
    /// Custom keys to set (`Some`) or remove (`None`).
    pub custom: BTreeMap<String, Option<serde_json::Value>>,
}

/// Why a local edit was refused.
///
/// ```
/// use tapesync::core::{device::DeviceId, entry::{Edit, EditError, LocalEntry}, hlc::Clock, id::RecordingId, recording::Recording};
/// let mut clock = Clock::new(DeviceId::parse("d").unwrap());
/// let rec = Recording::new(RecordingId::parse("r").unwrap(), "audio/webm".into(), 3, 0.0);
/// assert!(matches!(LocalEntry::create(&rec, &mut clock, 0), Err(EditError::Invalid(_)))); // no hash yet
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EditError {
    /// The recording is deleted (or not known here yet): it cannot be edited.
    NotFound(RecordingId),
    /// A value breaks a rule: missing or malformed content hash, a limit, a non-finite number.
    Invalid(String),
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::NotFound(id) => write!(f, "recording {id} does not exist"),
            EditError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for EditError {}

/// What sealing an entry produced: the change to publish and blobs to delete afterwards.
///
/// ```
/// use tapesync::core::entry::Sealed;
/// let s = Sealed::default();
/// assert!(s.change.is_none() && s.trash.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sealed {
    /// The change for the log segment, if the entry had edits.
    pub change: Option<Change>,
    /// Hashes of this recording's blobs to delete once the segment is in the cloud.
    pub trash: Vec<ContentHash>,
}

impl LocalEntry {
    /// An entry for a recording first heard of from the cloud: nothing known yet, nothing pending.
    ///
    /// ```
    /// use tapesync::core::{entry::LocalEntry, id::RecordingId};
    /// let e = LocalEntry::remote(RecordingId::parse("r").unwrap());
    /// assert!(e.public().is_none()); // no audio known yet: invisible
    /// ```
    pub fn remote(id: RecordingId) -> Self {
        LocalEntry {
            id,
            cloud: Fields::default(),
            local: Fields::default(),
            audio_here: None,
            uploaded: None,
            garbage: Vec::new(),
            phase: Phase::Synced,
            failure: None,
            work: None,
            original: None,
            away: false,
            played: None,
        }
    }

    /// The entry for a recording just saved on this device, with its audio (so `content_hash` must
    /// be set). Every field gets the same fresh stamp.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, entry::LocalEntry, hlc::Clock, id::RecordingId, recording::Recording};
    /// let mut clock = Clock::new(DeviceId::parse("d").unwrap());
    /// let mut rec = Recording::new(RecordingId::parse("r").unwrap(), "audio/ogg".into(), 9, 5.0);
    /// rec.content_hash = Some("0".repeat(64));
    /// rec.tags = vec!["a".into()];
    /// let e = LocalEntry::create(&rec, &mut clock, 5).unwrap();
    /// let public = e.public().unwrap();
    /// assert_eq!((public.size, public.tags.len(), public.created_at), (9, 1, 5.0));
    /// assert_eq!(e.audio_here.as_ref().unwrap().as_str(), "0".repeat(64));
    /// ```
    pub fn create(recording: &Recording, clock: &mut Clock, now: u64) -> Result<Self, EditError> {
        let hash = recording
            .content_hash
            .as_deref()
            .ok_or_else(|| {
                EditError::Invalid("a recording is synced once its content hash is known".into())
            })
            .and_then(|h| ContentHash::parse(h).map_err(|e| EditError::Invalid(e.to_string())))?;
        let at = clock.tick(now);
        let lww = |v| Lww {
            value: v,
            at: at.clone(),
        };
        let mut local = Fields {
            created_at: Some(lww_f64(recording.created_at, &at)),
            name: Some(lww(recording.name.clone())),
            tags: Some(Lww {
                value: recording.tags.clone(),
                at: at.clone(),
            }),
            duration_ms: Some(Lww {
                value: recording.duration_ms,
                at: at.clone(),
            }),
            custom: BTreeMap::new(),
            audio: Some(AudioVersion {
                audio: AudioRef {
                    hash: hash.clone(),
                    size: recording.size,
                    mime_type: recording.mime_type.clone(),
                },
                at: at.clone(),
                base: None,
            }),
            deleted: None,
        };
        for (k, v) in &recording.custom {
            if !v.is_null() {
                local.custom.insert(
                    k.clone(),
                    Lww {
                        value: Some(v.clone()),
                        at: at.clone(),
                    },
                );
            }
        }
        local.check_limits().map_err(EditError::Invalid)?;
        super::limits::check_metadata(&recording.name, &recording.tags, &recording.custom)
            .map_err(EditError::Invalid)?;
        let mut e = LocalEntry {
            local,
            original: recording.original_size.map(|size| Original {
                hash: hash.clone(),
                size,
            }),
            audio_here: Some(hash),
            phase: Phase::Pending,
            ..LocalEntry::remote(recording.id.clone())
        };
        e.refresh();
        Ok(e)
    }

    /// The recording as this device shows it: the cloud's version with local edits laid over it.
    ///
    /// ```
    /// use tapesync::core::{entry::LocalEntry, id::RecordingId};
    /// assert!(LocalEntry::remote(RecordingId::parse("r").unwrap()).view().is_empty());
    /// ```
    pub fn view(&self) -> Fields {
        self.cloud.overlay(&self.local)
    }

    /// Whether the app sees this recording: its audio is known and it is not deleted.
    ///
    /// ```
    /// use tapesync::core::{entry::LocalEntry, id::RecordingId};
    /// assert!(!LocalEntry::remote(RecordingId::parse("r").unwrap()).is_visible());
    /// ```
    pub fn is_visible(&self) -> bool {
        self.phase != Phase::Deleted
            && self.local.deleted.is_none()
            && self.cloud.deleted.is_none()
            && (self.local.audio.is_some() || self.cloud.audio.is_some())
    }

    /// The public recording the store shows apps, `None` while it is deleted or its audio unknown.
    ///
    /// `updatedAt` is the time of the latest edit's stamp, so it is the same on every device.
    ///
    /// ```
    /// use tapesync::core::{entry::LocalEntry, id::RecordingId};
    /// assert_eq!(LocalEntry::remote(RecordingId::parse("r").unwrap()).public(), None);
    /// ```
    pub fn public(&self) -> Option<Recording> {
        if !self.is_visible() {
            return None;
        }
        let v = self.view();
        let audio = v.audio.as_ref()?;
        let state = self.phase.sync_state()?;
        Some(Recording {
            id: self.id.clone(),
            name: v.name.as_ref().map(|n| n.value.clone()).unwrap_or_default(),
            mime_type: audio.audio.mime_type.clone(),
            size: audio.audio.size,
            duration_ms: v.duration_ms.as_ref().and_then(|d| d.value),
            created_at: v
                .created_at
                .as_ref()
                .map(|c| c.value)
                .unwrap_or(audio.at.wall_ms() as f64),
            updated_at: v.latest_wall_ms().unwrap_or(0) as f64,
            tags: v.tags.as_ref().map(|t| t.value.clone()).unwrap_or_default(),
            custom: v
                .custom
                .iter()
                .filter_map(|(k, r)| r.value.clone().map(|val| (k.clone(), val)))
                .collect(),
            content_hash: Some(audio.audio.hash.to_string()),
            sync_state: state,
            synced: state.is_synced(),
            original_size: self
                .original
                .as_ref()
                .filter(|o| o.hash == audio.audio.hash)
                .map(|o| o.size),
            audio_here: self.audio_here.as_ref() == Some(&audio.audio.hash),
        })
    }

    /// Changes metadata on this device.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, entry::{Edit, LocalEntry}, hlc::Clock, id::RecordingId, recording::Recording};
    /// # let mut clock = Clock::new(DeviceId::parse("d").unwrap());
    /// # let mut rec = Recording::new(RecordingId::parse("r").unwrap(), "audio/ogg".into(), 9, 5.0);
    /// # rec.content_hash = Some("0".repeat(64));
    /// let mut e = LocalEntry::create(&rec, &mut clock, 5).unwrap();
    /// let mut edit = Edit::default();
    /// edit.custom.insert("rating".into(), Some(5.into()));
    /// e.edit(&edit, &mut clock, 6).unwrap();
    /// assert_eq!(e.public().unwrap().custom["rating"], 5);
    /// edit.custom.insert("rating".into(), None);
    /// e.edit(&edit, &mut clock, 7).unwrap();
    /// assert!(e.public().unwrap().custom.is_empty());
    /// ```
    pub fn edit(&mut self, edit: &Edit, clock: &mut Clock, now: u64) -> Result<(), EditError> {
        if !self.is_visible() {
            return Err(EditError::NotFound(self.id.clone()));
        }
        let before = self.local.clone();
        let at = clock.tick(now);
        if let Some(n) = &edit.name {
            self.local.name = Some(Lww {
                value: n.clone(),
                at: at.clone(),
            });
        }
        if let Some(t) = &edit.tags {
            self.local.tags = Some(Lww {
                value: t.clone(),
                at: at.clone(),
            });
        }
        if let Some(d) = edit.duration_ms {
            self.local.duration_ms = Some(Lww {
                value: d,
                at: at.clone(),
            });
        }
        for (k, v) in &edit.custom {
            self.local.custom.insert(
                k.clone(),
                Lww {
                    value: v.clone().filter(|v| !v.is_null()),
                    at: at.clone(),
                },
            );
        }
        if let Err(m) = self.check_view() {
            self.local = before;
            return Err(EditError::Invalid(m));
        }
        self.go(Step::Edit);
        Ok(())
    }

    /// Replaces the audio on this device (a re-recording): the new version names the one it
    /// replaces, so other devices can tell a deliberate replacement from a concurrent one.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, entry::LocalEntry, fields::{AudioRef, ContentHash}, hlc::Clock, id::RecordingId, recording::Recording};
    /// # let mut clock = Clock::new(DeviceId::parse("d").unwrap());
    /// # let mut rec = Recording::new(RecordingId::parse("r").unwrap(), "audio/ogg".into(), 9, 5.0);
    /// # rec.content_hash = Some("0".repeat(64));
    /// let mut e = LocalEntry::create(&rec, &mut clock, 5).unwrap();
    /// let new = AudioRef { hash: ContentHash::parse(&"1".repeat(64)).unwrap(), size: 20, mime_type: "audio/ogg".into() };
    /// e.replace_audio(new, &mut clock, 6).unwrap();
    /// assert_eq!(e.public().unwrap().size, 20);
    /// ```
    pub fn replace_audio(
        &mut self,
        audio: AudioRef,
        clock: &mut Clock,
        now: u64,
    ) -> Result<(), EditError> {
        if !self.is_visible() {
            return Err(EditError::NotFound(self.id.clone()));
        }
        // A take replacing an unpublished take replaces, as far as anyone else can tell, what the
        // unpublished one replaced.
        let base = match &self.local.audio {
            Some(unpublished) => unpublished.base.clone(),
            None => self.cloud.audio.as_ref().map(|a| a.at.clone()),
        };
        let at = clock.tick(now);
        let version = AudioVersion { audio, at, base };
        let probe = Fields {
            audio: Some(version.clone()),
            ..Fields::default()
        };
        probe.check_limits().map_err(EditError::Invalid)?;
        if let Some(old) = self.local.audio.take() {
            // An unpublished take replaced before it was published: its blob may be in the
            // cloud already (uploaded, then the app crashed or re-recorded before sealing).
            self.add_garbage(old.audio.hash);
        }
        self.audio_here = Some(version.audio.hash.clone());
        self.uploaded = None;
        self.local.audio = Some(version);
        self.go(Step::Edit);
        Ok(())
    }

    /// Deletes the recording on this device. The store removes the public recording and its audio in
    /// the same transaction; the entry stays as a tombstone to publish.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, entry::LocalEntry, hlc::Clock, id::RecordingId, recording::Recording};
    /// # let mut clock = Clock::new(DeviceId::parse("d").unwrap());
    /// # let mut rec = Recording::new(RecordingId::parse("r").unwrap(), "audio/ogg".into(), 9, 5.0);
    /// # rec.content_hash = Some("0".repeat(64));
    /// let mut e = LocalEntry::create(&rec, &mut clock, 5).unwrap();
    /// e.delete(&mut clock, 6).unwrap();
    /// assert!(e.public().is_none());
    /// assert!(e.needs_push()); // the deletion still has to reach the cloud
    /// assert!(e.delete(&mut clock, 7).is_err());
    /// ```
    pub fn delete(&mut self, clock: &mut Clock, now: u64) -> Result<(), EditError> {
        if !self.is_visible() {
            return Err(EditError::NotFound(self.id.clone()));
        }
        let seen_audio = self.view().audio.map(|a| a.at);
        let at = clock.tick(now);
        if let Some(old) = self.local.audio.take() {
            self.add_garbage(old.audio.hash);
        }
        self.local = Fields {
            deleted: Some(Tombstone { at, seen_audio }),
            ..Fields::default()
        };
        self.audio_here = None;
        self.uploaded = None;
        self.go(Step::Delete);
        Ok(())
    }

    /// Puts a failed recording back in line for the next sync.
    ///
    /// ```
    /// use tapesync::core::{entry::LocalEntry, id::RecordingId, state::Phase};
    /// let mut e = LocalEntry::remote(RecordingId::parse("r").unwrap());
    /// assert!(!e.retry()); // only failed recordings can be retried
    /// e.phase = Phase::Failed;
    /// assert!(e.retry());
    /// assert_eq!(e.phase, Phase::Synced); // it had nothing left to push
    /// ```
    pub fn retry(&mut self) -> bool {
        match self.phase.step(Step::Retry) {
            Ok(p) => {
                self.phase = p;
                self.failure = None;
                if self.local.is_empty() {
                    // What failed is gone (e.g. a take that lost a conflict): nothing to retry.
                    self.go(Step::Settle);
                }
                self.refresh();
                true
            }
            Err(_) => false,
        }
    }

    /// Whether this device has edits or blob deletions to publish (failed recordings wait for
    /// [`LocalEntry::retry`]).
    ///
    /// ```
    /// use tapesync::core::{entry::LocalEntry, id::RecordingId};
    /// assert!(!LocalEntry::remote(RecordingId::parse("r").unwrap()).needs_push());
    /// ```
    pub fn needs_push(&self) -> bool {
        self.phase != Phase::Failed && (!self.local.is_empty() || !self.garbage.is_empty())
    }

    /// The unpublished audio whose blob still has to be uploaded, if any.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, entry::LocalEntry, hlc::Clock, id::RecordingId, recording::Recording};
    /// # let mut clock = Clock::new(DeviceId::parse("d").unwrap());
    /// # let mut rec = Recording::new(RecordingId::parse("r").unwrap(), "audio/ogg".into(), 9, 5.0);
    /// # rec.content_hash = Some("0".repeat(64));
    /// let mut e = LocalEntry::create(&rec, &mut clock, 5).unwrap();
    /// let hash = e.needs_upload().unwrap().hash.clone();
    /// e.upload_confirmed(&hash);
    /// assert!(e.needs_upload().is_none());
    /// ```
    pub fn needs_upload(&self) -> Option<&AudioRef> {
        if self.phase == Phase::Failed {
            return None;
        }
        let l = self.local.audio.as_ref()?;
        (self.uploaded.as_ref() != Some(&l.audio.hash)).then_some(&l.audio)
    }

    /// The audio this device has to download, if it shows a recording whose bytes it lacks.
    ///
    /// ```
    /// use tapesync::core::{entry::LocalEntry, id::RecordingId};
    /// assert!(LocalEntry::remote(RecordingId::parse("r").unwrap()).needs_download().is_none());
    /// ```
    pub fn needs_download(&self) -> Option<&AudioRef> {
        if !self.is_visible() {
            return None;
        }
        let a = self.local.audio.as_ref().or(self.cloud.audio.as_ref())?;
        (self.audio_here.as_ref() != Some(&a.audio.hash)).then_some(&a.audio)
    }

    /// The audio a sync round downloads: [`LocalEntry::needs_download`], unless it is left in
    /// the cloud on purpose ([`LocalEntry::away`]).
    ///
    /// ```
    /// use tapesync::core::{entry::LocalEntry, id::RecordingId};
    /// let mut e = LocalEntry::remote(RecordingId::parse("r").unwrap());
    /// e.away = true;
    /// assert!(e.wants_download().is_none());
    /// ```
    pub fn wants_download(&self) -> Option<&AudioRef> {
        self.needs_download().filter(|_| !self.away)
    }

    /// Records that the blob of unpublished audio `hash` is in the cloud.
    ///
    /// ```
    /// use tapesync::core::{entry::LocalEntry, fields::ContentHash, id::RecordingId};
    /// let mut e = LocalEntry::remote(RecordingId::parse("r").unwrap());
    /// e.upload_confirmed(&ContentHash::parse(&"0".repeat(64)).unwrap()); // not pending: ignored
    /// assert!(e.uploaded.is_none());
    /// ```
    pub fn upload_confirmed(&mut self, hash: &ContentHash) {
        if self.local.audio.as_ref().map(|a| &a.audio.hash) == Some(hash) {
            self.uploaded = Some(hash.clone());
            self.refresh();
        }
    }

    /// Records that audio `hash` was downloaded; returns whether the store should keep the bytes
    /// (the recording may have been deleted or re-recorded while they were on their way).
    ///
    /// ```
    /// use tapesync::core::{entry::LocalEntry, fields::ContentHash, id::RecordingId};
    /// let mut e = LocalEntry::remote(RecordingId::parse("r").unwrap());
    /// assert!(!e.audio_arrived(&ContentHash::parse(&"0".repeat(64)).unwrap()));
    /// ```
    pub fn audio_arrived(&mut self, hash: &ContentHash) -> bool {
        if self.needs_download().map(|a| &a.hash) == Some(hash) {
            self.audio_here = Some(hash.clone());
            self.away = false;
            self.refresh();
            true
        } else {
            false
        }
    }

    /// Marks the recording failed for a reason retrying will not fix.
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, entry::LocalEntry, hlc::Clock, id::RecordingId, recording::{Recording, SyncState}};
    /// # let mut clock = Clock::new(DeviceId::parse("d").unwrap());
    /// # let mut rec = Recording::new(RecordingId::parse("r").unwrap(), "audio/ogg".into(), 9, 5.0);
    /// # rec.content_hash = Some("0".repeat(64));
    /// let mut e = LocalEntry::create(&rec, &mut clock, 5).unwrap();
    /// e.fail("HTTP 403: forbidden");
    /// assert_eq!(e.public().unwrap().sync_state, SyncState::Failed);
    /// assert!(!e.needs_push());
    /// ```
    pub fn fail(&mut self, message: &str) {
        if let Ok(p) = self.phase.step(Step::Fail) {
            self.phase = p;
            self.failure = Some(message.to_owned());
            self.refresh();
        }
    }

    /// Moves unpublished edits into a change for this device's next log segment.
    ///
    /// Nothing is sealed while new audio is not confirmed in the cloud: a log entry never names a
    /// blob that is not there. The hashes returned in `trash` are this recording's blobs that nobody
    /// needs once the change is published (the audio a re-recording replaced, the audio of a
    /// deleted recording, takes that lost a conflict).
    ///
    /// ```
    /// use tapesync::core::{device::DeviceId, entry::LocalEntry, hlc::Clock, id::RecordingId, recording::{Recording, SyncState}};
    /// # let mut clock = Clock::new(DeviceId::parse("d").unwrap());
    /// # let mut rec = Recording::new(RecordingId::parse("r").unwrap(), "audio/ogg".into(), 9, 5.0);
    /// # rec.content_hash = Some("0".repeat(64));
    /// let mut e = LocalEntry::create(&rec, &mut clock, 5).unwrap();
    /// assert!(e.seal().change.is_none()); // audio not uploaded yet
    /// let hash = e.needs_upload().unwrap().hash.clone();
    /// e.upload_confirmed(&hash);
    /// let sealed = e.seal();
    /// assert!(sealed.change.is_some());
    /// assert_eq!(e.public().unwrap().sync_state, SyncState::Uploading);
    /// e.confirm();
    /// assert_eq!(e.public().unwrap().sync_state, SyncState::Synced);
    /// ```
    pub fn seal(&mut self) -> Sealed {
        if self.phase == Phase::Failed {
            return Sealed::default();
        }
        if let Some(l) = &self.local.audio {
            if self.uploaded.as_ref() != Some(&l.audio.hash) {
                return Sealed::default();
            }
        }
        let mut trash = std::mem::take(&mut self.garbage);
        let mut change = None;
        if !self.local.is_empty() {
            if let (Some(l), Some(c)) = (&self.local.audio, &self.cloud.audio) {
                if l.replaced(c) {
                    trash.push(c.audio.hash.clone());
                }
            }
            if self.local.deleted.is_some() {
                if let Some(c) = &self.cloud.audio {
                    trash.push(c.audio.hash.clone());
                }
            }
            change = Some(Change {
                id: self.id.clone(),
                fields: std::mem::take(&mut self.local),
            });
            if let Some(c) = &change {
                self.cloud.merge(&c.fields);
            }
            self.uploaded = None;
            self.go(Step::Seal);
        }
        if !self.cloud.is_deleted() {
            // The blob of the audio the recording shows must never be deleted, whatever path
            // (same bytes recorded twice) put its hash in the trash.
            if let Some(live) = self.view().audio {
                trash.retain(|h| *h != live.audio.hash);
            }
        }
        trash.sort();
        trash.dedup();
        self.refresh();
        Sealed { change, trash }
    }

    /// Records that the segment holding this entry's sealed edits is in the cloud.
    ///
    /// ```
    /// use tapesync::core::{entry::LocalEntry, id::RecordingId, state::Phase};
    /// let mut e = LocalEntry::remote(RecordingId::parse("r").unwrap());
    /// e.phase = Phase::Uploading;
    /// e.confirm();
    /// assert_eq!(e.phase, Phase::Synced);
    /// ```
    pub fn confirm(&mut self) {
        self.go(Step::Confirm);
    }

    /// Recomputes the `work` marker; every mutation ends with it.
    ///
    /// ```
    /// use tapesync::core::{entry::LocalEntry, id::RecordingId};
    /// let mut e = LocalEntry::remote(RecordingId::parse("r").unwrap());
    /// e.work = Some(1);
    /// e.refresh();
    /// assert_eq!(e.work, None);
    /// ```
    pub fn refresh(&mut self) {
        let busy = self.needs_push() || self.wants_download().is_some();
        self.work = busy.then_some(1);
    }

    pub(crate) fn go(&mut self, step: Step) {
        match self.phase.step(step) {
            Ok(p) => self.phase = p,
            Err(e) => debug_assert!(false, "{e} ({})", self.id),
        }
        self.refresh();
    }

    pub(crate) fn add_garbage(&mut self, hash: ContentHash) {
        if !self.garbage.contains(&hash) {
            self.garbage.push(hash);
        }
        self.refresh();
    }

    /// Checks the recording as it would show after an edit against every writer's limit
    /// ([`super::limits::check_metadata`] on the whole view, the per-field limits on the edit).
    fn check_view(&self) -> Result<(), String> {
        let v = self.view();
        let name = v.name.map(|n| n.value).unwrap_or_default();
        let tags = v.tags.map(|t| t.value).unwrap_or_default();
        let custom: serde_json::Map<String, serde_json::Value> = v
            .custom
            .into_iter()
            .filter_map(|(k, r)| r.value.map(|v| (k, v)))
            .collect();
        super::limits::check_metadata(&name, &tags, &custom)?;
        let mut probe = self.local.clone();
        probe.custom.clear();
        probe.check_limits()?;
        if self
            .local
            .custom
            .keys()
            .any(|k| k.chars().count() > super::limits::CUSTOM_KEY_CHARS)
        {
            return Err(format!(
                "a custom key has at most {} characters",
                super::limits::CUSTOM_KEY_CHARS
            ));
        }
        Ok(())
    }
}

fn lww_f64(v: f64, at: &super::hlc::Hlc) -> Lww<f64> {
    Lww {
        value: if v.is_finite() { v } else { 0.0 },
        at: at.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::device::DeviceId;

    fn new_entry(clock: &mut Clock) -> LocalEntry {
        let mut rec = Recording::new(RecordingId::parse("r").unwrap(), "audio/ogg".into(), 9, 5.0);
        rec.content_hash = Some("0".repeat(64));
        LocalEntry::create(&rec, clock, 5).unwrap()
    }

    fn hash(c: char) -> ContentHash {
        ContentHash::parse(&c.to_string().repeat(64)).unwrap()
    }

    #[test]
    fn edits_beyond_the_writers_limits_are_refused_and_change_nothing() {
        use crate::core::limits::{CUSTOM_VALUE_BYTES, METADATA_BYTES};
        let mut clock = Clock::new(DeviceId::parse("d").unwrap());
        let mut e = new_entry(&mut clock);
        let value = |n: usize| Some(serde_json::json!("x".repeat(n)));
        let mut edit = Edit::default();
        edit.custom.insert("big".into(), value(CUSTOM_VALUE_BYTES));
        let err = e.edit(&edit, &mut clock, 6).unwrap_err();
        assert!(err.to_string().contains("custom.big"), "{err}");
        // Each value within its limit, but together over the recording's total: the second
        // edit is refused, the first stays.
        let before = e.clone();
        let mut first = Edit::default();
        first
            .custom
            .insert("a".into(), value(CUSTOM_VALUE_BYTES - 2));
        e.edit(&first, &mut clock, 7).unwrap();
        let kept = e.clone();
        let mut second = Edit::default();
        second
            .custom
            .insert("b".into(), value(CUSTOM_VALUE_BYTES - 2));
        let err = e.edit(&second, &mut clock, 8).unwrap_err();
        assert!(
            err.to_string().contains(&METADATA_BYTES.to_string()),
            "{err}"
        );
        assert_eq!(e, kept);
        assert_ne!(e, before);
        // Removing the big value makes room again.
        let mut remove = Edit::default();
        remove.custom.insert("a".into(), None);
        remove
            .custom
            .insert("b".into(), value(CUSTOM_VALUE_BYTES - 2));
        e.edit(&remove, &mut clock, 9).unwrap();
        let mut rec = Recording::new(RecordingId::parse("s").unwrap(), "audio/ogg".into(), 9, 5.0);
        rec.content_hash = Some("0".repeat(64));
        rec.custom
            .insert("big".into(), serde_json::json!("x".repeat(1 << 20)));
        assert!(matches!(
            LocalEntry::create(&rec, &mut clock, 10),
            Err(EditError::Invalid(_))
        ));
    }

    /// An entry whose take `0` was published, then re-recorded as take `take`.
    fn rerecorded_after_publishing(clock: &mut Clock, take: char) -> LocalEntry {
        let mut e = new_entry(clock);
        e.upload_confirmed(&hash('0'));
        e.seal();
        e.confirm();
        let audio = AudioRef {
            hash: hash(take),
            size: 1,
            mime_type: "audio/ogg".into(),
        };
        e.replace_audio(audio, clock, 9).unwrap();
        e
    }

    #[test]
    fn rerecording_a_published_take_trashes_the_old_blob_after_sealing() {
        let mut clock = Clock::new(DeviceId::parse("d").unwrap());
        let mut e = rerecorded_after_publishing(&mut clock, '1');
        e.upload_confirmed(&hash('1'));
        let s = e.seal();
        assert_eq!(s.trash, vec![hash('0')]);
        assert_eq!(e.cloud.audio.as_ref().unwrap().audio.hash, hash('1'));
    }

    #[test]
    fn deleting_trashes_the_published_audio_and_unpublished_takes() {
        let mut clock = Clock::new(DeviceId::parse("d").unwrap());
        let mut e = rerecorded_after_publishing(&mut clock, '2');
        e.delete(&mut clock, 10).unwrap();
        let s = e.seal();
        assert_eq!(s.trash, vec![hash('0'), hash('2')]);
        assert_eq!(e.phase, Phase::Deleted);
        assert!(e.cloud.is_deleted());
        assert_eq!(e.work, None);
    }

    #[test]
    fn rejected_edits_change_nothing() {
        let mut clock = Clock::new(DeviceId::parse("d").unwrap());
        let mut e = new_entry(&mut clock);
        let before = e.clone();
        let bad = Edit {
            name: Some("n".repeat(5_000)),
            ..Edit::default()
        };
        assert!(e.edit(&bad, &mut clock, 6).is_err());
        assert_eq!(e, before);
        let nan = Edit {
            duration_ms: Some(Some(f64::NAN)),
            ..Edit::default()
        };
        assert!(e.edit(&nan, &mut clock, 6).is_err());
        assert_eq!(e, before);
    }

    #[test]
    fn entries_round_trip_through_json() {
        let mut clock = Clock::new(DeviceId::parse("d").unwrap());
        let e = new_entry(&mut clock);
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<LocalEntry>(&s).unwrap(), e);
    }
}
