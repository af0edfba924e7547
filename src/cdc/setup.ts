import type { Config } from '../config/index.js';
import { parseTableName, quoteIdent, type Pool, type TableName } from '../db.js';
import { DatabaseSetupError, ReplicaIdentityError, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  buildProfileMapping,
  publishedColumns,
  relatedPublishedColumns,
  surveyMapping,
  type MappingConfig,
  type ProfileMapping,
  type RelatedShape,
} from '../mapping/index.js';
import {
  coversId,
  findIdentityIndex,
  hasNoIdentity,
  identityProblems,
  identityStatements,
  noIdentityIndex,
  readTableIdentity,
  type IdentityIndex,
  type TableIdentity,
} from './identity.js';

/**
 * `pingpull setup`, `teardown` and `check`: the publication (with a column
 * list) and the logical slot the connector reads. Each problem is one line
 * saying what is wrong and what to do about it.
 */
export interface DatabaseSetupOptions {
  pool: Pool;
  source: MappingConfig['source'] & Pick<Config['source'], 'updatedAtColumn'>;
  /** What leaves the database: the publication's column lists (built from `source` alone when absent). */
  mapping?: ProfileMapping;
  replication: Config['replication'];
  /** Run `ALTER TABLE ... REPLICA IDENTITY FULL` (exact change detection). */
  replicaIdentityFull?: boolean;
  /** Run `ALTER TABLE ... REPLICA IDENTITY USING INDEX` with the unique index on source.idColumn. */
  replicaIdentityIndex?: boolean;
  logger: Logger;
}

/** What the database looks like, read without changing anything. */
interface Survey {
  problems: string[];
  role: string;
  table: TableName;
  /** Columns of the table in attnum order; empty when the table is missing. */
  columns: string[];
  /** Column → its type as PostgreSQL prints it. */
  columnTypes: Map<string, string>;
  oid: number | null;
  owner: boolean;
  superuser: boolean;
  /** CREATE on the database: CREATE PUBLICATION needs it besides owning the table. */
  canCreate: boolean;
  database: string;
  /** FULL when any table rows live in has it (then no column list is possible), else the root's. */
  replicaIdentity: 'd' | 'n' | 'f' | 'i' | null;
  /** Primary key (identity default) or replica identity index columns, of the root and every partition. */
  identityColumns: string[];
  identity: TableIdentity | null;
  /** The unique index --replica-identity-index would use, looked up when the id is outside the identity. */
  identityIndex: IdentityIndex | null;
  /** The tables of `source.related`, as the database has them. */
  related: readonly RelatedShape[];
  publication: PublicationState | null;
  slot: SlotState | null;
}

interface PublicationState {
  allTables: boolean;
  publishesAll: boolean;
  viaRoot: boolean;
  tables: { schema: string; name: string; columns: string[] | null }[];
}

interface SlotState {
  plugin: string | null;
  database: string | null;
  active: boolean;
  activePid: number | null;
  /** Who holds the slot, in words: the walsender pid and its client. */
  holder: string;
  walStatus: string | null;
}

const PUBLISH = 'insert, update, delete, truncate';

/**
 * The column list the publication must carry. Postgres refuses UPDATE and
 * DELETE on the table when the list does not cover the replica identity:
 * the key columns join the list, and with REPLICA IDENTITY FULL there can be
 * no list at all (`null`): every column reaches the connector, which drops
 * the unmapped ones before anything is published.
 */
function publicationColumns(
  survey: Pick<Survey, 'replicaIdentity' | 'identityColumns'>,
  mapping: ProfileMapping,
): string[] | null {
  if (survey.replicaIdentity === 'f') return null;
  return unique([...publishedColumns(mapping), ...survey.identityColumns]);
}

interface PublishedTable {
  table: TableName;
  /** null: all columns (REPLICA IDENTITY FULL). */
  columns: string[] | null;
}

/** Every table of the publication with its column list: the users table, then the related tables. */
function publishedTables(
  survey: Pick<Survey, 'table' | 'replicaIdentity' | 'identityColumns' | 'related'>,
  mapping: ProfileMapping,
): PublishedTable[] {
  return [
    { table: survey.table, columns: publicationColumns(survey, mapping) },
    ...survey.related.map(({ related, shape }) => ({
      table: related.table,
      columns:
        shape.replicaIdentity === 'f' ? null : unique([...relatedPublishedColumns(related), ...shape.identityColumns]),
    })),
  ];
}

function tableSpecs(tables: readonly PublishedTable[]): string {
  return tables
    .map(
      ({ table, columns }) => `${table.qualified}${columns === null ? '' : ` (${columns.map(quoteIdent).join(', ')})`}`,
    )
    .join(', ');
}

function describeTables(tables: readonly PublishedTable[]): string {
  return tables.map(({ table, columns }) => describeTable(table, columns)).join(', ');
}

/**
 * What `setup` tells the operator leaves the database, table by table: the
 * publication's column lists (the watched columns plus the key columns
 * PostgreSQL requires), or all columns under REPLICA IDENTITY FULL.
 */
function leavingColumns(tables: readonly PublishedTable[]): string {
  const described = tables.map(({ table, columns }) =>
    columns === null
      ? `${table.schema}.${table.name} (all columns: REPLICA IDENTITY FULL; the connector drops the unwatched ones before Kafka)`
      : `${table.schema}.${table.name} (${columns.join(', ')})`,
  );
  return `columns that leave the database: ${described.join(', ')}`;
}

function mappingOf(options: DatabaseSetupOptions): ProfileMapping {
  return options.mapping ?? buildProfileMapping({ source: options.source });
}

/** `check`'s findings: problems (each one actionable line; exit 1) and information (exit 0). */
export async function checkDatabaseReport(
  options: DatabaseSetupOptions,
): Promise<{ problems: string[]; notes: string[] }> {
  const notes: string[] = [];
  const survey = await surveyDatabase(options);
  const problems = [...survey.problems];
  const { replication, source } = options;
  const mapping = mappingOf(options);
  problems.push(...identityProblemsOf(survey, source));
  problems.push(...updatedAtProblems(survey, source));
  if (survey.publication === null) {
    problems.push(
      survey.columns.length > 0 && !mayCreatePublication(survey)
        ? `publication ${replication.publication} does not exist and role ${survey.role} cannot create it ` +
            `(${missingPublicationPrivileges(survey)}): have the table owner run ` +
            `\`${ownerStatements(survey, mapping, replication.publication, null).join('; ')};\` then run pingpull setup`
        : `publication ${replication.publication} does not exist: run pingpull setup`,
    );
  } else if (survey.problems.length === 0) {
    const drift = publicationDrift(survey, mapping);
    if (drift !== null) problems.push(`${drift}: run pingpull setup`);
  }
  if (survey.slot === null) {
    problems.push(`replication slot ${replication.slot} does not exist: run pingpull setup`);
  } else {
    problems.push(...slotProblems(survey.slot, replication.slot));
    if (survey.slot.active) {
      // A running connector holds its slot: that is the healthy state, not a problem.
      notes.push(
        `replication slot ${replication.slot} is streaming to ${survey.slot.holder} (a connector is running; another one would wait as a standby)`,
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
  if (survey.identity?.partitioned === true) notes.push(partitionNote(survey, replication.publication));
  return { problems, notes };
}

export async function setupDatabase(options: DatabaseSetupOptions): Promise<string[]> {
  const { pool, source, replication, logger } = options;
  const mapping = mappingOf(options);
  if (options.replicaIdentityFull === true && options.replicaIdentityIndex === true) {
    throw new UsageError('--replica-identity-full and --replica-identity-index exclude each other: choose one');
  }
  const survey = await surveyDatabase(options);
  const problems = [...survey.problems];
  if (survey.slot !== null) problems.push(...slotProblems(survey.slot, replication.slot));
  if (survey.publication?.allTables === true) {
    problems.push(
      `publication ${replication.publication} is FOR ALL TABLES (or IN SCHEMA) and would publish every table: drop it or set replication.publication to another name`,
    );
  }
  const wanted = await wantedIdentity(options, survey);
  if (wanted === null) {
    const identity = identityProblemsOf(survey, source);
    // The id outside the identity is the one problem the user must choose a fix for: a usage error of its own.
    if (problems.length === 0 && identity.length === 1 && survey.identity?.leaves.every((r) => !hasNoIdentity(r))) {
      throw new ReplicaIdentityError(identity[0] ?? '');
    }
    problems.push(...identity);
  }
  const target = targetSurvey(survey, wanted);
  const identityChanges =
    survey.identity === null || wanted === null ? [] : identityStatements(survey.identity, wanted);
  const viaRootMissing = survey.identity?.partitioned === true && survey.publication?.viaRoot === false;
  const needsOwnership =
    survey.publication === null ||
    publicationDrift(target, mapping) !== null ||
    viaRootMissing ||
    identityChanges.length > 0;
  if (survey.columns.length > 0 && needsOwnership && !mayCreatePublication(survey)) {
    problems.push(
      `role ${survey.role} cannot create or change publication ${replication.publication} (${missingPublicationPrivileges(survey)}): ` +
        `have the table owner run \`${ownerStatements(survey, mapping, replication.publication, wanted).join('; ')};\` then run pingpull setup again (it creates the slot)`,
    );
  }
  if (
    survey.slot !== null &&
    survey.slot.active &&
    (survey.slot.walStatus === 'lost' || survey.slot.walStatus === 'unreserved')
  ) {
    problems.push(
      `replication slot ${replication.slot} must be recreated but ${survey.slot.holder} is reading it: stop the connector(s), then pingpull teardown && pingpull setup && pingpull resync --all`,
    );
  }
  if (problems.length > 0) {
    throw new DatabaseSetupError(`the database is not ready for pingpull:\n  ${problems.join('\n  ')}`);
  }

  const done: string[] = [];
  const tables = publishedTables(target, mapping);
  const columns = tables[0]?.columns ?? null;
  const tableSpec = tableSpecs(tables);
  const publication = quoteIdent(replication.publication);
  const partitioned = survey.identity?.partitioned === true;
  const client = await pool.connect();
  try {
    // One transaction: between a narrower column list and a new replica identity
    // the customer's UPDATEs would fail, so both change together or not at all.
    await client.query('BEGIN');
    for (const statement of identityChanges) {
      await client.query(statement);
      done.push(`ran ${statement}`);
    }
    if (survey.publication === null) {
      await client.query(
        `CREATE PUBLICATION ${publication} FOR TABLE ${tableSpec} WITH (${publicationParameters(partitioned)})`,
      );
      done.push(`created publication ${replication.publication} FOR TABLE ${describeTables(tables)}`);
    } else {
      // A column list on a partitioned table is refused unless it publishes via the root: that goes first.
      if (viaRootMissing) {
        await client.query(`ALTER PUBLICATION ${publication} SET (publish_via_partition_root = true)`);
        done.push(`publication ${replication.publication} now publishes via the partition root`);
      }
      if (publicationDrift(target, mapping) !== null) {
        await client.query(`ALTER PUBLICATION ${publication} SET TABLE ${tableSpec}`);
        done.push(`changed publication ${replication.publication} to FOR TABLE ${describeTables(tables)}`);
      } else {
        done.push(`publication ${replication.publication} exists FOR TABLE ${describeTables(tables)}`);
      }
      if (!survey.publication.publishesAll) {
        await client.query(`ALTER PUBLICATION ${publication} SET (publish = '${PUBLISH}')`);
        done.push(`publication ${replication.publication} now publishes ${PUBLISH}`);
      }
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw new DatabaseSetupError(`setup failed: ${(error as Error).message}`, error);
  } finally {
    client.release();
  }

  done.push(leavingColumns(tables));
  const extraKeys = (columns ?? []).filter((column) => !publishedColumns(mapping).includes(column));
  if (extraKeys.length > 0) {
    done.push(
      `the column list also carries replica identity column(s) ${extraKeys.join(', ')} (PostgreSQL requires them); they never reach Kafka`,
    );
  }
  if (target.replicaIdentity === 'f') {
    const unmapped = survey.columns.filter((column) => !publishedColumns(mapping).includes(column));
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
  if (partitioned) done.push(partitionNote(survey, replication.publication));

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
      `replication slot ${replication.slot} exists (${survey.slot.active ? `in use by ${survey.slot.holder}` : 'idle'})`,
    );
  }
  // The command prints each line to the person; the log keeps them for debugging only.
  logger.debug({ actions: done }, 'database setup done');
  return done;
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
    owner: boolean;
    can_select: boolean;
    can_create: boolean;
  }>(
    `SELECT c.oid, pg_has_role(c.relowner, 'USAGE') AS owner,
            has_table_privilege(c.oid, 'SELECT') AS can_select,
            has_database_privilege(current_database(), 'CREATE') AS can_create
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [table.schema, table.name],
  );
  const rel = relation.rows[0];
  let columns: string[] = [];
  const columnTypes = new Map<string, string>();
  let identity: TableIdentity | null = null;
  let identityIndex: IdentityIndex | null = null;
  if (rel === undefined) {
    problems.push(`table ${table.schema}.${table.name} does not exist (source.table)`);
  } else {
    if (!rel.can_select) {
      problems.push(
        `role ${info.role} cannot read ${table.schema}.${table.name}: have its owner run GRANT SELECT ON ${table.qualified} TO ${quoteIdent(info.role)} (resync and pulls read it)`,
      );
    }
    const attributes = await pool.query<{ attname: string; type: string }>(
      `SELECT attname, format_type(atttypid, atttypmod) AS type
         FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
      [rel.oid],
    );
    columns = attributes.rows.map((row) => row.attname);
    for (const row of attributes.rows) columnTypes.set(row.attname, row.type);
    identity = await readTableIdentity(pool, rel.oid);
    if (columns.includes(source.idColumn) && !identity.leaves.every((leaf) => coversId(leaf, source.idColumn))) {
      identityIndex = await findIdentityIndex(pool, identity, rel.oid, source.idColumn);
    }
  }
  const identityRelations = identity === null ? [] : [identity.root, ...identity.leaves];
  const mapped = await surveyMapping(pool, mappingOf(options));
  problems.push(...mapped.problems);

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
    columnTypes,
    oid: rel?.oid ?? null,
    owner: rel?.owner ?? false,
    superuser: info.superuser,
    canCreate: rel?.can_create ?? false,
    database: info.db,
    replicaIdentity: identityRelations.some((r) => r.identity === 'f') ? 'f' : (identity?.root.identity ?? null),
    identityColumns: unique(identityRelations.flatMap((r) => r.columns)),
    identity,
    identityIndex,
    related: mapped.related,
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
    via_root: boolean;
  }>(
    `SELECT p.oid, p.puballtables AS all_tables, p.pubviaroot AS via_root,
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
  return {
    allTables: row.all_tables || row.in_schema,
    publishesAll: row.publishes_all,
    viaRoot: row.via_root,
    tables: tables.rows,
  };
}

export async function readSlot(pool: Pool, name: string): Promise<SlotState | null> {
  const result = await pool.query<{
    plugin: string | null;
    database: string | null;
    active: boolean;
    active_pid: number | null;
    wal_status: string | null;
    application_name: string | null;
    client_addr: string | null;
  }>(
    `SELECT s.plugin, s.database, s.active, s.active_pid, s.wal_status, a.application_name, a.client_addr::text
       FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid
      WHERE s.slot_name = $1`,
    [name],
  );
  const row = result.rows[0];
  if (row === undefined) return null;
  return {
    plugin: row.plugin,
    database: row.database,
    active: row.active,
    activePid: row.active_pid,
    holder: describeHolder(row.active_pid, row.application_name, row.client_addr),
    walStatus: row.wal_status,
  };
}

/**
 * The pid PostgreSQL reports for an active slot is its walsender, the
 * server process streaming the slot to a client: say so, and which client
 * (application_name, address) holds it. A role without pg_read_all_stats
 * sees neither for another role's session.
 */
function describeHolder(pid: number | null, application: string | null, address: string | null): string {
  const walsender = `process ${pid ?? '?'} (the walsender: PostgreSQL's server process streaming the slot to a client)`;
  if (application === null && address === null) return `${walsender}, client not visible to this role`;
  const from = address === null ? 'a local socket' : address;
  return `${walsender}, held by application_name "${application ?? ''}" from ${from}`;
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
  survey: Pick<Survey, 'publication' | 'table' | 'replicaIdentity' | 'identityColumns' | 'identity' | 'related'>,
  mapping: ProfileMapping,
): string | null {
  const publication = survey.publication;
  if (publication === null) return 'publication is missing';
  if (survey.identity?.partitioned === true && !publication.viaRoot) {
    return `publication does not publish via the partition root of partitioned ${survey.table.schema}.${survey.table.name}`;
  }
  const wantedTables = publishedTables(survey, mapping);
  const tables = publication.tables;
  const names = wantedTables.map(({ table }) => `${table.schema}.${table.name}`).join(', ');
  if (tables.length !== wantedTables.length) return `publication does not carry exactly ${names}`;
  for (const { table, columns: wanted } of wantedTables) {
    const ours = tables.find((t) => t.schema === table.schema && t.name === table.name);
    if (ours === undefined) return `publication does not carry exactly ${names}`;
    const same =
      wanted === null
        ? ours.columns === null
        : ours.columns !== null &&
          ours.columns.length === wanted.length &&
          wanted.every((column) => ours.columns?.includes(column));
    if (!same) {
      const which = wantedTables.length === 1 ? '' : `${table.schema}.${table.name} `;
      const carried = ours.columns === null ? 'all columns' : `columns (${ours.columns.join(', ')})`;
      return `publication carries ${which}${carried}, expected ${wanted === null ? 'all columns' : `(${wanted.join(', ')})`}`;
    }
  }
  return null;
}

/** The statements a table owner runs for a setup role that may not create or change the publication. */
function ownerStatements(
  survey: Survey,
  mapping: ProfileMapping,
  publicationName: string,
  wanted: 'f' | IdentityIndex | null,
): string[] {
  const spec = tableSpecs(publishedTables(targetSurvey(survey, wanted), mapping));
  const partitioned = survey.identity?.partitioned === true;
  const statements = survey.identity === null || wanted === null ? [] : identityStatements(survey.identity, wanted);
  const name = quoteIdent(publicationName);
  if (survey.publication === null) {
    statements.push(`CREATE PUBLICATION ${name} FOR TABLE ${spec} WITH (${publicationParameters(partitioned)})`);
  } else {
    if (partitioned && !survey.publication.viaRoot) {
      statements.push(`ALTER PUBLICATION ${name} SET (publish_via_partition_root = true)`);
    }
    statements.push(`ALTER PUBLICATION ${name} SET TABLE ${spec}`);
  }
  return statements;
}

function describeTable(table: TableName, columns: string[] | null): string {
  return `${table.schema}.${table.name}${columns === null ? ' (all columns)' : ` (${columns.join(', ')})`}`;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

function publicationParameters(partitioned: boolean): string {
  // PostgreSQL refuses a column list on a partitioned table unless its changes are published as the root's.
  return `publish = '${PUBLISH}'${partitioned ? ', publish_via_partition_root = true' : ''}`;
}

function partitionNote(survey: Survey, publication: string): string {
  const table = `${survey.table.schema}.${survey.table.name}`;
  return (
    `${table} is partitioned (${survey.identity?.leaves.length ?? 0} partitions): publication ${publication} ` +
    `publishes via the partition root, so changes in every partition stream as ${table}; an UPDATE that moves a row ` +
    'to another partition arrives as a delete and an insert of that user, who is pinged with the final row'
  );
}

/** What `--replica-identity-full` or `--replica-identity-index` asks for; null when neither. */
async function wantedIdentity(options: DatabaseSetupOptions, survey: Survey): Promise<'f' | IdentityIndex | null> {
  if (options.replicaIdentityFull === true) return 'f';
  if (options.replicaIdentityIndex !== true || survey.identity === null || survey.oid === null) return null;
  const { idColumn } = options.source;
  if (!survey.columns.includes(idColumn)) return null;
  const index = survey.identityIndex ?? (await findIdentityIndex(options.pool, survey.identity, survey.oid, idColumn));
  if (index === null) throw noIdentityIndex(survey.table, idColumn);
  return index;
}

/** The survey as it will be once the wanted identity is set: what the column list must cover. */
function targetSurvey(survey: Survey, wanted: 'f' | IdentityIndex | null): Survey {
  if (wanted === null) return survey;
  if (wanted === 'f') return { ...survey, replicaIdentity: 'f' };
  return { ...survey, replicaIdentity: 'i', identityColumns: wanted.columns };
}

function identityProblemsOf(survey: Survey, source: DatabaseSetupOptions['source']): string[] {
  if (survey.identity === null || !survey.columns.includes(source.idColumn)) return [];
  return identityProblems(survey.table, survey.identity, source.idColumn, survey.identityIndex);
}

/** `resync --since` compares source.updatedAtColumn with a timestamp: any other type resends the wrong users. */
function updatedAtProblems(survey: Survey, source: DatabaseSetupOptions['source']): string[] {
  const column = source.updatedAtColumn;
  if (column === '' || survey.columns.length === 0) return [];
  const table = `${survey.table.schema}.${survey.table.name}`;
  const type = survey.columnTypes.get(column);
  if (type === undefined) {
    return [
      `column ${column} does not exist in ${table} (source.updatedAtColumn): point it at the table's last-modified timestamp column, or set it to "" (resync --since needs it)`,
    ];
  }
  if (!type.startsWith('timestamp')) {
    return [
      `column ${column} (source.updatedAtColumn) is ${type}, expected timestamp or timestamptz: resync --since would not compare it as a time; point it at a timestamp column or set it to ""`,
    ];
  }
  return [];
}

/** Creating a publication needs ownership of the table and CREATE on the database (or a superuser). */
function mayCreatePublication(survey: Survey): boolean {
  return survey.superuser || (survey.owner && (survey.publication !== null || survey.canCreate));
}

function missingPublicationPrivileges(survey: Survey): string {
  const missing: string[] = [];
  if (!survey.owner) missing.push(`it does not own ${survey.table.schema}.${survey.table.name}`);
  if (survey.publication === null && !survey.canCreate) missing.push(`it lacks CREATE on database ${survey.database}`);
  return missing.join(' and ');
}
