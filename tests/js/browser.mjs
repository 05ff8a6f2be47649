// Shared by the end-to-end tests: Debian's Chromium driven by playwright-core (never a downloaded
// browser) on pages served from the repository root on 127.0.0.1.
import { chromium } from "playwright-core";
import { serve } from "../../scripts/serve.mjs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

const ARGS = [
  "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
  "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
];

/** Starts the static server and the browser; `close()` stops both. */
export async function launch() {
  const server = await serve({ root: ROOT });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ARGS });
  return {
    url: server.url,
    browser,
    /** A new page (in a new context: its own storage) on `path`, with the console forwarded on failure. */
    async page(path = "/tests/js/pages/blank.html") {
      const context = await browser.newContext();
      const page = await context.newPage();
      const logs = [];
      page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
      page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
      await page.goto(server.url + path);
      page.logs = logs;
      return page;
    },
    async close() {
      await browser.close();
      await server.close();
    },
  };
}
