import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { databaseUrl } from '../helpers/services.js';

// The commands of the README, as a user meets them from a shell.
const COMMANDS = [
  'run',
  'connector',
  'pinger',
  'pull-server',
  'setup',
  'teardown',
  'check',
  'status',
  'resync',
  'ping',
  'register-pull-url',
  'livefyre-sim',
  'demo',
  'dead-letters',
];

// Tests here set exactly the variables they mean; the suite's own services do not leak in.
const CLEAN_ENV: Record<string, undefined> = Object.fromEntries(
  Object.keys(process.env)
    .filter((name) => name.startsWith('PINGPULL_'))
    .map((name) => [name, undefined]),
);

describe('pingpull --help', () => {
  it('lists every command', async () => {
    const result = await runCli(['--help'], {});
    expect(result.code).toBe(0);
    for (const command of COMMANDS) expect(result.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
  });

  it.each(COMMANDS)('%s --help describes the command and its --config option', async (command) => {
    const result = await runCli([command, '--help'], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Usage: pingpull ${command}`);
    expect(result.stdout).toContain('--config <file>');
  });

  it('exits 2 on an unknown command or option', async () => {
    expect((await runCli(['frobnicate'], {})).code).toBe(2);
    expect((await runCli(['setup', '--frobnicate'], {})).code).toBe(2);
  });

  it('exits 2 on a pull delay that is not whole milliseconds, saying what it expects', async () => {
    for (const args of [
      ['livefyre-sim', '--pull-delay-ms', 'soon'],
      ['demo', '--pull-delay', '-1'],
    ]) {
      const result = await runCli(args, {});
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain('expected whole milliseconds >= 0');
    }
  });
});

describe('configuration errors', () => {
  it('exit 2 naming the key and what was expected', async () => {
    const result = await runCli(['check'], {
      ...CLEAN_ENV,
      PINGPULL_PULL_PORT: 'eighty',
      PINGPULL_DATABASE_URL: 'postgres://u:pw@127.0.0.1:1/db',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('pull.port');
  });

  it('exit 2 when a command needs a key that is not set, naming its environment variable', async () => {
    const result = await runCli(['register-pull-url', 'https://example.com/p/{id}'], CLEAN_ENV);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('livefyre.networkKey');
    expect(result.stderr).toContain('PINGPULL_LIVEFYRE_NETWORK_KEY');
  });

  it('exit 2 on a config file that is not JSON, naming the file', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pingpull-cli-')), 'bad.json');
    writeFileSync(file, '{ not json');
    const result = await runCli(['check', '--config', file], CLEAN_ENV);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(file);
  });

  it('never prints the database password or the network key', async () => {
    const result = await runCli(['check'], {
      ...CLEAN_ENV,
      PINGPULL_DATABASE_URL: 'postgres://app:s3cret-password@127.0.0.1:1/app',
      PINGPULL_LIVEFYRE_NETWORK_KEY: 'the-network-key-value',
      PINGPULL_SOURCE_COLUMNS: '{"nope":1}',
    });
    expect(result.code).toBe(2);
    expect(result.stdout + result.stderr).not.toContain('s3cret-password');
    expect(result.stdout + result.stderr).not.toContain('the-network-key-value');
  });

  it('a database that cannot be reached is a runtime failure (exit 1) without the password', async () => {
    const result = await runCli(['check'], {
      ...CLEAN_ENV,
      PINGPULL_DATABASE_URL: 'postgres://app:s3cret-password@127.0.0.1:1/app',
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^problem: database\.url: cannot reach 127\.0\.0\.1:1 \(connection refused\)$/m);
    expect(result.stdout + result.stderr).not.toContain('s3cret-password');
  });

  it('check names Kafka and Livefyre when they do not answer, one line each', async () => {
    const result = await runCli(['check'], {
      ...CLEAN_ENV,
      PINGPULL_DATABASE_URL: databaseUrl(),
      PINGPULL_KAFKA_BROKERS: '127.0.0.1:1',
      PINGPULL_LIVEFYRE_NETWORK: 'example.fyre.co',
      PINGPULL_LIVEFYRE_NETWORK_KEY: 'key',
      PINGPULL_LIVEFYRE_BASE_URL: 'http://127.0.0.1:2',
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^problem: kafka\.brokers: cannot reach 127\.0\.0\.1:1 \(connection refused\)$/m);
    expect(result.stdout).toMatch(/^problem: livefyre\.baseUrl: http:\/\/127\.0\.0\.1:2 does not answer/m);
  });
});
