import type { TestProject } from 'vitest/node';
import { servicesUp } from '../../tools/devenv/index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    kafkaBrokers: string;
  }
}

/**
 * Uses the services named by PINGPULL_DATABASE_URL / PINGPULL_KAFKA_BROKERS
 * when both are set, else starts (or reuses) the local ones. They are left
 * running afterwards for the next run; `npm run services -- down` stops them.
 */
export default async function setup(project: TestProject): Promise<void> {
  let databaseUrl = process.env.PINGPULL_DATABASE_URL;
  let kafkaBrokers = process.env.PINGPULL_KAFKA_BROKERS;
  if (!databaseUrl || !kafkaBrokers) {
    ({ databaseUrl, kafkaBrokers } = await servicesUp());
  }
  // Also in the environment, for child processes that tests spawn (the CLI, the demo).
  process.env.PINGPULL_DATABASE_URL = databaseUrl;
  process.env.PINGPULL_KAFKA_BROKERS = kafkaBrokers;
  project.provide('databaseUrl', databaseUrl);
  project.provide('kafkaBrokers', kafkaBrokers);
}
