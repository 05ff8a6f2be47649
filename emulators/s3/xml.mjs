// The little XML the test S3 server reads and writes: S3 error bodies, and the flat documents it parses
// (CORS configurations, DeleteObjects requests, STS answers). These documents have no nesting that
// matters beyond one level, so tag matching is enough; nothing here is a general XML parser.

import { randomBytes } from "node:crypto";

export function escapeXml(text) {
  return String(text).replace(/[<>&]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;" })[c]);
}

export function unescapeXml(text) {
  return String(text).replace(/&(lt|gt|amp|apos|quot|#x[0-9a-fA-F]+|#\d+);/g, (_, e) => {
    if (e[0] === "#") return String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return { lt: "<", gt: ">", amp: "&", apos: "'", quot: '"' }[e];
  });
}

/** The unescaped text of every `<tag>...</tag>` in `xml`, in order. */
export function allTags(xml, tag) {
  const out = [];
  const re = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, "g");
  for (const m of String(xml).matchAll(re)) out.push(m[1]);
  return out;
}

/** The unescaped text of the first `<tag>`, or undefined. */
export function tagText(xml, tag) {
  const raw = allTags(xml, tag)[0];
  return raw === undefined ? undefined : unescapeXml(raw.trim());
}

/** A request id in S3's style (16 upper-case hex characters). */
export function requestId() {
  return randomBytes(8).toString("hex").toUpperCase();
}

/** An S3 error body: <Error><Code/><Message/>...extra...<RequestId/><HostId/></Error>. */
export function errorXml(code, message, extra = {}, id = requestId()) {
  const fields = Object.entries(extra)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<${k}>${escapeXml(v)}</${k}>`)
    .join("");
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message>` +
    `${fields}<RequestId>${id}</RequestId><HostId>${randomBytes(24).toString("base64")}</HostId></Error>`
  );
}
