// Bucket CORS as S3 evaluates it, for the test server's proxy (moto, with SigV4 enforced, cannot answer a
// preflight at all and never puts CORS headers on errors; see ../../../shared/facts/s3-moto.md).
//
// Rules have the shape of S3's API and of s3/cors.json: { AllowedOrigins, AllowedMethods, AllowedHeaders,
// ExposeHeaders, MaxAgeSeconds }. S3 takes the first rule whose origin, method and (for a preflight) every
// requested header match; AllowedOrigins and AllowedHeaders entries may hold one `*` wildcard; header names
// compare case-insensitively, origins and methods exactly.

import { allTags, escapeXml, tagText, unescapeXml } from "./xml.mjs";

/** Matches `value` against a pattern with at most one `*` (any run of characters, possibly empty). */
export function wildcardMatch(pattern, value, ignoreCase = false) {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const v = ignoreCase ? value.toLowerCase() : value;
  const star = p.indexOf("*");
  if (star < 0) return p === v;
  const head = p.slice(0, star);
  const tail = p.slice(star + 1);
  return v.length >= head.length + tail.length && v.startsWith(head) && v.endsWith(tail);
}

function originMatches(rule, origin) {
  return (rule.AllowedOrigins || []).some((pattern) => wildcardMatch(pattern, origin));
}

function methodMatches(rule, method) {
  return (rule.AllowedMethods || []).includes(method);
}

function headerAllowed(rule, header) {
  return (rule.AllowedHeaders || []).some((pattern) => wildcardMatch(pattern, header, true));
}

/** The headers S3 puts on a matched response (preflight or actual) for `rule` and `origin`. */
function matchedHeaders(rule, origin) {
  const anyOrigin = (rule.AllowedOrigins || []).includes("*");
  const headers = {
    "access-control-allow-origin": anyOrigin ? "*" : origin,
    "access-control-allow-methods": rule.AllowedMethods.join(", "),
    vary: "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
  };
  // S3 allows credentials only when it echoes a specific origin (browsers refuse `*` with credentials).
  if (!anyOrigin) headers["access-control-allow-credentials"] = "true";
  if (rule.ExposeHeaders?.length) headers["access-control-expose-headers"] = rule.ExposeHeaders.join(", ");
  if (rule.MaxAgeSeconds !== undefined) headers["access-control-max-age"] = String(rule.MaxAgeSeconds);
  return headers;
}

/**
 * Evaluates a preflight. `requestHeaders` is the raw Access-Control-Request-Headers value (or undefined).
 * Returns { status, headers, error? } where a refusal carries error: { code, message } for an S3 error body.
 */
export function preflight(rules, { origin, method, requestHeaders }) {
  if (!origin) {
    return { status: 400, headers: {}, error: { code: "BadRequest", message: "Insufficient information. Origin request header needed." } };
  }
  if (!method) {
    return { status: 400, headers: {}, error: { code: "BadRequest", message: "Invalid Access-Control-Request-Method: null" } };
  }
  if (!rules || rules.length === 0) {
    return { status: 403, headers: {}, error: { code: "AccessForbidden", message: "CORSResponse: CORS is not enabled for this bucket." } };
  }
  const wanted = String(requestHeaders || "")
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  for (const rule of rules) {
    if (!originMatches(rule, origin) || !methodMatches(rule, method)) continue;
    if (!wanted.every((h) => headerAllowed(rule, h))) continue;
    const headers = matchedHeaders(rule, origin);
    // S3 echoes the requested headers (never `*`, which browsers do not take as covering Authorization).
    if (wanted.length) headers["access-control-allow-headers"] = wanted.join(", ");
    return { status: 200, headers };
  }
  return {
    status: 403,
    headers: {},
    error: {
      code: "AccessForbidden",
      message:
        "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / " +
        "Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
    },
  };
}

/** The CORS headers for an actual (non-preflight) request's response, errors included; {} when none apply. */
export function responseHeaders(rules, { origin, method }) {
  if (!origin || !rules) return {};
  const rule = rules.find((r) => originMatches(r, origin) && methodMatches(r, method));
  return rule ? matchedHeaders(rule, origin) : {};
}

/** The PutBucketCors XML body for a rules list. */
export function corsXml(rules) {
  const list = (tag, values) => (values || []).map((v) => `<${tag}>${escapeXml(v)}</${tag}>`).join("");
  const body = rules
    .map(
      (r) =>
        `<CORSRule>${r.ID ? `<ID>${escapeXml(r.ID)}</ID>` : ""}${list("AllowedOrigin", r.AllowedOrigins)}` +
        `${list("AllowedMethod", r.AllowedMethods)}${list("AllowedHeader", r.AllowedHeaders)}` +
        `${list("ExposeHeader", r.ExposeHeaders)}` +
        `${r.MaxAgeSeconds !== undefined ? `<MaxAgeSeconds>${r.MaxAgeSeconds}</MaxAgeSeconds>` : ""}</CORSRule>`,
    )
    .join("");
  return `<?xml version="1.0" encoding="UTF-8"?>\n<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${body}</CORSConfiguration>`;
}

/** Parses a GetBucketCors answer back into rules. */
export function parseCorsXml(xml) {
  return allTags(xml, "CORSRule").map((rule) => {
    const values = (tag) => allTags(rule, tag).map((v) => unescapeXml(v.trim()));
    const maxAge = tagText(rule, "MaxAgeSeconds");
    return {
      AllowedOrigins: values("AllowedOrigin"),
      AllowedMethods: values("AllowedMethod"),
      AllowedHeaders: values("AllowedHeader"),
      ExposeHeaders: values("ExposeHeader"),
      ...(maxAge !== undefined ? { MaxAgeSeconds: Number(maxAge) } : {}),
    };
  });
}
