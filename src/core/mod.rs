//! The deterministic core of tapesync: no IO, no clock, no randomness read inside.
//!
//! Everything here compiles and is tested natively (`cargo test`), and is the same code that runs in the
//! browser. The browser adapters (`crate::browser`) feed it time, randomness and the outcomes of IO.
//!
//! The sync core, by module:
//!
//! - [`hlc`]: clock stamps ordered the same on every device; [`device`]: device ids.
//! - [`fields`]: a recording's synced fields, each a last-writer-wins register with its stamp.
//! - [`entry`]: what a device keeps per recording (the cloud's version, unpublished local edits,
//!   which audio it holds) and the local edits the store makes; [`state`]: the sync state machine.
//! - [`layout`]: object keys in the cloud; [`log`]: the change log's segments and their encoding.
//! - [`merge`]: applying another device's change, the policies, conflict copies.
//! - [`commit`]: the local transactions the engine asks for; [`engine`]: the sans-IO engine.
//! - [`backoff`] and [`error_class`]: retry delays and what to do about a failed request;
//!   [`limits`]: what metadata and segments may hold; [`audio_type`]: which declared types are
//!   kept as audio.
//! - [`snapshot`]: a device's log compacted; [`retire`]: when readers stop asking the logs of
//!   devices gone for long.
//!
//! # One sync round, end to end
//!
//! A laptop saves a recording and syncs; a phone syncs and has it. The "driver" below is what
//! `crate::browser` does with `fetch` and IndexedDB, reduced to maps: it performs each operation
//! the engine hands out and feeds the outcome back.
//!
//! ```
//! use std::collections::BTreeMap;
//! use tapesync::core::{
//!     commit::{audio_arrived, Ran, SyncMeta},
//!     device::DeviceId,
//!     engine::{Body, Engine, EngineConfig, Event, Op, Outcome, Report},
//!     entry::LocalEntry,
//!     fields::ContentHash,
//!     hlc::Clock,
//!     id::RecordingId,
//!     recording::Recording,
//! };
//!
//! /// A device: what its IndexedDB holds (sync entries, audio by recording, the clock) and its engine.
//! struct Device {
//!     entries: BTreeMap<RecordingId, LocalEntry>,
//!     audio: BTreeMap<RecordingId, ContentHash>,
//!     clock: Clock,
//!     engine: Engine,
//! }
//!
//! impl Device {
//!     fn new(name: &str) -> Device {
//!         let id = DeviceId::parse(name).unwrap();
//!         Device {
//!             entries: BTreeMap::new(),
//!             audio: BTreeMap::new(),
//!             clock: Clock::new(id.clone()),
//!             engine: Engine::new(EngineConfig::default(), SyncMeta::new(id), 7),
//!         }
//!     }
//!
//!     /// The driver: runs one round against `cloud` (object key -> bytes).
//!     fn sync(&mut self, cloud: &mut BTreeMap<String, Vec<u8>>, now: u64) -> Report {
//!         self.engine.start_sync(now);
//!         while let Some((id, op)) = self.engine.poll_op() {
//!             let outcome = match op {
//!                 Op::List { folder, .. } => {
//!                     let prefix = format!("{folder}/");
//!                     let mut folders: Vec<String> = cloud
//!                         .keys()
//!                         .filter_map(|k| k.strip_prefix(&prefix)?.split_once('/'))
//!                         .map(|(dir, _)| dir.to_string())
//!                         .collect();
//!                     folders.dedup();
//!                     Outcome::Listed { names: vec![], folders, next_page_token: None }
//!                 }
//!                 Op::Get { key } => cloud.get(&key).map_or(Outcome::NotFound, |b| Outcome::Got(b.clone())),
//!                 // Asked only before sending a write again whose answer was lost.
//!                 Op::Head { key } => cloud
//!                     .get(&key)
//!                     .map_or(Outcome::NotFound, |b| Outcome::Exists { size: b.len() as u64 }),
//!                 Op::Put { key, body: Body::Json(bytes), .. } => {
//!                     cloud.insert(key, bytes);
//!                     Outcome::Done
//!                 }
//!                 Op::Put { key, body: Body::LocalAudio { recording, hash }, .. } => {
//!                     // The real driver streams the Blob from IndexedDB after this check.
//!                     if self.audio.get(&recording) != Some(&hash) {
//!                         Outcome::NotFound
//!                     } else {
//!                         cloud.insert(key, hash.as_str().as_bytes().to_vec());
//!                         Outcome::Done
//!                     }
//!                 }
//!                 Op::GetBlob { key, recording, hash } => match cloud.get(&key) {
//!                     None => Outcome::NotFound,
//!                     Some(_bytes) => {
//!                         // One transaction: keep the bytes only if the entry still wants them.
//!                         if let Some(e) = audio_arrived(self.entries.get(&recording).cloned(), &hash) {
//!                             self.entries.insert(recording.clone(), e);
//!                             self.audio.insert(recording, hash);
//!                         }
//!                         Outcome::Done
//!                     }
//!                 },
//!                 Op::Delete { key } => {
//!                     cloud.remove(&key);
//!                     Outcome::Done
//!                 }
//!                 Op::RefreshToken => Outcome::Done,
//!                 Op::ScanWork => Outcome::Scanned(
//!                     self.entries.values().filter(|e| e.work.is_some()).cloned().collect(),
//!                 ),
//!                 Op::Commit(commit) => {
//!                     // One readwrite transaction: read, run the pure core, write, commit.
//!                     let mut read = BTreeMap::new();
//!                     let mut ids = commit.reads();
//!                     let (writes, outcome) = loop {
//!                         for id in ids {
//!                             let entry = self.entries.get(&id).cloned();
//!                             read.insert(id, entry);
//!                         }
//!                         match commit.run(self.clock.clone(), &read) {
//!                             Ran::Done(w, o) => break (w, o),
//!                             Ran::Read(more) => ids = more,
//!                         }
//!                     };
//!                     for (from, to) in writes.copy_audio {
//!                         if let Some(h) = self.audio.get(&from).cloned() {
//!                             self.audio.insert(to, h);
//!                         }
//!                     }
//!                     for e in writes.entries {
//!                         self.entries.insert(e.id.clone(), e); // and e.public() into `recordings`
//!                     }
//!                     for id in writes.drop_audio {
//!                         self.audio.remove(&id);
//!                     }
//!                     self.clock = writes.clock; // and writes.meta into `meta`
//!                     Outcome::Committed(outcome)
//!                 }
//!             };
//!             self.engine.on_result(id, outcome, now);
//!         }
//!         loop {
//!             match self.engine.poll_event() {
//!                 Some(Event::Done(report)) => return report,
//!                 Some(_progress_or_conflict) => {}
//!                 None => panic!("the round did not end"),
//!             }
//!         }
//!     }
//! }
//!
//! let mut cloud = BTreeMap::new();
//! let (mut laptop, mut phone) = (Device::new("laptop"), Device::new("phone"));
//! let t0 = 1_700_000_000_000;
//!
//! // The store saves a recording on the laptop: audio, metadata and sync entry in one transaction.
//! let id = RecordingId::new_v7(t0, [1; 10]);
//! let hash = ContentHash::parse(&"ab".repeat(32)).unwrap();
//! let mut rec = Recording::new(id.clone(), "audio/webm".into(), 4, t0 as f64);
//! rec.name = "Standup".into();
//! rec.content_hash = Some(hash.to_string());
//! let entry = LocalEntry::create(&rec, &mut laptop.clock, t0).unwrap();
//! laptop.entries.insert(id.clone(), entry);
//! laptop.audio.insert(id.clone(), hash.clone());
//!
//! // The laptop's round: the audio blob first, then the log segment that names it.
//! let report = laptop.sync(&mut cloud, t0 + 1_000);
//! assert!(report.outcome.is_complete());
//! assert_eq!((report.blobs_uploaded, report.segments_pushed), (1, 1));
//! assert!(cloud.contains_key(&format!("blobs/{id}/{hash}")));
//! assert!(cloud.contains_key("log/laptop/00000000000000000000.json"));
//! assert!(laptop.entries[&id].public().unwrap().synced);
//!
//! // The phone's round: it reads the laptop's log from its checkpoint and downloads the audio.
//! let report = phone.sync(&mut cloud, t0 + 2_000);
//! assert_eq!((report.segments_pulled, report.blobs_downloaded), (1, 1));
//! let shown = phone.entries[&id].public().unwrap();
//! assert_eq!((shown.name.as_str(), shown.synced), ("Standup", true));
//! assert_eq!(phone.audio[&id], hash);
//!
//! // Nothing new: the next round reads the folder list and one missing segment, and writes nothing.
//! let before = cloud.clone();
//! let report = phone.sync(&mut cloud, t0 + 3_000);
//! assert_eq!(report.segments_pulled + report.segments_pushed, 0);
//! assert_eq!(cloud, before);
//! ```

pub mod audio_type;
pub mod backoff;
pub mod commit;
pub mod device;
pub mod engine;
pub mod entry;
pub mod error_class;
pub mod fields;
pub mod hlc;
pub mod id;
pub mod layout;
pub mod limits;
pub mod log;
pub mod merge;
pub mod recording;
pub mod retire;
pub mod snapshot;
pub mod state;
