import { checkDatabaseReport } from '../cdc/setup.js';
import { requireKeys, type Config } from '../config/index.js';
import { createPool, describeDatabaseUnreachable } from '../db.js';
import { createProbeKafka } from '../events/kafka.js';
import { describeKafkaFailure } from '../events/kafka-failure.js';
import { livefyreBaseUrl, probeLivefyre } from '../livefyre/client.js';
import type { Logger } from '../log.js';
import { buildProfileMapping } from '../mapping/index.js';

export interface CheckReport {
  /** One line each, naming the setting to change. */
  problems: string[];
  /** What is fine or merely worth knowing. */
  notes: string[];
  databaseReady: boolean;
}

/**
 * The configuration (already validated on load), the database set-up, and
 * whether Kafka and Livefyre answer — without changing anything.
 */
export async function checkSetup(config: Config, logger: Logger): Promise<CheckReport> {
  requireKeys(config, ['database.url'], 'to check the database');
  const problems: string[] = [];
  const notes: string[] = [];
  let databaseReady = false;

  const pool = createPool({
    url: config.database.url,
    max: 2,
    applicationName: 'pingpull-check',
    statementTimeoutMs: config.database.statementTimeoutMs,
  });
  pool.on('error', (error) => logger.debug({ err: error }, 'idle database connection failed'));
  try {
    const report = await checkDatabaseReport({
      pool,
      source: config.source,
      mapping: buildProfileMapping(config),
      replication: config.replication,
      logger,
    });
    problems.push(...report.problems);
    notes.push(...report.notes);
    databaseReady = report.problems.length === 0;
  } catch (error) {
    problems.push(describeDatabaseUnreachable(error, config.database.url) ?? databaseProblem(error));
  } finally {
    await pool.end();
  }

  const kafka = await checkKafka(config);
  problems.push(...kafka.problems);
  notes.push(...kafka.notes);

  // A host running only the connector needs no Livefyre settings: unset is information, not a problem.
  if (config.livefyre.network === '' || config.livefyre.networkKey === '') {
    notes.push('livefyre.network or livefyre.networkKey is not set: the pinger and the pull server need both');
  }
  const base = livefyreBaseUrl(config.livefyre);
  if (base !== '') {
    const probe = await probeLivefyre(base, config.status.timeoutMs);
    if (probe.reachable)
      notes.push(`Livefyre at ${base} answers (HTTP ${probe.httpStatus}); the key is checked by the first ping`);
    else problems.push(`livefyre.baseUrl: ${base} does not answer: ${probe.error}`);
  }
  return { problems, notes, databaseReady };
}

/**
 * Connects as the roles do (TLS, SASL), then asks for what the roles need
 * to see: the topics and the group. Missing topics are fine (they are
 * created on first use); a topic a user may not describe looks missing in
 * the listing, so each is asked for by name to tell the two apart.
 */
async function checkKafka(config: Config): Promise<{ problems: string[]; notes: string[] }> {
  const { topic, dlqTopic, groupId } = config.kafka;
  const admin = createProbeKafka({
    connection: config.kafka,
    clientId: `${config.kafka.clientId}-check`,
    timeoutMs: config.status.timeoutMs,
  }).admin();
  let resource: { topic?: string; groupId?: string } = {};
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const notes = [`Kafka at ${config.kafka.brokers} answers`];
    const wanted = [topic, dlqTopic];
    if (config.pinger.pullConfirmMs > 0) wanted.push(config.kafka.pullsTopic);
    for (const name of wanted) {
      resource = { topic: name };
      const found = await admin.fetchTopicMetadata({ topics: [name] }).then(
        () => true,
        (error: unknown) => {
          if ((error as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION' && !existing.has(name)) return false;
          throw error;
        },
      );
      if (!found) {
        const creators =
          name === config.kafka.pullsTopic
            ? 'the pinger or the pull server create it'
            : 'the connector, the pinger or resync create it';
        notes.push(`topic ${name} does not exist yet: ${creators}`);
      }
    }
    resource = { groupId };
    await admin.describeGroups([groupId]);
    return { problems: [], notes };
  } catch (error) {
    return { problems: [describeKafkaFailure(error, config.kafka, resource).line], notes: [] };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

const UNTRUSTED_CERTIFICATE =
  /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT.*)$/;

/** One line naming what to change in database.url; TLS failures say which part of the handshake failed. */
function databaseProblem(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  const tls = 'database.url: TLS handshake with the database failed:';
  if (code !== undefined && UNTRUSTED_CERTIFICATE.test(code)) {
    return `${tls} its certificate is not trusted (${code}); set sslrootcert=<CA file> in database.url`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `${tls} its certificate is not issued for that host name (hostname mismatch); use a host it names`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return `${tls} its certificate has expired or is not valid yet (${code})`;
  }
  if (code === '28000' && /no encryption/.test(message ?? '')) {
    return 'database.url: the database accepts TLS connections only; add sslmode=verify-full (and sslrootcert)';
  }
  if (/does not support SSL/i.test(message ?? '')) {
    return 'database.url: the database does not offer TLS; drop sslmode from database.url or enable ssl on the server';
  }
  return `database.url: cannot reach the database: ${message ?? String(error)}`;
}
