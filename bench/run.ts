import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { writeChart } from './lib/chart.js';
import { launcherNodeFlags } from '../test/helpers/launcher.js';

// Runs every bench/*.bench.ts in turn, each in its own process (so one's
// memory does not colour another's), or only those named on the command line.
// Each runs with the Node flags the launcher (bin/pingpull.js) gives pingpull,
// so what a bench runs in its own process (the connector, the pinger, and
// the baselines beside them) runs as `pingpull` would.
const dir = fileURLToPath(new URL('.', import.meta.url));
const wanted = process.argv.slice(2);
const benches = readdirSync(dir)
  .filter((file) => file.endsWith('.bench.ts'))
  .filter((file) => wanted.length === 0 || wanted.some((name) => file.startsWith(name)))
  .sort();

let failed = 0;
for (const file of benches) {
  process.stdout.write(`\n# ${file}\n`);
  const result = spawnSync(process.execPath, [...launcherNodeFlags(), '--import', 'tsx', `${dir}${file}`], {
    stdio: 'inherit',
  });
  if (result.status !== 0) failed += 1;
}
process.stdout.write(`\nchart of the last run: ${writeChart(`${dir}results/`)}\n`);
process.exitCode = failed === 0 ? 0 : 1;
