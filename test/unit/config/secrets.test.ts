import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
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

function secretFile(content: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'pingpull-secret-')), 'secret');
  writeFileSync(file, content);
  return file;
}

describe('secrets from files', () => {
  it('reads every secret key from <VARIABLE>_FILE, without the trailing newline', () => {
    const config = loadConfig({
      env: {
        PINGPULL_DATABASE_URL_FILE: secretFile('postgres://cdc:pw@db:5432/app?sslmode=verify-full\n'),
        PINGPULL_LIVEFYRE_NETWORK_KEY_FILE: secretFile('a2V5\r\n'),
        PINGPULL_KAFKA_SASL_MECHANISM: 'scram-sha-512',
        PINGPULL_KAFKA_SASL_USERNAME: 'pingpull',
        PINGPULL_KAFKA_SASL_PASSWORD_FILE: secretFile('kafka pass'),
      },
    });
    expect(config.database.url).toBe('postgres://cdc:pw@db:5432/app?sslmode=verify-full');
    expect(config.livefyre.networkKey).toBe('a2V5');
    expect(config.kafka.saslPassword).toBe('kafka pass');
  });

  it('refuses a secret set both ways, naming the key and both variables (exit 2)', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: {
          PINGPULL_LIVEFYRE_NETWORK_KEY: 'inline',
          PINGPULL_LIVEFYRE_NETWORK_KEY_FILE: secretFile('from-file'),
        },
      }),
    );
    expect(problems).toEqual([
      'livefyre.networkKey: PINGPULL_LIVEFYRE_NETWORK_KEY and PINGPULL_LIVEFYRE_NETWORK_KEY_FILE are both set; ' +
        'set one of them',
    ]);
  });

  it('names an unreadable secret file without echoing anything of it', () => {
    const problems = problemsOf(() => loadConfig({ env: { PINGPULL_DATABASE_URL_FILE: '/nonexistent/db-url' } }));
    expect(problems).toEqual(['database.url: cannot read PINGPULL_DATABASE_URL_FILE /nonexistent/db-url: ENOENT']);
  });

  it('never echoes a bad secret value', () => {
    const problems = problemsOf(() =>
      loadConfig({ env: { PINGPULL_DATABASE_URL_FILE: secretFile('mysql://root:hunter2@db/app\n') } }),
    );
    expect(problems.join('\n')).toContain('database.url');
    expect(problems.join('\n')).not.toContain('hunter2');
  });
});

describe('Kafka TLS and SASL settings', () => {
  it('takes TLS and SASL from the environment', () => {
    const config = loadConfig({
      env: {
        PINGPULL_KAFKA_SSL: 'true',
        PINGPULL_KAFKA_SSL_CA_FILE: '/etc/ssl/ca.pem',
        PINGPULL_KAFKA_SASL_MECHANISM: 'plain',
        PINGPULL_KAFKA_SASL_USERNAME: 'u',
        PINGPULL_KAFKA_SASL_PASSWORD: 'p',
      },
    });
    expect(config.kafka).toMatchObject({ ssl: true, sslCaFile: '/etc/ssl/ca.pem', saslMechanism: 'plain' });
  });

  it('refuses settings that cannot work together, by key', () => {
    expect(problemsOf(() => loadConfig({ env: { PINGPULL_KAFKA_SSL_CA_FILE: '/ca.pem' } }))).toEqual([
      'kafka.ssl: expected true when kafka.sslCaFile is set',
    ]);
    expect(
      problemsOf(() => loadConfig({ env: { PINGPULL_KAFKA_SSL: 'true', PINGPULL_KAFKA_SSL_CERT_FILE: '/c.pem' } })),
    ).toEqual(['kafka.sslKeyFile: expected a file, mutual TLS needs both kafka.sslCertFile and kafka.sslKeyFile']);
    expect(problemsOf(() => loadConfig({ env: { PINGPULL_KAFKA_SASL_MECHANISM: 'scram-sha-256' } }))).toEqual([
      'kafka.saslUsername, kafka.saslPassword: must be set with kafka.saslMechanism scram-sha-256',
    ]);
    expect(problemsOf(() => loadConfig({ env: { PINGPULL_KAFKA_SASL_USERNAME: 'u' } }))).toEqual([
      'kafka.saslMechanism: expected plain, scram-sha-256 or scram-sha-512 when a SASL user or password is set',
    ]);
    const unknown = problemsOf(() => loadConfig({ env: { PINGPULL_KAFKA_SASL_MECHANISM: 'gssapi' } }));
    expect(unknown.join('\n')).toMatch(/^kafka\.saslMechanism: must be one of/);
  });

  it('never echoes the SASL password', () => {
    const problems = problemsOf(() =>
      loadConfig({ env: { PINGPULL_KAFKA_SASL_PASSWORD: 'hunter2', PINGPULL_KAFKA_SASL_USERNAME: 'u' } }),
    );
    expect(problems.join('\n')).not.toContain('hunter2');
  });
});
