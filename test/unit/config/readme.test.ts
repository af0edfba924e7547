import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configKeys, configReferenceMarkdown } from '../../../src/config/reference.js';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

describe('the README configuration reference', () => {
  it('is the one generated from the schema (npm run docs regenerates it)', () => {
    const start = readme.indexOf('<!-- config-reference:start -->');
    const end = readme.indexOf('<!-- config-reference:end -->');
    expect(start).toBeGreaterThan(-1);
    expect(readme.slice(start, end)).toContain(configReferenceMarkdown());
  });

  it('names every key of the schema with its environment variable', () => {
    const byKey = new Map(configKeys().map((k) => [k.key, k.env]));
    const contract: Record<string, string> = {
      'database.url': 'PINGPULL_DATABASE_URL',
      'source.table': 'PINGPULL_SOURCE_TABLE',
      'source.idColumn': 'PINGPULL_SOURCE_ID_COLUMN',
      'source.columns': 'PINGPULL_SOURCE_COLUMNS',
      'replication.slot': 'PINGPULL_REPLICATION_SLOT',
      'replication.publication': 'PINGPULL_REPLICATION_PUBLICATION',
      'kafka.brokers': 'PINGPULL_KAFKA_BROKERS',
      'kafka.topic': 'PINGPULL_KAFKA_TOPIC',
      'kafka.dlqTopic': 'PINGPULL_KAFKA_DLQ_TOPIC',
      'kafka.groupId': 'PINGPULL_KAFKA_GROUP_ID',
      'livefyre.network': 'PINGPULL_LIVEFYRE_NETWORK',
      'livefyre.networkKey': 'PINGPULL_LIVEFYRE_NETWORK_KEY',
      'livefyre.baseUrl': 'PINGPULL_LIVEFYRE_BASE_URL',
      'pull.host': 'PINGPULL_PULL_HOST',
      'pull.port': 'PINGPULL_PULL_PORT',
      'pull.path': 'PINGPULL_PULL_PATH',
      'metrics.port': 'PINGPULL_METRICS_PORT',
      'log.level': 'PINGPULL_LOG_LEVEL',
    };
    for (const [key, env] of Object.entries(contract)) expect(byKey.get(key), key).toBe(env);
  });

  it('shows no default of a secret', () => {
    for (const line of configReferenceMarkdown().split('\n')) {
      if (line.includes('networkKey') || line.includes('database.url')) expect(line).toMatch(/\| {2}\|/);
    }
  });
});
