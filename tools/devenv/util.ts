import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Progress sink: one line per call, never stdout (stdout carries the env assignments). */
export type Log = (line: string) => void;

export const stderrLog: Log = (line) => process.stderr.write(`[services] ${line}\n`);

// The checkout these tools belong to: state and caches are kept per checkout.
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
export const stateDir = path.join(packageRoot, '.services');
export const cacheDir = path.join(packageRoot, '.cache');

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export const isRoot = () => process.getuid?.() === 0;

export interface RunResult {
  code: number;
  output: string;
}

/** Runs a command to completion, collecting stdout+stderr so failures can be shown. */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

export async function runOrThrow(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.output.trim()}`);
  }
  return r.output;
}

export async function commandExists(cmd: string): Promise<boolean> {
  return (await run('sh', ['-c', `command -v ${cmd}`])).code === 0;
}

let aptUpdated = false;
// Postgres and Kafka are brought up concurrently, but dpkg allows one install at a time.
let aptQueue: Promise<unknown> = Promise.resolve();

/** Installs Debian packages; only ever called when something is actually missing. */
export function aptInstall(log: Log, packages: string[]): Promise<void> {
  const next = aptQueue.then(() => aptInstallNow(log, packages));
  aptQueue = next.catch(() => undefined);
  return next;
}

async function aptInstallNow(log: Log, packages: string[]): Promise<void> {
  if (!isRoot()) {
    throw new Error(
      `missing ${packages.join(', ')}: install them (apt-get install ${packages.join(' ')}) or run as root`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    log('apt-get update');
    await runOrThrow('apt-get', ['update'], { env });
    aptUpdated = true;
  }
  log(`apt-get install ${packages.join(' ')}`);
  await runOrThrow('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { env });
}

/**
 * True when `pid` runs and its command line mentions `marker` (our data dir or
 * config path): a bare pid check would accept an unrelated process that reused
 * the pid after a reboot.
 */
export function processMatches(pid: number | undefined, marker: string): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const cmdline = `/proc/${pid}/cmdline`;
  if (!existsSync(cmdline)) return true; // not Linux: the pid check is all we have
  try {
    return readFileSync(cmdline, 'utf8').split('\0').join(' ').includes(marker);
  } catch {
    return false;
  }
}

/** A port the kernel just handed out; callers still retry because another process may grab it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Last lines of a log file, for error messages. */
export async function tail(file: string, lines = 40): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, size - length);
      return buf.toString('utf8').split('\n').slice(-lines).join('\n');
    } finally {
      await handle.close();
    }
  } catch {
    return `(no log at ${file})`;
  }
}
