// Registers the chaos tests of one cloud (see tests/js/chaos.mjs): one test per seed (CHAOS_SEEDS, else the
// file's own), CHAOS_CHANGES changes each (default 300), CHAOS_RATE faults per request (default 0.2). Each seed's
// figures are printed as a diagnostic line ("chaos figures {...}"), which docs/reliability.md collects.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "./browser.mjs";
import { runSeed, seeds } from "./chaos.mjs";

export function chaosSuite(cloud, { seed }) {
  let env;
  before(async () => {
    await cloud.start();
    env = await launch();
  }, { timeout: 600_000 });
  after(async () => {
    await env?.close();
    await cloud.stop();
  });
  const changes = Number(process.env.CHAOS_CHANGES ?? 300);
  const rate = Number(process.env.CHAOS_RATE ?? 0.2);
  for (const s of seeds([seed])) {
    test(`${cloud.name}, seed ${s}: three devices, ${changes} changes, a fault on ${Math.round(rate * 100)}% of requests: converged, nothing lost, nothing duplicated`, { timeout: 900_000 }, async (t) => {
      const { violations, figures, replay } = await runSeed({ env, cloud, seed: s, changes, rate, log: (m) => t.diagnostic(m) });
      t.diagnostic(`chaos figures ${JSON.stringify(figures)}`);
      assert.deepEqual(violations, [], `seed ${s} broke the verdict; replay: ${replay}\n${JSON.stringify(figures)}`);
    });
  }
}
