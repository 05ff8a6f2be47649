// Listing, as Supabase Storage v1.11.2 does it (read from its source: src/storage/object.ts listObjectsV2 and
// searchObjects, src/storage/database/pg.ts, and the SQL functions of migrations/tenant/0050-search-v2-optimised.sql:
// list_objects_with_delimiter, search_v2, search). Re-implemented here over the rows the caller may see (RLS has
// filtered them already, as PostgreSQL does for these SECURITY INVOKER functions), quirks included:
//
// - Paging with a cursor is a seek, not an offset: after a leaf "x" the next page starts at "x/", so a key that
//   sorts between "x" and "x/" (e.g. "x.json" after "x", since '.' < '/') is skipped across a page boundary. The
//   real server does the same; tapesync's keys never have one key as a prefix of another.
// - Folders are "common prefixes": list-v2 answers them in `folders` with a trailing "/" and `id: null`; list (v1)
//   answers them among the objects, by their last segment, with `id: null`.
// - list (v1) compares lower-cased names (the SQL uses lower(name)); `search` is a further name prefix.
//
// Rows are `{ name, id, updated_at, created_at, last_accessed_at, metadata }` with ISO timestamps.

import { ERRORS } from "./errors.mjs";

const DELIM = "/";
const afterDelim = String.fromCharCode(DELIM.charCodeAt(0) + 1); // chr(ascii('/') + 1) = '0'

// COLLATE "C" is byte order; keys are ASCII (see the key rule in routes.mjs), where JS string order is the same.
const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** storage.get_common_prefix(key, prefix, delimiter) */
function commonPrefix(key, prefix) {
  const pos = key.substring(prefix.length).indexOf(DELIM);
  return pos >= 0 ? key.slice(0, prefix.length + pos + 1) : null;
}

function upperBound(prefix) {
  if (prefix === "") return null;
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}

const rtrimDelim = (s) => s.replace(/\/+$/, "");
const splitPart = (s, n) => s.split(DELIM)[n - 1] ?? "";

/**
 * The skip-scan loop shared by list_objects_with_delimiter and search (name order): walks `rows` in order of
 * `keyOf(row)`, emitting one entry per folder and one per leaf, from the seek position, up to `limit` entries after
 * skipping `offset`. `emitFolder(cp)` / `emitFile(row)` build the answer rows.
 */
function skipScan({ rows, keyOf, prefix, seek, asc, limit, offset = 0, emitFolder, emitFile }) {
  const sorted = rows.map((row) => ({ key: keyOf(row), row })).sort((a, b) => cmp(a.key, b.key));
  const upper = upperBound(prefix);
  // The range of the peek and batch queries: ASC is [seek, upper), DESC is [prefix, seek).
  const inRange = (k) =>
    asc ? k >= seek && (upper === null || k < upper) : k < seek && (prefix === "" || k >= prefix);
  const batchSize = Math.min(Math.max(limit * 2, 100), 1000);
  const out = [];
  let skipped = 0;
  const take = (entry) => {
    if (skipped < offset) skipped += 1;
    else out.push(entry);
  };
  for (;;) {
    if (out.length >= limit) break;
    const candidates = sorted.filter((e) => inRange(e.key));
    if (candidates.length === 0) break;
    const peek = asc ? candidates[0] : candidates[candidates.length - 1];
    const cp = commonPrefix(peek.key, prefix);
    if (cp !== null) {
      take(emitFolder(cp));
      seek = asc ? cp.slice(0, -1) + afterDelim : cp;
      continue;
    }
    const batch = (asc ? candidates : [...candidates].reverse()).slice(0, batchSize);
    for (const e of batch) {
      if (commonPrefix(e.key, prefix) !== null) {
        seek = e.key; // a folder: the peek handles it
        break;
      }
      take(emitFile(e.row));
      seek = asc ? e.key + DELIM : e.key;
      if (out.length >= limit) break;
    }
  }
  return out;
}

/** The seek start from a cursor position (list_objects_with_delimiter's "cursor refers to a folder or leaf"). */
function seekFromStart(rows, start, prefix, asc) {
  if (start === "") {
    if (asc) return prefix;
    const inPrefix = rows.map((r) => r.name).filter((n) => n >= prefix && (upperBound(prefix) === null || n < upperBound(prefix)));
    if (inPrefix.length === 0) return null;
    return inPrefix.sort(cmp)[inPrefix.length - 1] + DELIM;
  }
  const isFolder = rows.some((r) => r.name.startsWith(start + DELIM));
  if (isFolder) return asc ? start + afterDelim : start + DELIM;
  return asc ? start + DELIM : start;
}

// The continuation token of list-v2: base64 of "l:<startAfter>\no:<order>\nc:<column>\na:<after>" (truthy parts).
const TOKEN_PARTS = { l: "startAfter", o: "sortOrder", c: "sortColumn", a: "sortColumnAfter" };

function encodeCursor(info) {
  let s = "";
  for (const [k, v] of Object.entries(TOKEN_PARTS)) if (info[v]) s += `${k}:${info[v]}\n`;
  return Buffer.from(s.slice(0, -1)).toString("base64");
}

function decodeCursor(token) {
  const result = { startAfter: "", sortOrder: "asc" };
  for (const part of Buffer.from(token, "base64").toString().split("\n")) {
    const m = part.match(/^(\S):(.*)/);
    if (!m || !(m[1] in TOKEN_PARTS)) throw ERRORS.invalidParameter("continuation token");
    result[TOKEN_PARTS[m[1]]] = m[2];
  }
  return result;
}

/**
 * POST /object/list-v2/{bucket} `{prefix, limit, cursor, with_delimiter, sortBy}` over the visible `rows`:
 * `{hasNext, nextCursor?, nextCursorKey?, folders, objects}`.
 */
export function listV2(rows, body) {
  const limit = Math.min(body.limit || 1000, 1000);
  const prefix = body.prefix || "";
  const cursor = body.cursor ? decodeCursor(body.cursor) : undefined;
  const order = (cursor?.sortOrder || body.sortBy?.order || "asc").toLowerCase() === "desc" ? "desc" : "asc";
  const asc = order === "asc";
  let results;
  if (body.with_delimiter) {
    // search_v2(prefix, bucket, limit + 1, levels, start_after): name order (timestamp orders are not imitated).
    const levels = prefix ? prefix.split(DELIM).length : 1;
    const start = cursor?.startAfter || "";
    const seek = seekFromStart(rows, start, prefix, asc);
    const sqlRows =
      seek === null
        ? []
        : skipScan({
            rows,
            keyOf: (r) => r.name,
            prefix,
            seek,
            asc,
            limit: Math.min(limit + 1, 1500),
            emitFolder: (cp) => ({ name: rtrimDelim(cp), id: null, updated_at: null, created_at: null, last_accessed_at: null, metadata: null }),
            emitFile: (r) => ({ name: r.name, id: r.id, updated_at: r.updated_at, created_at: r.created_at, last_accessed_at: r.last_accessed_at, metadata: r.metadata }),
          });
    const withKey = sqlRows.map((r) => ({ key: splitPart(r.name, levels), ...r }));
    // object.ts: names with a delimiter after the prefix become folders (deduplicated).
    results = [];
    let prev = "";
    for (const obj of withKey) {
      let idx = obj.name.replace(prefix, "").indexOf(DELIM);
      if (idx >= 0) {
        idx = prefix.length + idx + DELIM.length;
        const curr = obj.name.substring(0, idx);
        if (curr === prev) continue;
        prev = curr;
        results.push({ id: null, name: curr });
        continue;
      }
      results.push(obj);
    }
  } else {
    // SELECT id, name, metadata, updated_at, created_at, last_accessed_at ... WHERE name LIKE prefix% AND
    // name > cursor ORDER BY name LIMIT limit + 1
    const after = cursor?.startAfter;
    results = rows
      .filter((r) => r.name.startsWith(prefix))
      .filter((r) => !after || (asc ? r.name > after : r.name < after))
      .sort((a, b) => (asc ? cmp(a.name, b.name) : cmp(b.name, a.name)))
      .slice(0, limit + 1)
      .map((r) => ({ id: r.id, name: r.name, metadata: r.metadata, updated_at: r.updated_at, created_at: r.created_at, last_accessed_at: r.last_accessed_at }));
  }
  const hasNext = results.length > limit;
  const count = hasNext ? limit : results.length;
  const folders = [];
  const objects = [];
  for (const obj of results.slice(0, count)) {
    const name = obj.id === null && !obj.name.endsWith(DELIM) ? obj.name + DELIM : obj.name;
    (obj.id === null ? folders : objects).push({ ...obj, name });
  }
  const answer = { hasNext };
  if (hasNext) {
    const last = results[count - 1];
    answer.nextCursor = encodeCursor({ startAfter: last.name, sortOrder: cursor?.sortOrder || body.sortBy?.order, sortColumn: cursor?.sortColumn || body.sortBy?.column });
    answer.nextCursorKey = last.name;
  }
  answer.folders = folders;
  answer.objects = objects;
  return answer;
}

/**
 * POST /object/list/{bucket} `{prefix, limit, offset, sortBy, search}` over the visible `rows` (storage.search):
 * `[{name, id, updated_at, created_at, last_accessed_at, metadata}]`, names relative to the prefix's folder.
 */
export function listV1(rows, body) {
  let prefix = body.prefix;
  if (prefix.length > 0 && !prefix.endsWith(DELIM)) prefix += DELIM; // "assuming prefix is always a folder"
  const search = body.search || "";
  const limit = Math.min(body.limit || 100, 1500);
  const offset = body.offset || 0;
  const levels = (prefix + search).split(DELIM).length;
  const column = body.sortBy?.column || "name";
  const asc = (body.sortBy?.order || "asc").toLowerCase() !== "desc";
  const full = (prefix + search).toLowerCase();
  const shape = (name, r) => ({
    name,
    id: r?.id ?? null,
    updated_at: r?.updated_at ?? null,
    created_at: r?.created_at ?? null,
    last_accessed_at: r?.last_accessed_at ?? null,
    metadata: r?.metadata ?? null,
  });
  if (column !== "name") {
    // The path_tokens query: folders at this level (by name), then files at this level by `column`.
    const matching = rows.filter((r) => r.name.toLowerCase().startsWith(full));
    const folderNames = [...new Set(matching.filter((r) => r.name.split(DELIM).length !== levels).map((r) => splitPart(r.name, levels)))];
    folderNames.sort((a, b) => (asc ? cmp(a, b) : cmp(b, a)));
    const files = matching.filter((r) => r.name.split(DELIM).length === levels);
    files.sort((a, b) => (asc ? cmp(a[column] ?? "", b[column] ?? "") : cmp(b[column] ?? "", a[column] ?? "")));
    const all = [...folderNames.map((n) => shape(n, null)), ...files.map((r) => shape(splitPart(r.name, levels), r))];
    return all.slice(offset, offset + limit);
  }
  const lowerRows = rows.map((r) => ({ ...r, lname: r.name.toLowerCase() }));
  let seek = full;
  if (!asc) {
    const upper = upperBound(full);
    const inRange = lowerRows.map((r) => r.lname).filter((n) => n >= full && (upper === null || n < upper)).sort(cmp);
    if (inRange.length === 0) return [];
    seek = inRange[inRange.length - 1] + DELIM;
  }
  return skipScan({
    rows: lowerRows,
    keyOf: (r) => r.lname,
    prefix: full,
    seek,
    asc,
    limit,
    offset,
    emitFolder: (cp) => shape(splitPart(rtrimDelim(cp), levels), null),
    emitFile: (r) => shape(splitPart(r.name, levels), r),
  });
}
