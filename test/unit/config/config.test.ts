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

describe('loadConfig is strict', () => {
  function file(content: unknown): string {
    const path = join(mkdtempSync(join(tmpdir(), 'pingpull-config-')), 'config.json');
    writeFileSync(path, JSON.stringify(content));
    return path;
  }

  it.each([
    ['PINGPULL_PULL_PORT', '8080x', 'pull.port: expected a port number (0-65535)'],
    ['PINGPULL_PULL_PORT', '70000', 'pull.port: expected a port number (0-65535)'],
    ['PINGPULL_PINGER_MAX_ATTEMPTS', '8 tries', 'pinger.maxAttempts: expected a number above 0'],
    ['PINGPULL_PINGER_COALESCE_MS', '-1', 'pinger.coalesceMs: expected a whole number (0 or more)'],
    ['PINGPULL_PINGER_PULL_CONFIRM_ATTEMPTS', '2.5', 'pinger.pullConfirmAttempts: expected a whole number (0 or more)'],
    ['PINGPULL_PINGER_PULL_CONFIRM_ATTEMPTS', '4x', 'pinger.pullConfirmAttempts: expected a whole number (0 or more)'],
    ['PINGPULL_STATUS_PAGE', 'maybe', 'status.page: expected true or false'],
  ])('%s=%s is refused, naming the key and what was expected', (name, value, message) => {
    expect(problemsOf(() => loadConfig({ env: { [name]: value } })).join('\n')).toContain(message);
  });

  it.each([
    ['0', false],
    ['off', false],
    ['no', false],
    ['false', false],
    ['1', true],
    ['on', true],
  ])('a switch reads %s as %s', (value, expected) => {
    expect(loadConfig({ env: { PINGPULL_STATUS_PAGE: value } }).status.page).toBe(expected);
  });

  it('reads pinger.pullConfirmAttempts: 4 by default, 0 allowed', () => {
    expect(loadConfig({ env: {} }).pinger.pullConfirmAttempts).toBe(4);
    expect(loadConfig({ env: { PINGPULL_PINGER_PULL_CONFIRM_ATTEMPTS: '0' } }).pinger.pullConfirmAttempts).toBe(0);
  });

  it('reads exact numbers, decimals included', () => {
    const config = loadConfig({ env: { PINGPULL_PULL_PORT: '8181', PINGPULL_PINGER_RATE_PER_SECOND: '0.5' } });
    expect(config.pull.port).toBe(8181);
    expect(config.pinger.ratePerSecond).toBe(0.5);
  });

  it('refuses a port "8o8o" in a file instead of reading it as 8', () => {
    expect(problemsOf(() => loadConfig({ file: file({ pull: { port: '8o8o' } }), env: {} })).join('\n')).toContain(
      'pull.port: expected a port number (0-65535): value was "8o8o"',
    );
  });

  it('refuses a file that is not a JSON object', () => {
    for (const content of [[], 'text', null]) {
      expect(problemsOf(() => loadConfig({ file: file(content), env: {} })).join('\n')).toContain(
        'must hold a JSON object of keys',
      );
    }
  });

  it('suggests the key an unknown one probably meant', () => {
    const problems = problemsOf(() =>
      loadConfig({ file: file({ source: { idcolumn: 'x' }, kafka: { brokerz: 'a:1' }, zzz: 1 }), env: {} }),
    ).join('\n');
    expect(problems).toContain('source.idcolumn: not a configuration key; did you mean source.idColumn?');
    expect(problems).toContain('kafka.brokerz: not a configuration key; did you mean kafka.brokers?');
    expect(problems).toMatch(/^zzz: not a configuration key$/m);
  });

  it('reads nested pull.fields from a file, and the environment still wins for object keys', () => {
    const config = loadConfig({
      file: file({
        source: { columns: { display_name: 'nick' } },
        pull: { fields: { name: { formatted: { template: '{first} {last}' } } } },
      }),
      env: { PINGPULL_SOURCE_COLUMNS: '{"display_name":"screen_name"}' },
    });
    expect(config.pull.fields).toEqual({ name: { formatted: { template: '{first} {last}' } } });
    expect(config.source.columns).toEqual({ display_name: 'screen_name' });
  });
});
