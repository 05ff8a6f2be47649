// Small HTTP helpers shared by the routes: JSON answers, error rendering, body reading, the JWT check of the
// storage server's jwt plugin.

import { ERRORS, StorageError } from "./errors.mjs";
import { verifyToken } from "./auth.mjs";

export function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Renders an error as the storage server's error handler does (StorageError), or a 500. */
export function sendError(req, res, err) {
  const error = err instanceof StorageError ? err : ERRORS.internal();
  if (!(err instanceof StorageError)) console.error("[supabase-local] internal error:", err);
  // An error answered before the body was read: drain it so the client sees the answer, not a reset.
  if (!req.readableEnded) req.resume();
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, error.httpStatus, error.body());
}

/** Reads a JSON body (the routes' bodies are small); a missing or bad body is the server's validation error. */
export async function readJson(req, limit = 1 << 20) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw ERRORS.entityTooLarge();
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw ERRORS.validation("Body cannot be empty when content-type is set to 'application/json'");
  try {
    return JSON.parse(text);
  } catch {
    throw ERRORS.validation(`Unexpected token in JSON at position 0`);
  }
}

const BEARER = /^Bearer\s+/i;

/** The bearer token of a request ('' when none). */
export function bearer(req) {
  return String(req.headers.authorization || "").replace(BEARER, "");
}

/**
 * The jwt plugin of an authenticated route: the headers schema requires `authorization` (measured message), then
 * jose verifies the token; a bad one is AccessDenied with jose's message (e.g. `"exp" claim timestamp check failed`).
 * Returns the claims.
 */
export async function authenticate(req, ctx, { requireHeader = true } = {}) {
  if (requireHeader && !req.headers.authorization) throw ERRORS.missingAuthorization();
  try {
    return await verifyToken(bearer(req), ctx.clockOffsetMs());
  } catch (err) {
    throw ERRORS.accessDenied(err?.message || "Invalid JWT");
  }
}

/**
 * The jwt plugin of an `allowInvalidJwt` route: an invalid or missing token makes the request anonymous and
 * unauthenticated instead of failing. Returns `{ claims, isAuthenticated }`.
 */
export async function authenticateOptional(req, ctx) {
  const token = bearer(req);
  if (!token) return { claims: { role: "anon" }, isAuthenticated: false };
  try {
    return { claims: await verifyToken(token, ctx.clockOffsetMs()), isAuthenticated: true };
  } catch {
    return { claims: { role: "anon" }, isAuthenticated: false };
  }
}

/** Decodes a path's segments as Fastify does for route params ('%20' -> ' '); a bad escape is a 400. */
export function decodePath(raw) {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw ERRORS.validation("Invalid URL encoding");
  }
}
