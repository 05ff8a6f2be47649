//! The TypeScript types of the JS API, and the extern types that name them in signatures.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** Where a recording stands with respect to the cloud. */
export type SyncState = "pending" | "uploading" | "synced" | "conflict" | "failed";

/** A recording's metadata, as stored and returned by the store. Times are ms since 1970. */
export interface Recording {
  id: string;
  name: string;
  mimeType: string;
  size: number;
  durationMs: number | null;
  createdAt: number;
  updatedAt: number;
  tags: string[];
  custom: { [key: string]: JsonValue };
  /** SHA-256 of the audio, lowercase hex; null until computed (in the background after save, or
   * by the next sync, whichever comes first). */
  contentHash: string | null;
  syncState: SyncState;
  /** `syncState === "synced"`. */
  synced: boolean;
  /** Whether this engine can play the audio, so an app can say so instead of failing when it
   * plays (a WebM/Opus take from Chrome on an older iPhone, an MP4/AAC one in a Firefox without
   * the codec). Computed when the recording is returned, per engine, never stored or synced:
   * - in a page: `new Audio().canPlayType(mimeType)`; "probably" or "maybe" is true, "" false;
   * - an empty mimeType: true (unknown; the audio element sniffs the bytes);
   * - in workers and service workers, which have no audio element: true (the page that plays it
   *   answers for itself);
   * so false only ever means this engine said it cannot play that type. Asked once per type. */
  playable: boolean;
  /** Only on what `save` and `replaceAudio` return when they compressed the audio. */
  compression?: CompressionReport;
  /** The audio's size before this device compressed it (a WAV saved with `compress`), for as long
   * as that take is the recording's audio. Local: other devices do not know it. */
  originalSize?: number;
  /** Whether this device holds the audio of the recording's current take. false: the metadata
   * is here (a pull lands it first), the audio in the cloud only (not downloaded yet, the sync's
   * `audio` is "lazy" or "none", or it was evicted); `getBlob` downloads it. */
  audioHere: boolean;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface OpenOptions {
  /** The store's name; each name is its own IndexedDB database. Default "default". */
  name?: string;
  /**
   * How audio is kept in IndexedDB. "auto" (default): as Blobs, unless the engine refuses Blobs in
   * IndexedDB (Safari's private mode, ephemeral web views), where it is kept as ArrayBuffer parts;
   * found once per database and remembered. "chunks": always as parts (and remembered).
   */
  audioStorage?: "auto" | "chunks";
  /** Keep at most this many bytes of audio on this device: a second after saves and downloads
   * stop coming, the least recently played synced audio is evicted (as `evict()` does) until the
   * audio here fits. Audio not in the cloud yet counts and is never evicted. Default: no budget. */
  maxLocalBytes?: number;
}

/** What `evict` keeps. */
export interface EvictOptions {
  /** Bytes of synced audio to keep on this device (>= 0). */
  keepBytes: number;
}

/** What `evict` did. */
export interface EvictReport {
  /** Recordings whose audio left this device (their metadata stays). */
  evicted: number;
  freedBytes: number;
  /** Bytes of synced audio still here. */
  keptBytes: number;
}

/** What `fetchAudio` did. */
export interface FetchAudioReport {
  /** Takes downloaded, checked (size and SHA-256) and stored. */
  downloaded: number;
  failed: { id: string; code: ErrorCode; message: string }[];
}

export interface SaveOptions {
  /** An id of 1-128 characters from [A-Za-z0-9_-]; a UUIDv7 is made when absent. */
  id?: string;
  name?: string;
  /** Overrides the blob's own type. */
  mimeType?: string;
  durationMs?: number;
  createdAt?: number | Date;
  tags?: string[];
  custom?: { [key: string]: JsonValue };
  /**
   * Compresses WAV audio (audio/wav, audio/x-wav, audio/wave) before it is stored; other audio is
   * stored as given. Default false. See `Compress`.
   */
  compress?: Compress;
}

/**
 * How to compress PCM (WAV) audio: "flac" (lossless), "opus" (lossy, for speech; through WebCodecs,
 * in Ogg, or in WebM where `<audio>` plays only that), "auto" (Opus where this engine encodes it and
 * `<audio>` plays it, else FLAC), or false (store as given). The object form sets Opus's bitrate in bits per second (default 24000 a
 * channel).
 */
export type Compress =
  | false
  | "flac"
  | "opus"
  | "auto"
  | { format: "flac" | "opus" | "auto"; bitrate?: number };

/** What compression did, on the recording that `save` or `replaceAudio` returns. Not stored. */
export interface CompressionReport {
  format: "flac" | "opus";
  /** The WAV's size in bytes. */
  originalSize: number;
  /** The stored audio's size in bytes. */
  size: number;
  /** size / originalSize. */
  ratio: number;
}

export interface ReplaceAudioOptions {
  /** As in `SaveOptions.compress`. */
  compress?: Compress;
}

export interface UpdateOptions {
  name?: string;
  /** null clears it. */
  durationMs?: number | null;
  tags?: string[];
  /** Replaces the custom fields. */
  custom?: { [key: string]: JsonValue };
}

export interface ListOptions {
  syncState?: SyncState;
  /** At most this many items (1-100000); all when absent. */
  limit?: number;
  /** The `cursor` of the previous page; null or absent for the first page. */
  cursor?: string | null;
  /** Default "desc": newest first. */
  order?: "asc" | "desc";
}

export interface ListPage {
  items: Recording[];
  /** Pass to list() for the next page; null on the last page. */
  cursor: string | null;
}

export interface CountOptions {
  syncState?: SyncState;
}

/** From `navigator.storage`. `usage` and `quota` are null where the browser has no Storage API
 * (WebKitGTK ships it off; Safari before 17 has no `estimate()`) or refuses it; `persisted` is
 * then false. */
export interface StorageEstimate {
  usage: number | null;
  quota: number | null;
  persisted: boolean;
}

export interface CaptureOptions {
  /**
   * The type of the chunks, e.g. MediaRecorder's mimeType; or "audio/pcm" for raw samples
   * (append Float32Array[] one per channel, a mono Float32Array, or an interleaved Int16Array),
   * which are compressed as they arrive (`compress`, default "flac").
   */
  mimeType: string;
  name?: string;
  /** For "audio/pcm": the samples' rate in Hz (e.g. an AudioContext's sampleRate). */
  sampleRate?: number;
  /** For "audio/pcm": 1 or 2 (default 1). */
  channels?: 1 | 2;
  /** For "audio/pcm": "flac" (default), "opus" or "auto", or the object form; not false. */
  compress?: Compress;
}

export interface FinishOptions {
  name?: string;
  durationMs?: number;
  createdAt?: number | Date;
  tags?: string[];
  custom?: { [key: string]: JsonValue };
}

export interface CaptureInfo {
  id: string;
  name: string;
  mimeType: string;
  startedAt: number;
  updatedAt: number;
  size: number;
  chunks: number;
}

export interface ChangeDetail {
  kind: "save" | "update" | "delete" | "hash" | "capture" | "sync" | "evict";
  ids: string[];
}

export interface FirebaseRemoteOptions {
  /** The bucket, e.g. "my-app.appspot.com". */
  bucket: string;
  /** The folder recordings sync into, e.g. `users/${uid}/recordings`. */
  prefix?: string;
  /** Gives a Firebase ID token; asked again once when the server answers 401. Never stored. */
  getToken: () => Promise<string> | string;
  /** Default https://firebasestorage.googleapis.com; point it at the emulator in tests. */
  baseUrl?: string;
  /** A request without an answer for this long is a stalled transfer: it is aborted and resumed
   * from what the server has (default 120000). */
  timeoutMs?: number;
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Of temporary credentials (STS, Cognito Identity). */
  sessionToken?: string;
  /** When they expire: asked for again a minute before, and after an ExpiredToken answer. */
  expiration?: Date | number | string;
}

export interface S3PresignRequest {
  method: "GET" | "HEAD" | "PUT" | "POST" | "DELETE";
  /** The full object key (prefix included); "" for a bucket-level request (ListObjectsV2). */
  key: string;
  /** Query parameters, e.g. { "list-type": "2", prefix, delimiter: "/" } or { partNumber, uploadId }. */
  query: Record<string, string>;
  /** Headers the request sends that the URL must sign (lowercase names). */
  headers: Record<string, string>;
  /** Seconds the URL should stay valid. */
  expiresIn: number;
}

export interface S3RemoteOptions {
  /** e.g. "https://s3.eu-west-1.amazonaws.com", an R2/MinIO/B2 URL; http:// only for loopback. */
  endpoint: string;
  /** e.g. "eu-west-1" (R2: "auto"). */
  region: string;
  bucket: string;
  /** The folder recordings sync into, e.g. `users/${sub}/recordings` (':' allowed). */
  prefix?: string;
  /** Bucket in the path; default false for *.amazonaws.com, true otherwise. */
  pathStyle?: boolean;
  /** Temporary credentials; kept in memory only, never stored. Give this or presign. */
  credentials?: () => S3Credentials | Promise<S3Credentials>;
  /** Your backend signs instead: return the URL to call (on the endpoint's origin). */
  presign?: (request: S3PresignRequest) => string | Promise<string>;
  /** A request without an answer for this long is abandoned as stalled (default 120000). */
  timeoutMs?: number;
}

export interface SupabaseRemoteOptions {
  /** The project URL, e.g. "https://<project>.supabase.co"; storage lives at {url}/storage/v1.
   * http:// only for 127.0.0.1, localhost or [::1]. */
  url: string;
  /** The project's anon key, sent as the apikey header. Never stored or logged. */
  apikey: string;
  /** The bucket, e.g. "recordings". */
  bucket: string;
  /** The folder recordings sync into, e.g. `users/${user.id}/recordings`. */
  prefix?: string;
  /** Gives the user's access token (JWT, sent as Bearer); asked again once after a 401 or an
   * expired-JWT answer. Never stored. */
  getToken: () => Promise<string> | string;
  /** A request without an answer for this long is a stalled transfer (default 120000). */
  timeoutMs?: number;
}

/** Any cloud a store can sync with. */
export type Remote = FirebaseRemote | SupabaseRemote | S3Remote;

export type ConflictPolicy = "merge" | "local-wins" | "cloud-wins";

export interface SyncOptions {
  /** Default "merge": per field, the later edit wins. */
  policy?: ConflictPolicy;
  /** Keep the losing side of concurrent audio changes as a new recording (default true). */
  conflictCopies?: boolean;
  /** "both" (default): pull, then push. "push": publish this device's changes and upload their
   * audio, reading nothing. "pull": read the other devices' changes and download their audio,
   * publishing nothing. `push()` and `pull()` set it. */
  direction?: "both" | "push" | "pull";
  /** Requests in flight at once, 1-16 (default 4). */
  concurrency?: number;
  /** Resumable upload chunk in bytes (default 6 MiB, which every backend takes). Firebase: a
   * multiple of 262144. */
  chunkSize?: number;
  /** Cancels the sync; it rejects with code "Aborted" and leaves nothing half-written. */
  signal?: AbortSignal;
  /** Which audio a pull downloads, once every recording's metadata is in: "eager" (default) all
   * of it; "lazy" none (`getBlob` fetches through a running autoSync, `fetchAudio` prefetches);
   * "none" none, and `getBlob` does not fetch either (only `fetchAudio` does). */
  audio?: "eager" | "lazy" | "none";
}

export interface AutoSyncOptions extends Omit<SyncOptions, "signal" | "direction"> {
  /** Sync right away (default true). */
  onStart?: boolean;
  /** Sync when the network comes back (default true). */
  onOnline?: boolean;
  /** Sync when the page becomes visible (default true). */
  onVisible?: boolean;
  /** Push about 2 s after this store's own saves, finished captures, updates and deletes
   * stop coming (default true). Not after a "stopped" round until the app syncs again. */
  onChange?: boolean;
  /** Sync every this many ms (default 3600000; 0 turns it off). */
  intervalMs?: number;
}

/** A recording that failed for good in a round (`store.retry(id)` puts it back in line). */
export interface SyncFailure {
  id: string;
  code: ErrorCode;
  /** The HTTP status, when the cloud answered. */
  status: number | null;
  message: string;
}

/** Why a round did not complete. */
export interface SyncError {
  kind: "unauthorized" | "forbidden" | "network" | "remote" | "local";
  code: ErrorCode;
  /** The HTTP status, when the cloud answered. */
  status: number | null;
  message: string;
}

/** A log segment of another device that could not be read; that device's later changes wait
 * until it can (a later round tries again). */
export interface UnreadableSegment {
  device: string;
  seq: number;
  reason: string;
}

/** How a round ended. "complete": nothing that was pending when it started is still pending,
 * except the recordings in `failed`. */
export type RoundOutcome =
  | { kind: "complete" }
  | { kind: "incomplete"; error: SyncError; retryAt: number }
  | { kind: "stopped"; error: SyncError }
  | { kind: "cancelled" };

export interface SyncReport {
  /** Changes this device published. */
  pushed: number;
  /** Changes pulled from other devices. */
  pulled: number;
  uploaded: number;
  downloaded: number;
  /** Audio blobs deleted from the cloud (deleted or replaced recordings). */
  deleted: number;
  conflicts: number;
  failed: SyncFailure[];
  unreadable: UnreadableSegment[];
  outcome: RoundOutcome;
  /** The first pull of a fresh database from a prefix that holds this app's data already (the
   * browser cleared the site's storage, or this is a new device): the recordings came back. */
  restored: boolean;
}

/** `syncstate`: a round started ("syncing"), ended ("idle" when complete or cancelled, "error"
 * otherwise), or the app said the network is gone ("offline") or back ("idle"). */
export type SyncStateDetail =
  | { state: "syncing" | "offline"; report: null }
  /** The report of the round that completed; null after a cancelled round or `setOnline(true)`. */
  | { state: "idle"; report: SyncReport | null }
  /** The report of a round that did not complete, or the error that stopped it before a report. */
  | { state: "error"; report: SyncReport | TapesyncError };

/** `syncprogress` of one recording's audio: bytes sent (upload) or received (download) so far. */
export interface SyncTransferProgress {
  id: string;
  phase: "upload" | "download";
  sent: number;
  total: number;
  stage?: undefined;
  done?: undefined;
}

/** `syncprogress` of the round: steps of a stage done, of those known so far. */
export interface SyncStageProgress {
  stage: "flush" | "pull" | "scan" | "transfer" | "seal";
  done: number;
  total: number;
  id?: undefined;
  phase?: undefined;
  sent?: undefined;
}

/** `syncprogress`: tell the two apart with `"phase" in detail` (or `detail.phase !== undefined`). */
export type SyncProgressDetail = SyncTransferProgress | SyncStageProgress;

export interface SyncConflictDetail {
  /** The recording the conflict was about. */
  id: string;
  /** The field: "name", "tags", "durationMs", "custom.<key>", "audio" or "deleted". */
  field: string;
  /** Which side the policy kept. */
  kept: "local" | "cloud";
  /** The conflict copy made of the losing take, if one was made. */
  copy: string | null;
}

/** `syncfailure` of a recording that failed for good in this round (as in `SyncReport.failed`). */
export interface RecordingFailureDetail {
  id: string;
  code: ErrorCode;
  /** The HTTP status, when the cloud answered. */
  status: number | null;
  message: string;
  device?: undefined;
  seq?: undefined;
}

/** `syncfailure` of another device's log segment that could not be read (as in
 * `SyncReport.unreadable`); that device's later changes wait until a later round reads it. */
export interface SegmentFailureDetail {
  device: string;
  seq: number;
  code: "Remote";
  message: string;
  id?: undefined;
  status?: undefined;
}

/** `syncfailure`: tell the two apart with `detail.id !== undefined` (or `"device" in detail`). */
export type SyncFailureDetail = RecordingFailureDetail | SegmentFailureDetail;

/** `networkchange`: `setOnline()` was called. */
export interface NetworkChangeDetail {
  online: boolean;
}

export interface RestoredDetail {
  /** Changes pulled back from the cloud. */
  pulled: number;
  report: SyncReport;
}

/** `storagepressure`: a check after a write found `usage` at or above 80% of `quota` (bytes, from
 * `navigator.storage.estimate()`; checked at most every 10 s while writes happen), or
 * (`exceeded: true`) the browser refused a write for quota. `usage`/`quota` are null where the
 * browser has no Storage API. */
export interface StoragePressureDetail {
  usage: number | null;
  quota: number | null;
  exceeded: boolean;
}

/**
 * Every event a RecordingStore fires, with its `detail`; `addEventListener` and
 * `removeEventListener` take only these names, and `e.detail` has the event's type.
 */
export interface TapesyncEventMap {
  change: CustomEvent<ChangeDetail>;
  syncstate: CustomEvent<SyncStateDetail>;
  syncprogress: CustomEvent<SyncProgressDetail>;
  syncconflict: CustomEvent<SyncConflictDetail>;
  syncfailure: CustomEvent<SyncFailureDetail>;
  networkchange: CustomEvent<NetworkChangeDetail>;
  restored: CustomEvent<RestoredDetail>;
  storagepressure: CustomEvent<StoragePressureDetail>;
  // New events go here, one line each, with their detail type above;
  // tests/js/consumers.test.mjs fails while an event the code fires is missing here.
}

/** A listener of the store's event `K`. */
export type TapesyncEventListener<K extends keyof TapesyncEventMap> = (event: TapesyncEventMap[K]) => void;

export interface RecordingStore {
  /** Listens for one of the store's events (`TapesyncEventMap`). */
  addEventListener<K extends keyof TapesyncEventMap>(
    type: K,
    listener: TapesyncEventListener<K> | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /** Removes a listener added with `addEventListener`. */
  removeEventListener<K extends keyof TapesyncEventMap>(
    type: K,
    listener: TapesyncEventListener<K> | null,
    options?: boolean | EventListenerOptions,
  ): void;
}

/** The stable codes of TapesyncError. */
export type ErrorCode =
  | "InvalidArgument" | "NotFound" | "Conflict" | "QuotaExceeded" | "StorageUnavailable"
  | "Closed" | "Aborted" | "Network" | "Unauthorized" | "Forbidden" | "Remote" | "Internal"
  | "AudioNotHere" | "Offline";

/** Every error tapesync throws or rejects with. */
export interface TapesyncError extends Error {
  name: "TapesyncError";
  code: ErrorCode;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// `OpenOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "OpenOptions")]
    pub type OpenOptions;
    /// `SaveOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "SaveOptions")]
    pub type SaveOptions;
    /// `UpdateOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "UpdateOptions")]
    pub type UpdateOptions;
    /// `ListOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "ListOptions")]
    pub type ListOptions;
    /// `CountOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "CountOptions")]
    pub type CountOptions;
    /// `EvictOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "EvictOptions")]
    pub type EvictOptions;
    /// `ReplaceAudioOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "ReplaceAudioOptions")]
    pub type ReplaceAudioOptions;
    /// `CaptureOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "CaptureOptions")]
    pub type CaptureOptions;
    /// `FinishOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "FinishOptions")]
    pub type FinishOptions;
    /// `CaptureInfo` in TypeScript.
    #[wasm_bindgen(typescript_type = "CaptureInfo")]
    pub type CaptureInfo;
}
