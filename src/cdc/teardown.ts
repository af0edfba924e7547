import { quoteIdent, type Pool } from '../db.js';
import { DatabaseSetupError } from '../errors.js';
import { readSlot, type DatabaseSetupOptions } from './setup.js';

export interface TeardownOptions extends Omit<DatabaseSetupOptions, 'replicaIdentityFull' | 'replicaIdentityIndex'> {
  /** Terminate a connector still reading the slot instead of failing. */
  force?: boolean;
}

export interface TeardownReport {
  /** One line per step: done, already absent, or what the role cannot do and the statement for who can. */
  lines: string[];
  /** Nothing of pingpull's is left in the database. */
  complete: boolean;
}

/**
 * `pingpull teardown`: drops the slot, then the publication. Idempotent, and
 * run by a least-privilege role it does what that role may and names the
 * statement the owner runs for the rest.
 */
export async function teardownDatabase(options: TeardownOptions): Promise<TeardownReport> {
  const { pool, replication, logger } = options;
  const slot = await dropSlot(pool, replication.slot, options.force === true);
  const publication = await dropPublication(pool, replication.publication);
  const report = { lines: [...slot.lines, publication.line], complete: slot.gone && publication.gone };
  // The command prints each line to the person; the log keeps them for debugging only.
  logger.debug({ actions: report.lines, complete: report.complete }, 'database teardown done');
  return report;
}

async function dropSlot(pool: Pool, name: string, force: boolean): Promise<{ lines: string[]; gone: boolean }> {
  const lines: string[] = [];
  // A terminated connector reconnects after a moment and may take the slot
  // again before the drop: terminate and drop until the drop wins.
  for (let attempt = 1; ; attempt += 1) {
    const slot = await readSlot(pool, name);
    if (slot === null) {
      if (attempt === 1) lines.push(`replication slot ${name} already absent`);
      return { lines, gone: true };
    }
    if (slot.active) {
      if (!force) {
        throw new DatabaseSetupError(
          `replication slot ${name} is in use by ${slot.holder}: stop the connector first, or teardown with --force to terminate it`,
        );
      }
      await pool.query('SELECT pg_terminate_backend($1)', [slot.activePid]);
      lines.push(`terminated ${slot.holder} reading slot ${name}`);
      await waitUntilInactive(pool, name);
    }
    try {
      await pool.query('SELECT pg_drop_replication_slot($1)', [name]);
      lines.push(`dropped replication slot ${name}`);
      return { lines, gone: true };
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === '42704') return { lines, gone: true };
      if (code === '42501') {
        lines.push(
          `cannot drop replication slot ${name}: ${(error as Error).message}; have a superuser run \`SELECT pg_drop_replication_slot('${name}');\``,
        );
        return { lines, gone: false };
      }
      if (code !== '55006' || !force || attempt >= 10) {
        throw new DatabaseSetupError(`cannot drop replication slot ${name}: ${(error as Error).message}`, error);
      }
    }
  }
}

async function dropPublication(pool: Pool, name: string): Promise<{ line: string; gone: boolean }> {
  const found = await pool.query<{ owner: string; may_drop: boolean }>(
    `SELECT pg_get_userbyid(p.pubowner) AS owner, pg_has_role(p.pubowner, 'USAGE') AS may_drop
       FROM pg_publication p WHERE p.pubname = $1`,
    [name],
  );
  const publication = found.rows[0];
  if (publication === undefined) return { line: `publication ${name} already absent`, gone: true };
  const statement = `DROP PUBLICATION IF EXISTS ${quoteIdent(name)}`;
  const refused = (reason: string) => ({
    line: `cannot drop publication ${name}: ${reason}; have role ${publication.owner} (its owner) or a superuser run \`${statement};\``,
    gone: false,
  });
  if (!publication.may_drop && !(await isSuperuser(pool))) return refused('only its owner may');
  try {
    await pool.query(statement);
    return { line: `dropped publication ${name}`, gone: true };
  } catch (error) {
    if ((error as { code?: string }).code === '42501') return refused((error as Error).message);
    throw new DatabaseSetupError(`cannot drop publication ${name}: ${(error as Error).message}`, error);
  }
}

async function isSuperuser(pool: Pool): Promise<boolean> {
  const result = await pool.query<{ superuser: boolean }>(
    'SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = current_user',
  );
  return result.rows[0]?.superuser === true;
}

async function waitUntilInactive(pool: Pool, slotName: string): Promise<void> {
  // pg_terminate_backend only signals; the walsender releases the slot a moment later.
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const slot = await readSlot(pool, slotName);
    if (slot === null || !slot.active) return;
    await pool.query('SELECT pg_sleep(0.1)');
  }
}
