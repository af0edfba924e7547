import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/cli.js';
import { LAUNCHER, launcherNodeFlags } from '../helpers/launcher.js';
import { waitFor } from '../helpers/wait.js';

// `npx pingpull` runs bin/pingpull.js as an executable: its first line starts
// Node with pingpull's memory defaults. A first line the system cannot run
// would break every command; flags Node refuses would too.
describe('the launcher', () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  it('runs as an executable and starts Node with its memory flags', async () => {
    expect(launcherNodeFlags()).toEqual(['--max-semi-space-size=8', '--heap-growing-percent=60']);
    const port = await freePort();
    const child = spawn(LAUNCHER, ['livefyre-sim', '--port', String(port)], {
      env: {
        ...process.env,
        PINGPULL_LIVEFYRE_NETWORK: 'launcher.fyre.co',
        PINGPULL_LIVEFYRE_NETWORK_KEY: 'bGF1bmNoZXIta2V5',
        PINGPULL_SIMULATOR_HOST: '127.0.0.1',
        PINGPULL_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise((resolve) => child.once('close', resolve));
    stop = async () => {
      child.kill('SIGTERM');
      await exited;
    };
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, {
      what: 'the simulator started by the launcher',
      timeoutMs: 15_000,
    });
    // env replaced itself with node: the process answering is node, with the launcher's flags before the script
    expect(stderr).not.toMatch(/bad option/);
    const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    const script = argv.indexOf(LAUNCHER);
    expect(script, argv.join(' ')).toBeGreaterThan(0);
    expect(argv.slice(1, script)).toEqual(launcherNodeFlags());
  });
});
