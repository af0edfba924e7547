import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

export interface BenchResult {
  /** e.g. `pull-server`. */
  name: string;
  /** Figures with their units in the key, e.g. `{ requestsPerSecond: 1234, p99Ms: 4.2 }`. */
  figures: Record<string, number>;
  /** Ratios against the baseline measured in the same run, e.g. `{ dbRouteVsNoDbRoute: 0.41 }`. */
  ratios: Record<string, number>;
  /** What was measured and how, for the reader of the JSON. */
  notes?: string;
}

/** Prints a benchmark's figures and writes them to `bench/results/<name>.json`. */
export function report(result: BenchResult): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const record = { ...result, at: new Date().toISOString(), node: process.version };
  writeFileSync(`${RESULTS_DIR}${result.name}.json`, `${JSON.stringify(record, null, 2)}\n`);
  process.stdout.write(`\n== ${result.name}\n`);
  for (const [key, value] of Object.entries(result.figures))
    process.stdout.write(`  ${key.padEnd(36)} ${format(value)}\n`);
  for (const [key, value] of Object.entries(result.ratios))
    process.stdout.write(`  ratio ${key.padEnd(30)} ${format(value)}\n`);
}

function format(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(3);
}
