// Writing benchmark results into BENCHMARKS.md: each benchmark owns the block between its markers.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";

/** "2 × AMD EPYC, 24 GiB RAM": the machine a run's figures were taken on. */
export function machine() {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model ?? "cpu"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM`;
}

const esc = (s) => String(s).replace(/\|/g, "\\|");

/** The markdown table of result rows `{ pass, figure, value, baseline, ratio, target }`. */
export function resultTable(rows) {
  return [
    "| | Figure | tapesync | Baseline | Ratio | Target |",
    "|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.pass == null ? "" : r.pass ? "PASS" : "**FAIL**"} | ${esc(r.figure.trim())} | ${esc(r.value)} | ${esc(r.baseline)} | ${esc(r.ratio)} | ${esc(r.target)} |`),
  ];
}

/**
 * Replaces the text between `start` and `end` in `file` with `lines` (markers included); appends the
 * block after `heading` when the markers are missing, creating the file if needed.
 */
export function writeSection(file, { start, end, heading, lines }) {
  const block = [start, ...lines, end].join("\n");
  let text = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n\nRun with `make bench`.\n";
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  text = a >= 0 && b > a
    ? text.slice(0, a) + block + text.slice(b + end.length)
    : text.trimEnd() + "\n\n" + (heading ? `${heading}\n\n` : "") + block + "\n";
  writeFileSync(file, text);
}
