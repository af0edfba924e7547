import type { Config } from '../config/index.js';
import { parseTableName, quoteIdent, type Pool, type TableName } from '../db.js';
import { DatabaseSetupError } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * `pingpull setup`, `teardown` and `check`: the publication (with a column
 * list) and the logical slot the connector reads. Each problem is one line
 * saying what is wrong and what to do about it.
 */
export interface DatabaseSetupOptions {
  pool: Pool;
  source: Config['source'];
  replication: Config['replication'];
  /** Run `ALTER TABLE ... REPLICA IDENTITY FULL` (exact change detection). */
  replicaIdentityFull?: boolean;
  logger: Logger;
}

export interface TeardownOptions extends DatabaseSetupOptions {
  /** Terminate a connector still reading the slot instead of failing. */
  force?: boolean;
}

/** What the database looks like, read without changing anything. */
interface Survey {
  problems: string[];
  role: string;
  table: TableName;
  /** Columns of the table in attnum order; empty when the table is missing. */
  columns: string[];
  owner: boolean;
  superuser: boolean;
  replicaIdentity: 'd' | 'n' | 'f' | 'i' | null;
  /** Primary key (identity default) or replica identity index columns. */
  identityColumns: string[];
  publication: PublicationState | null;
  slot: SlotState | null;
}

interface PublicationState {
  allTables: boolean;
  publishesAll: boolean;
  tables: { schema: string; name: string; columns: string[] | null }[];
}

interface SlotState {
  plugin: string | null;
  database: string | null;
  active: boolean;
  activePid: number | null;
  walStatus: string | null;
}

const PUBLISH = 'insert, update, delete, truncate';

/** The columns the connector needs, in a stable order: id first. */
function watchedColumns(source: Config['source']): string[] {
  return unique([source.idColumn, ...Object.values(source.columns)]);
}

/**
 * The column list the publication must carry. Postgres refuses UPDATE and
 * DELETE on the table when the list does not cover the replica identity:
 * the key columns join the list, and with REPLICA IDENTITY FULL there can be
 * no list at all (`null`): every column reaches the connector, which drops
 * the unmapped ones before anything is published.
 */
function publicationColumns(
  survey: Pick<Survey, 'replicaIdentity' | 'identityColumns'>,
  source: Config['source'],
): string[] | null {
  if (survey.replicaIdentity === 'f') return null;
  return unique([...watchedColumns(source), ...survey.identityColumns]);
}

/** `check`'s findings: problems (each one actionable line; exit 1) and information (exit 0). */
export async function checkDatabaseReport(
  options: DatabaseSetupOptions,
): Promise<{ problems: string[]; notes: string[] }> {
  const notes: string[] = [];
  const survey = await surveyDatabase(options);
  const problems = [...survey.problems];
  const { replication } = options;
  problems.push(...identityProblems(survey));
  if (survey.publication === null) {
    problems.push(`publication ${replication.publication} does not exist: run pingpull setup`);
  } else if (survey.problems.length === 0) {
    const drift = publicationDrift(survey, options.source);
    if (drift !== null) problems.push(`${drift}: run pingpull setup`);
  }
  if (survey.slot === null) {
    problems.push(`replication slot ${replication.slot} does not exist: run pingpull setup`);
  } else {
    problems.push(...slotProblems(survey.slot, replication.slot));
    if (survey.slot.active) {
      // A running connector holds its slot: that is the healthy state, not a problem.
      notes.push(
        `replication slot ${replication.slot} is streaming to process ${survey.slot.activePid ?? '?'} (a connector is running; another one would wait as a standby)`,
      );
    } else {
      notes.push(
        `replication slot ${replication.slot} is idle (no connector is reading it; WAL is kept for it until one does)`,
      );
    }
  }
  if (survey.replicaIdentity === 'f')
    notes.push(
      `${survey.table.schema}.${survey.table.name} has REPLICA IDENTITY FULL: the publication carries all columns (see the README's trade-off)`,
    );
  return { problems, notes };
}

export async function setupDatabase(options: DatabaseSetupOptions): Promise<string[]> {
  const { pool, source, replication, logger } = options;
  const survey = await surveyDatabase(options);
  const problems = [...survey.problems];
  if (survey.slot !== null) problems.push(...slotProblems(survey.slot, replication.slot));
  if (survey.publication?.allTables === true) {
    problems.push(
      `publication ${replication.publication} is FOR ALL TABLES (or IN SCHEMA) and would publish every table: drop it or set replication.publication to another name`,
    );
  }
  const wantFull = options.replicaIdentityFull === true;
  if (!wantFull) problems.push(...identityProblems(survey));
  const needsOwnership =
    survey.publication === null ||
    publicationDrift({ ...survey, replicaIdentity: wantFull ? 'f' : survey.replicaIdentity }, source) !== null ||
    (wantFull && survey.replicaIdentity !== 'f');
  if (survey.columns.length > 0 && needsOwnership && !survey.owner && !survey.superuser) {
    problems.push(
      `role ${survey.role} does not own ${survey.table.schema}.${survey.table.name}, which creating or changing publication ${replication.publication} needs: ` +
        `have the table owner run \`${ownerStatements(survey, source, replication.publication, wantFull).join('; ')};\` then run pingpull setup again (it creates the slot)`,
    );
  }
  if (
    survey.slot !== null &&
    survey.slot.active &&
    (survey.slot.walStatus === 'lost' || survey.slot.walStatus === 'unreserved')
  ) {
    problems.push(
      `replication slot ${replication.slot} must be recreated but process ${survey.slot.activePid ?? '?'} is reading it: stop the connector(s), then pingpull teardown && pingpull setup && pingpull resync --all`,
    );
  }
  if (problems.length > 0) {
    throw new DatabaseSetupError(`the database is not ready for pingpull:\n  ${problems.join('\n  ')}`);
  }

  const done: string[] = [];
  const table = survey.table;
  const target = { ...survey, replicaIdentity: wantFull ? ('f' as const) : survey.replicaIdentity };
  const columns = publicationColumns(target, source);
  const tableSpec = `${table.qualified}${columns === null ? '' : ` (${columns.map(quoteIdent).join(', ')})`}`;
  const publication = quoteIdent(replication.publication);
  const client = await pool.connect();
  try {
    // One transaction: between a narrower column list and REPLICA IDENTITY FULL
    // the customer's UPDATEs would fail, so both change together or not at all.
    await client.query('BEGIN');
    if (survey.publication === null) {
      await client.query(`CREATE PUBLICATION ${publication} FOR TABLE ${tableSpec} WITH (publish = '${PUBLISH}')`);
      done.push(`created publication ${replication.publication} FOR TABLE ${describeTable(table, columns)}`);
    } else {
      if (publicationDrift(target, source) !== null) {
        await client.query(`ALTER PUBLICATION ${publication} SET TABLE ${tableSpec}`);
        done.push(`changed publication ${replication.publication} to FOR TABLE ${describeTable(table, columns)}`);
      } else {
        done.push(`publication ${replication.publication} exists FOR TABLE ${describeTable(table, columns)}`);
      }
      if (!survey.publication.publishesAll) {
        await client.query(`ALTER PUBLICATION ${publication} SET (publish = '${PUBLISH}')`);
        done.push(`publication ${replication.publication} now publishes ${PUBLISH}`);
      }
    }
    if (wantFull && survey.replicaIdentity !== 'f') {
      await client.query(`ALTER TABLE ${table.qualified} REPLICA IDENTITY FULL`);
      done.push(`set REPLICA IDENTITY FULL on ${table.schema}.${table.name}`);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw new DatabaseSetupError(`setup failed: ${(error as Error).message}`, error);
  } finally {
    client.release();
  }

  const extraKeys = (columns ?? []).filter((column) => !watchedColumns(source).includes(column));
  if (extraKeys.length > 0) {
    done.push(
      `the column list also carries replica identity column(s) ${extraKeys.join(', ')} (PostgreSQL requires them); they never reach Kafka`,
    );
  }
  if (target.replicaIdentity === 'f') {
    const unmapped = survey.columns.filter((column) => !watchedColumns(source).includes(column));
    done.push(`replica identity FULL: updates that change no mapped column are skipped exactly`);
    if (unmapped.length > 0) {
      done.push(
        `warning: PostgreSQL refuses a publication column list that does not cover a FULL replica identity, so the publication carries ALL columns: ` +
          `${unmapped.join(', ')} are decoded and sent to the connector (which drops them before Kafka; they are never logged or published), ` +
          `and every UPDATE/DELETE writes the whole old row to WAL. Without --replica-identity-full these columns never leave the database (see the README)`,
      );
    }
  } else {
    done.push(
      `replica identity ${target.replicaIdentity === 'i' ? 'USING INDEX' : 'DEFAULT'}: updates of unmapped columns are filtered by a memory of recently published profiles (--replica-identity-full filters them exactly)`,
    );
  }

  if (survey.slot === null) {
    try {
      await pool.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [replication.slot]);
      done.push(`created logical replication slot ${replication.slot} (pgoutput)`);
    } catch (error) {
      // A concurrent setup may have won the race: that is the idempotent outcome.
      if ((error as { code?: string }).code !== '42710') {
        throw new DatabaseSetupError(
          `cannot create replication slot ${replication.slot}: ${(error as Error).message}`,
          error,
        );
      }
      done.push(`replication slot ${replication.slot} exists`);
    }
  } else {
    done.push(
      `replication slot ${replication.slot} exists (${survey.slot.active ? `in use by process ${survey.slot.activePid ?? '?'}` : 'idle'})`,
    );
  }
  logger.info({ actions: done }, 'database setup done');
  return done;
}

export async function teardownDatabase(options: TeardownOptions): Promise<string[]> {
  const { pool, replication, logger } = options;
  const done: string[] = [];
  // A terminated connector reconnects after a moment and may take the slot
  // again before the drop: terminate and drop until the drop wins.
  for (let attempt = 1; ; attempt += 1) {
    const slot = await readSlot(pool, replication.slot);
    if (slot === null) {
      if (attempt === 1) done.push(`replication slot ${replication.slot} does not exist`);
      break;
    }
    if (slot.active) {
      if (options.force !== true) {
        throw new DatabaseSetupError(
          `replication slot ${replication.slot} is in use by process ${slot.activePid ?? '?'}: stop the connector first, or teardown with --force to terminate it`,
        );
      }
      await pool.query('SELECT pg_terminate_backend($1)', [slot.activePid]);
      done.push(`terminated process ${slot.activePid ?? '?'} reading slot ${replication.slot}`);
      await waitUntilInactive(pool, replication.slot);
    }
    try {
      await pool.query('SELECT pg_drop_replication_slot($1)', [replication.slot]);
      done.push(`dropped replication slot ${replication.slot}`);
      break;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === '42704') break;
      if (code !== '55006' || options.force !== true || attempt >= 10) {
        throw new DatabaseSetupError(
          `cannot drop replication slot ${replication.slot}: ${(error as Error).message}`,
          error,
        );
      }
    }
  }
  await pool.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(replication.publication)}`);
  done.push(`dropped publication ${replication.publication} (if it existed)`);
  logger.info({ actions: done }, 'database teardown done');
  return done;
}

async function waitUntilInactive(pool: Pool, slotName: string): Promise<void> {
  // pg_terminate_backend only signals; the walsender releases the slot a moment later.
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const slot = await readSlot(pool, slotName);
    if (slot === null || !slot.active) return;
    await pool.query('SELECT pg_sleep(0.1)');
  }
}

async function surveyDatabase(options: DatabaseSetupOptions): Promise<Survey> {
  const { pool, source, replication } = options;
  const problems: string[] = [];
  const table = parseTableName(source.table);
  const settings = await pool.query<{
    wal_level: string;
    version: string;
    superuser: boolean;
    replication: boolean;
    role: string;
    db: string;
  }>(
    `SELECT current_setting('wal_level') AS wal_level, current_setting('server_version_num') AS version, current_database() AS db,
            r.rolsuper AS superuser, r.rolreplication AS replication, current_user AS role
       FROM pg_roles r WHERE r.rolname = current_user`,
  );
  const info = settings.rows[0];
  if (info === undefined) throw new DatabaseSetupError('cannot read the current role from pg_roles');
  if (info.wal_level !== 'logical') {
    problems.push(
      `wal_level is ${info.wal_level}, expected logical: set wal_level = logical (ALTER SYSTEM SET wal_level = logical) and restart PostgreSQL`,
    );
  }
  const version = Number(info.version);
  if (version < 150000) {
    problems.push(
      `PostgreSQL ${Math.floor(version / 10000)} is too old: pingpull needs 15 or newer (publication column lists keep unmapped columns in the database)`,
    );
  }
  if (!info.superuser && !info.replication) {
    problems.push(
      `role ${info.role} lacks the REPLICATION attribute: run ALTER ROLE ${quoteIdent(info.role)} REPLICATION as a superuser`,
    );
  }

  const relation = await pool.query<{
    oid: number;
    replident: 'd' | 'n' | 'f' | 'i';
    owner: boolean;
    can_select: boolean;
  }>(
    `SELECT c.oid, c.relreplident AS replident, pg_has_role(c.relowner, 'USAGE') AS owner,
            has_table_privilege(c.oid, 'SELECT') AS can_select
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [table.schema, table.name],
  );
  const rel = relation.rows[0];
  let columns: string[] = [];
  let identityColumns: string[] = [];
  if (rel === undefined) {
    problems.push(`table ${table.schema}.${table.name} does not exist (source.table)`);
  } else {
    if (!rel.can_select) {
      problems.push(
        `role ${info.role} cannot read ${table.schema}.${table.name}: have its owner run GRANT SELECT ON ${table.qualified} TO ${quoteIdent(info.role)} (resync and pulls read it)`,
      );
    }
    const attributes = await pool.query<{ attname: string }>(
      'SELECT attname FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum',
      [rel.oid],
    );
    columns = attributes.rows.map((row) => row.attname);
    if (!columns.includes(source.idColumn)) {
      problems.push(`column ${source.idColumn} does not exist in ${table.schema}.${table.name} (source.idColumn)`);
    }
    for (const [field, column] of Object.entries(source.columns)) {
      if (!columns.includes(column)) {
        problems.push(`column ${column} does not exist in ${table.schema}.${table.name} (source.columns.${field})`);
      }
    }
    const identity = await pool.query<{ attname: string }>(
      `SELECT a.attname FROM pg_index i
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[])
        WHERE i.indrelid = $1 AND (CASE $2::text WHEN 'i' THEN i.indisreplident ELSE i.indisprimary END)
        ORDER BY a.attnum`,
      [rel.oid, rel.replident],
    );
    identityColumns = identity.rows.map((row) => row.attname);
  }

  const slot = await readSlot(pool, replication.slot);
  if (slot !== null && slot.database !== info.db) {
    problems.push(
      `replication slot ${replication.slot} belongs to database ${slot.database ?? '(none: a physical slot)'}, not ${info.db}: choose another replication.slot`,
    );
  }
  return {
    problems,
    role: info.role,
    table,
    columns,
    owner: rel?.owner ?? false,
    superuser: info.superuser,
    replicaIdentity: rel?.replident ?? null,
    identityColumns,
    publication: await readPublication(pool, replication.publication),
    slot,
  };
}

async function readPublication(pool: Pool, name: string): Promise<PublicationState | null> {
  const publication = await pool.query<{
    oid: number;
    all_tables: boolean;
    publishes_all: boolean;
    in_schema: boolean;
  }>(
    `SELECT p.oid, p.puballtables AS all_tables,
            (p.pubinsert AND p.pubupdate AND p.pubdelete AND p.pubtruncate) AS publishes_all,
            EXISTS (SELECT 1 FROM pg_publication_namespace pn WHERE pn.pnpubid = p.oid) AS in_schema
       FROM pg_publication p WHERE p.pubname = $1`,
    [name],
  );
  const row = publication.rows[0];
  if (row === undefined) return null;
  const tables = await pool.query<{ schema: string; name: string; columns: string[] | null }>(
    `SELECT n.nspname AS schema, c.relname AS name,
            CASE WHEN pr.prattrs IS NULL THEN NULL ELSE
              ARRAY(SELECT a.attname::text FROM pg_attribute a
                     WHERE a.attrelid = pr.prrelid AND a.attnum = ANY(pr.prattrs::int2[]) ORDER BY a.attnum) END AS columns
       FROM pg_publication_rel pr JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE pr.prpubid = $1`,
    [row.oid],
  );
  return { allTables: row.all_tables || row.in_schema, publishesAll: row.publishes_all, tables: tables.rows };
}

async function readSlot(pool: Pool, name: string): Promise<SlotState | null> {
  const result = await pool.query<{
    plugin: string | null;
    database: string | null;
    active: boolean;
    active_pid: number | null;
    wal_status: string | null;
  }>('SELECT plugin, database, active, active_pid, wal_status FROM pg_replication_slots WHERE slot_name = $1', [name]);
  const row = result.rows[0];
  if (row === undefined) return null;
  return {
    plugin: row.plugin,
    database: row.database,
    active: row.active,
    activePid: row.active_pid,
    walStatus: row.wal_status,
  };
}

/** Postgres refuses UPDATE and DELETE on a published table without a replica identity. */
function identityProblems(survey: Survey): string[] {
  const { replicaIdentity, identityColumns, table } = survey;
  if (replicaIdentity === 'n' || (replicaIdentity === 'd' && identityColumns.length === 0)) {
    return [
      `${table.schema}.${table.name} has no primary key (replica identity ${replicaIdentity === 'n' ? 'NOTHING' : 'DEFAULT'}): once published, UPDATE and DELETE on it would fail; add a primary key or run setup with --replica-identity-full`,
    ];
  }
  return [];
}

function slotProblems(slot: SlotState, name: string): string[] {
  const problems: string[] = [];
  if (slot.plugin !== 'pgoutput') {
    problems.push(
      `replication slot ${name} uses plugin ${slot.plugin ?? '(physical)'}, expected pgoutput: choose another replication.slot or drop it`,
    );
  }
  if (slot.walStatus === 'lost' || slot.walStatus === 'unreserved') {
    problems.push(
      `replication slot ${name} has wal_status ${slot.walStatus}: PostgreSQL ${slot.walStatus === 'lost' ? 'removed WAL it needs (max_slot_wal_keep_size), changes are lost' : 'may remove WAL it needs at the next checkpoint (max_slot_wal_keep_size)'}: stop the connector, then run pingpull teardown && pingpull setup && pingpull resync --all`,
    );
  }
  return problems;
}

/** Why the publication differs from what the mapping needs, or null when it matches. */
function publicationDrift(
  survey: Pick<Survey, 'publication' | 'table' | 'replicaIdentity' | 'identityColumns'>,
  source: Config['source'],
): string | null {
  const publication = survey.publication;
  if (publication === null) return 'publication is missing';
  const wanted = publicationColumns(survey, source);
  const tables = publication.tables;
  const ours = tables.find((t) => t.schema === survey.table.schema && t.name === survey.table.name);
  if (ours === undefined || tables.length !== 1) {
    return `publication does not carry exactly ${survey.table.schema}.${survey.table.name}`;
  }
  const same =
    wanted === null
      ? ours.columns === null
      : ours.columns !== null &&
        ours.columns.length === wanted.length &&
        wanted.every((column) => ours.columns?.includes(column));
  if (!same) {
    return `publication carries ${ours.columns === null ? 'all columns' : `columns (${ours.columns.join(', ')})`}, expected ${wanted === null ? 'all columns' : `(${wanted.join(', ')})`}`;
  }
  return null;
}

/** The statements a table owner runs for a setup role that does not own the table. */
function ownerStatements(
  survey: Survey,
  source: Config['source'],
  publicationName: string,
  wantFull: boolean,
): string[] {
  const target = { ...survey, replicaIdentity: wantFull ? ('f' as const) : survey.replicaIdentity };
  const columns = publicationColumns(target, source);
  const spec = `${survey.table.qualified}${columns === null ? '' : ` (${columns.map(quoteIdent).join(', ')})`}`;
  const statements: string[] = [];
  if (wantFull && survey.replicaIdentity !== 'f')
    statements.push(`ALTER TABLE ${survey.table.qualified} REPLICA IDENTITY FULL`);
  statements.push(
    survey.publication === null
      ? `CREATE PUBLICATION ${quoteIdent(publicationName)} FOR TABLE ${spec} WITH (publish = '${PUBLISH}')`
      : `ALTER PUBLICATION ${quoteIdent(publicationName)} SET TABLE ${spec}`,
  );
  return statements;
}

function describeTable(table: TableName, columns: string[] | null): string {
  return `${table.schema}.${table.name}${columns === null ? ' (all columns)' : ` (${columns.join(', ')})`}`;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
