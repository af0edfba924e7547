import { checkDatabaseReport } from '../cdc/setup.js';
import { requireKeys, type Config } from '../config/index.js';
import { createPool } from '../db.js';
import { createProbeKafka } from '../events/consumer-lag.js';
import { livefyreBaseUrl, probeLivefyre } from '../livefyre/client.js';
import type { Logger } from '../log.js';

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

  const pool = createPool({ url: config.database.url, max: 2, applicationName: 'pingpull-check' });
  pool.on('error', (error) => logger.debug({ err: error }, 'idle database connection failed'));
  try {
    const report = await checkDatabaseReport({ pool, source: config.source, replication: config.replication, logger });
    problems.push(...report.problems);
    notes.push(...report.notes);
    databaseReady = report.problems.length === 0;
  } catch (error) {
    problems.push(`database.url: cannot reach the database: ${(error as Error).message}`);
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

async function checkKafka(config: Config): Promise<{ problems: string[]; notes: string[] }> {
  const admin = createProbeKafka({
    brokers: config.kafka.brokers,
    clientId: `${config.kafka.clientId}-check`,
    timeoutMs: config.status.timeoutMs,
  }).admin();
  try {
    await admin.connect();
    const topics = new Set(await admin.listTopics());
    const missing = [config.kafka.topic, config.kafka.dlqTopic].filter((topic) => !topics.has(topic));
    return {
      problems: [],
      notes: [
        `Kafka at ${config.kafka.brokers} answers`,
        ...missing.map((topic) => `topic ${topic} does not exist yet: the connector, the pinger or resync create it`),
      ],
    };
  } catch (error) {
    return {
      problems: [`kafka.brokers: cannot reach Kafka at ${config.kafka.brokers}: ${(error as Error).message}`],
      notes: [],
    };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
