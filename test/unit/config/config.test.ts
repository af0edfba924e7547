import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, requireKeys } from '../../../src/config/index.js';
import { ConfigError } from '../../../src/errors.js';

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives the documented defaults', () => {
    const config = loadConfig({ env: {} });
    expect(config.source.table).toBe('public.users');
    expect(config.source.idColumn).toBe('id');
    expect(config.source.columns).toEqual({ display_name: 'display_name', email: 'email', image_url: 'avatar_url' });
    expect(config.replication).toMatchObject({ slot: 'pingpull', publication: 'pingpull' });
    expect(config.kafka).toMatchObject({
      brokers: 'localhost:9092',
      topic: 'pingpull.profile-changes',
      dlqTopic: 'pingpull.profile-changes.dlq',
      groupId: 'pingpull-pinger',
    });
    expect(config.pull).toMatchObject({ host: '0.0.0.0', port: 8080, path: '/livefyre/profiles' });
    expect(config.metrics.port).toBe(9464);
    expect(config.log.level).toBe('info');
  });

  it('reads every key from its environment variable, source.columns as JSON', () => {
    const config = loadConfig({
      env: {
        PINGPULL_SOURCE_COLUMNS: '{"display_name":"nick","email":"mail"}',
        PINGPULL_PULL_PORT: '8181',
        PINGPULL_KAFKA_BROKERS: '127.0.0.1:1,127.0.0.1:2',
      },
    });
    expect(config.source.columns).toEqual({ display_name: 'nick', email: 'mail' });
    expect(config.pull.port).toBe(8181);
    expect(config.kafka.brokers).toBe('127.0.0.1:1,127.0.0.1:2');
  });

  it('lets the environment win over the config file, and the file over defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pingpull-config-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ kafka: { topic: 'from-file', groupId: 'file-group' } }));
    const config = loadConfig({ file, env: { PINGPULL_KAFKA_TOPIC: 'from-env' } });
    expect(config.kafka.topic).toBe('from-env');
    expect(config.kafka.groupId).toBe('file-group');
  });

  it('reports every bad key at once, by name', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: {
          PINGPULL_PULL_PORT: '99999',
          PINGPULL_SOURCE_COLUMNS: '{"nickname":"nick"}',
          PINGPULL_REPLICATION_SLOT: 'Bad-Slot',
        },
      }),
    );
    expect(problems.some((p) => p.startsWith('pull.port'))).toBe(true);
    expect(problems.some((p) => p.startsWith('source.columns'))).toBe(true);
    expect(problems.some((p) => p.startsWith('replication.slot'))).toBe(true);
  });

  it('refuses a heartbeat interval the session timeout cannot carry, beside the other problems', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: {
          PINGPULL_PULL_PORT: '99999',
          PINGPULL_PINGER_HEARTBEAT_INTERVAL_MS: '5000',
          PINGPULL_PINGER_SESSION_TIMEOUT_MS: '10000',
        },
      }),
    );
    expect(problems.some((p) => p.startsWith('pull.port'))).toBe(true);
    const heartbeat = problems.find((p) => p.startsWith('pinger.heartbeatIntervalMs:'));
    expect(heartbeat).toMatch(/expected at most a third of pinger\.sessionTimeoutMs \(10000\), received 5000/);
  });

  it('judges related keys only once each is valid alone', () => {
    const problems = problemsOf(() =>
      loadConfig({ env: { PINGPULL_PINGER_HEARTBEAT_INTERVAL_MS: '50000', PINGPULL_PINGER_SESSION_TIMEOUT_MS: '-1' } }),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^pinger\.sessionTimeoutMs: /);
  });

  it('rejects unknown keys in a config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pingpull-config-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ kafka: { topik: 'x' } }));
    expect(problemsOf(() => loadConfig({ file, env: {} })).join('\n')).toContain('kafka.topik');
  });

  it('names the file when it is not JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pingpull-config-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, '{ nope');
    expect(problemsOf(() => loadConfig({ file, env: {} })).join('\n')).toContain(file);
  });

  it('never echoes a secret in its messages', () => {
    const problems = problemsOf(() => loadConfig({ env: { PINGPULL_DATABASE_URL: 'mysql://app:hunter2@db/app' } }));
    expect(problems.join('\n')).toContain('database.url');
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  it('is frozen', () => {
    const config = loadConfig({ env: {} });
    expect(Object.isFrozen(config.source.columns)).toBe(true);
  });

  it('requireKeys names the missing key and its environment variable', () => {
    const config = loadConfig({ env: {} });
    expect(() => requireKeys(config, ['livefyre.networkKey'], 'to ping')).toThrow(
      /livefyre\.networkKey.*PINGPULL_LIVEFYRE_NETWORK_KEY/,
    );
  });
});
