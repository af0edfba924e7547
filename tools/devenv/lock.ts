import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Log, processMatches, sleep } from './util.js';

interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

/**
 * Runs `fn` while holding an exclusive lock file, so that two test runs (or a
 * test run and a developer's `services up`) never start two clusters into the
 * same state file. The first `up` may download jars for minutes, hence the long wait.
 */
export async function withLock<T>(file: string, log: Log, fn: () => Promise<T>, waitMs = 15 * 60_000): Promise<T> {
  await mkdir(path.dirname(file), { recursive: true });
  const deadline = Date.now() + waitMs;
  let told = false;
  for (;;) {
    try {
      const handle = await open(file, 'wx');
      const owner: LockOwner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
      await handle.writeFile(JSON.stringify(owner));
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await removeIfStale(file, log)) continue;
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${file}`);
    if (!told) {
      log(`waiting for another process holding ${file}`);
      told = true;
    }
    await sleep(250);
  }
  try {
    return await fn();
  } finally {
    await unlink(file).catch(() => undefined);
  }
}

async function removeIfStale(file: string, log: Log): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return true; // released between our open and read: just retry
  }
  let owner: LockOwner | undefined;
  try {
    owner = JSON.parse(text) as LockOwner;
  } catch {
    // The owner may be between creating and writing the file; only an old,
    // still-unparsable file is treated as stale (its writer died mid-write).
    const mtimeMs = (await stat(file).catch(() => null))?.mtimeMs ?? 0;
    if (Date.now() - mtimeMs < 5_000) return false;
  }
  // A lock from another host (shared folder) cannot be checked: never break it.
  if (owner && owner.host !== os.hostname()) return false;
  // Lock holders are node processes.
  if (owner && processMatches(owner.pid, 'node')) return false;
  // Re-read right before removing so a lock taken meanwhile by someone else survives.
  const again = await readFile(file, 'utf8').catch(() => null);
  if (again !== text) return again === null;
  log(`removing stale lock left by pid ${owner?.pid ?? '?'}`);
  await unlink(file).catch(() => undefined);
  return true;
}
