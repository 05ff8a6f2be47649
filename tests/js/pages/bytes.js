// Deterministic test audio: `bytes(n, seed)` is the same in node and in every page (xorshift32), so a
// suite can check in node the SHA-256 of what a page recorded. Node imports this file; pages import it
// by URL, through `installBytes`.
export function bytes(n, seed) {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 255;
    if (i + 1 < n) out[i + 1] = (x >>> 8) & 255;
    if (i + 2 < n) out[i + 2] = (x >>> 16) & 255;
    if (i + 3 < n) out[i + 3] = x >>> 24;
  }
  return out;
}

/** Node side: gives a playwright `page` of the test server this `bytes`, as `window.testBytes`. */
export async function installBytes(page) {
  await page.evaluate(async () => {
    window.testBytes = (await import("/tests/js/pages/bytes.js")).bytes;
  });
}
