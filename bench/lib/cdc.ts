import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { servicesUp } from '../../tools/devenv/index.js';
import { ensureTopics } from '../../src/events/kafka.js';

// Shared by the CDC benchmarks: the services (PINGPULL_DATABASE_URL and
// PINGPULL_KAFKA_BROKERS when set, else the local throwaway ones), a fresh
// database and topic per run, dropped at the end.

export interface BenchServices {
  adminUrl: string;
  brokers: string;
}

export async function benchServices(): Promise<BenchServices> {
  const url = process.env.PINGPULL_DATABASE_URL;
  const brokers = process.env.PINGPULL_KAFKA_BROKERS;
  if (url !== undefined && url !== '' && brokers !== undefined && brokers !== '') return { adminUrl: url, brokers };
  const services = await servicesUp({ log: (line) => process.stderr.write(`[services] ${line}\n`) });
  return { adminUrl: services.databaseUrl, brokers: services.kafkaBrokers };
}

export const suffix = (): string => randomBytes(4).toString('hex');

export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    for (let attempt = 0; attempt < 50; attempt++) {
      const { rows } = await admin.query<{ slot_name: string; active_pid: number | null }>(
        'SELECT slot_name, active_pid FROM pg_replication_slots WHERE database = $1',
        [name],
      );
      if (rows.length === 0) break;
      for (const slot of rows)
        if (slot.active_pid) await admin.query('SELECT pg_terminate_backend($1)', [slot.active_pid]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const slot of rows)
        await admin.query('SELECT pg_drop_replication_slot($1)', [slot.slot_name]).catch(() => undefined);
    }
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

export function kafkaClient(brokers: string): Kafka {
  return new Kafka({ clientId: 'pingpull-bench', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
}

export async function createTopic(brokers: string, topic: string, partitions = 3): Promise<void> {
  await ensureTopics(kafkaClient(brokers), [topic], partitions);
}

export async function deleteTopic(brokers: string, topic: string): Promise<void> {
  const admin = kafkaClient(brokers).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}

export async function topicSize(brokers: string, topic: string): Promise<number> {
  const admin = kafkaClient(brokers).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Distinct message keys of a topic (reads it whole). */
export async function distinctKeys(
  brokers: string,
  topic: string,
  expectedMessages: number,
  timeoutMs = 300_000,
): Promise<number> {
  const consumer = kafkaClient(brokers).consumer({
    groupId: `bench-${suffix()}`,
    sessionTimeout: 30_000,
    maxBytes: 50 * 1024 * 1024,
  });
  const keys = new Set<string>();
  let read = 0;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      void consumer.run({
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) {
            if (message.key !== null) keys.add(message.key.toString('utf8'));
          }
          read += batch.messages.length;
          if (read >= expectedMessages) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return keys.size;
}

/** pg_recvlogical of the newest installed PostgreSQL. */
export function pgRecvlogical(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(`${root}/${v}/bin/pg_recvlogical`))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error('pg_recvlogical not found under /usr/lib/postgresql/*/bin');
  return `${root}/${versions[0]}/bin/pg_recvlogical`;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
