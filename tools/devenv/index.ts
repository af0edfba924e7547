import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { kafkaAlive, type KafkaState, startKafka, stopKafka } from './kafka.js';
import { withLock } from './lock.js';
import { postgresAlive, type PostgresState, startPostgres, stopPostgres } from './postgres.js';
import { type Log, stateDir, stderrLog } from './util.js';

export type { Log } from './util.js';

export interface Services {
  /** postgres://pingpull:pingpull@127.0.0.1:PORT/postgres, a superuser of the throwaway cluster */
  databaseUrl: string;
  /** 127.0.0.1:PORT */
  kafkaBrokers: string;
}

interface State {
  postgres?: PostgresState;
  kafka?: KafkaState;
}

const stateFile = path.join(stateDir, 'state.json');
const lockFile = path.join(stateDir, 'lock');

async function readState(): Promise<State> {
  try {
    return JSON.parse(await readFile(stateFile, 'utf8')) as State;
  } catch {
    return {};
  }
}

async function writeState(state: State): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  await writeFile(stateFile, JSON.stringify(state, null, 2) + '\n');
}

const toServices = (pg: PostgresState, kafka: KafkaState): Services => ({
  databaseUrl: pg.url,
  kafkaBrokers: `127.0.0.1:${kafka.port}`,
});

/** Starts (or reuses) the local PostgreSQL and Kafka; progress goes to `log`. */
export async function servicesUp(options: { log?: Log } = {}): Promise<Services> {
  const log = options.log ?? stderrLog;
  return withLock(lockFile, log, async () => {
    const state = await readState();
    const [pgUp, kafkaUp] = await Promise.all([
      state.postgres ? postgresAlive(state.postgres) : false,
      state.kafka ? kafkaAlive(state.kafka) : false,
    ]);
    if (pgUp) log(`reusing postgres on port ${state.postgres!.port}`);
    if (kafkaUp) log(`reusing Kafka on port ${state.kafka!.port}`);
    // Concurrently: the first run spends minutes downloading Kafka while initdb runs.
    const [pg, kafka] = await Promise.allSettled([
      pgUp ? state.postgres! : startPostgres(log),
      kafkaUp ? state.kafka! : startKafka(log),
    ]);
    const next: State = {
      postgres: pg.status === 'fulfilled' ? pg.value : undefined,
      kafka: kafka.status === 'fulfilled' ? kafka.value : undefined,
    };
    await writeState(next);
    if (pg.status === 'rejected') throw pg.reason;
    if (kafka.status === 'rejected') throw kafka.reason;
    return toServices(next.postgres!, next.kafka!);
  });
}

/** The running services, or null unless both are up. */
export async function servicesStatus(): Promise<Services | null> {
  const { postgres, kafka } = await readState();
  if (!postgres || !kafka) return null;
  const [pgUp, kafkaUp] = await Promise.all([postgresAlive(postgres), kafkaAlive(kafka)]);
  return pgUp && kafkaUp ? toServices(postgres, kafka) : null;
}

/** Stops both services and deletes their data (the Kafka jar cache stays). */
export async function servicesDown(options: { log?: Log } = {}): Promise<void> {
  const log = options.log ?? stderrLog;
  await withLock(lockFile, log, async () => {
    await Promise.all([stopKafka(log), stopPostgres(log)]);
    await rm(stateFile, { force: true });
  });
}
