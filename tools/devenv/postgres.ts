import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { appendFile, chown, mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import {
  aptInstall,
  freePort,
  isRoot,
  type Log,
  packageRoot,
  portOpen,
  processMatches,
  run,
  runOrThrow,
  sleep,
  stateDir,
  tail,
} from './util.js';

export interface PostgresState {
  pid: number;
  port: number;
  dataDir: string;
  url: string;
}

export const PG_USER = 'pingpull';
export const PG_PASSWORD = 'pingpull';

/**
 * Where the throwaway cluster lives. Postgres refuses to run as root, so as
 * root it runs as the `postgres` OS user, which may not be able to reach the
 * checkout (e.g. under /root): then the cluster goes to /var/tmp, in a folder
 * named after the checkout so two checkouts never share a cluster.
 */
export function postgresBaseDir(): string {
  if (!isRoot()) return path.join(stateDir, 'pg');
  const hash = createHash('sha256').update(packageRoot).digest('hex').slice(0, 10);
  return path.join('/var/tmp', `pingpull-services-${hash}`, 'pg');
}

const dataDirOf = (base: string) => path.join(base, 'data');

export async function findBinDir(log: Log): Promise<string> {
  const find = () => {
    const root = '/usr/lib/postgresql';
    const versions = existsSync(root)
      ? readdirSync(root)
          .filter((v) => /^\d+(\.\d+)?$/.test(v) && existsSync(path.join(root, v, 'bin', 'pg_ctl')))
          .sort((a, b) => Number(b) - Number(a))
      : [];
    return versions.length ? path.join(root, versions[0]!, 'bin') : undefined;
  };
  const found = find();
  if (found) return found;
  await aptInstall(log, ['postgresql']);
  const installed = find();
  if (!installed) throw new Error('postgresql installed but no /usr/lib/postgresql/<version>/bin/pg_ctl found');
  return installed;
}

/** Runs a Postgres tool as the user the server will run as. */
export function pgTool(binDir: string, tool: string, args: string[], cwd: string) {
  const exe = path.join(binDir, tool);
  return isRoot()
    ? runOrThrow('runuser', ['-u', 'postgres', '--', exe, ...args], { cwd })
    : runOrThrow(exe, args, { cwd });
}

export async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const uid = Number((await runOrThrow('id', ['-u', 'postgres'])).trim());
  const gid = Number((await runOrThrow('id', ['-g', 'postgres'])).trim());
  return { uid, gid };
}

export function postmasterPid(dataDir: string): number | undefined {
  try {
    return Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]) || undefined;
  } catch {
    return undefined;
  }
}

export async function postgresAlive(state: PostgresState): Promise<boolean> {
  // Generous timeout: a false "dead" would wipe a cluster other test runs are using.
  return processMatches(state.pid, state.dataDir) && (await portOpen(state.port, '127.0.0.1', 5000));
}

/** Creates a fresh cluster (wiping any previous one of this checkout) and starts it. */
export async function startPostgres(log: Log): Promise<PostgresState> {
  const binDir = await findBinDir(log);
  await stopPostgres(log);
  const base = postgresBaseDir();
  const dataDir = dataDirOf(base);
  const socketDir = path.join(base, 'run');
  const logFile = path.join(base, 'postgres.log');
  await mkdir(socketDir, { recursive: true });
  const pwfile = path.join(base, 'pwfile');
  await writeFile(pwfile, `${PG_PASSWORD}\n`, { mode: 0o600 });
  if (isRoot()) {
    const { uid, gid } = await postgresIds();
    await chown(base, uid, gid);
    await chown(socketDir, uid, gid);
    await chown(pwfile, uid, gid);
  }

  log(`initdb ${dataDir}`);
  // --no-sync only skips initdb's final flush; the server itself keeps fsync on.
  await pgTool(
    binDir,
    'initdb',
    ['-D', dataDir, '-U', PG_USER, `--pwfile=${pwfile}`, '--auth=trust', '--encoding=UTF8', '--no-locale', '--no-sync'],
    base,
  );
  await rm(pwfile, { force: true });
  await appendFile(path.join(dataDir, 'postgresql.conf'), "\ninclude 'pingpull.conf'\n");

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    // A socket path longer than ~107 bytes cannot be bound; TCP alone is enough for us.
    const sockets = socketDir.length + 20 < 107 ? socketDir : '';
    const conf = [
      "listen_addresses = '127.0.0.1'",
      `port = ${port}`,
      `unix_socket_directories = '${sockets}'`,
      'wal_level = logical',
      'max_replication_slots = 64',
      'max_wal_senders = 64',
      'max_connections = 300',
    ];
    await writeFile(path.join(dataDir, 'pingpull.conf'), conf.join('\n') + '\n');
    log(`starting postgres on 127.0.0.1:${port}`);
    try {
      await pgTool(binDir, 'pg_ctl', ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start'], base);
    } catch (err) {
      const logTail = await tail(logFile);
      // Someone took the port between freePort() and the bind: pick another.
      if (attempt < 5 && /could not bind|already in use/i.test(logTail)) continue;
      throw new Error(`${(err as Error).message}\n--- ${logFile} ---\n${logTail}`);
    }
    const pid = postmasterPid(dataDir);
    if (!pid) throw new Error(`postgres started but ${dataDir}/postmaster.pid is unreadable`);
    const url = `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${port}/postgres`;
    await checkWalLevel(url);
    return { pid, port, dataDir, url };
  }
}

export async function checkWalLevel(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ wal_level: string }>('SHOW wal_level');
    if (rows[0]?.wal_level !== 'logical') throw new Error(`wal_level is ${rows[0]?.wal_level}, expected logical`);
  } finally {
    await client.end();
  }
}

/** Stops this checkout's cluster if it runs and deletes it; works without a state file. */
export async function stopPostgres(log: Log): Promise<void> {
  const base = postgresBaseDir();
  const dataDir = dataDirOf(base);
  const pid = postmasterPid(dataDir);
  if (processMatches(pid, dataDir)) {
    log(`stopping postgres (pid ${pid})`);
    const binDir = await findBinDir(log);
    const exe = path.join(binDir, 'pg_ctl');
    const args = ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop'];
    const r = isRoot()
      ? await run('runuser', ['-u', 'postgres', '--', exe, ...args], { cwd: base })
      : await run(exe, args, { cwd: base });
    if (r.code !== 0) {
      log(`pg_ctl stop failed (${r.output.trim()}), killing ${pid}`);
      try {
        process.kill(pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (let i = 0; i < 100 && processMatches(pid, dataDir); i++) await sleep(100);
  }
  await rm(base, { recursive: true, force: true });
  if (isRoot()) await rmdir(path.dirname(base)).catch(() => undefined);
}
