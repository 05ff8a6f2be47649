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
  /** SHA-256 of the audio, lowercase hex; null until computed in the background after save. */
  contentHash: string | null;
  syncState: SyncState;
  /** `syncState === "synced"`. */
  synced: boolean;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface OpenOptions {
  /** The store's name; each name is its own IndexedDB database. Default "default". */
  name?: string;
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
  /** The `cursor` of the previous page. */
  cursor?: string;
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

export interface StorageEstimate {
  usage: number | null;
  quota: number | null;
  persisted: boolean;
}

export interface CaptureOptions {
  /** The type of the chunks, e.g. MediaRecorder's mimeType. */
  mimeType: string;
  name?: string;
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
  kind: "save" | "update" | "delete" | "hash" | "capture";
  ids: string[];
}

/** The stable codes of TapesyncError. */
export type ErrorCode =
  | "InvalidArgument" | "NotFound" | "Conflict" | "QuotaExceeded" | "StorageUnavailable"
  | "Closed" | "Aborted" | "Internal";

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
