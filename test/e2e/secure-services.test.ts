import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  Kafka,
  logLevel,
  ResourcePatternTypes,
} from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicationSession } from '../../src/cdc/stream.js';
import type { DedicatedPostgres } from '../../tools/devenv/dedicated.js';
import {
  createCertificateAuthority,
  startSecureKafka,
  startTlsPostgres,
  type CertificateAuthority,
  type SecureKafka,
} from '../../tools/devenv/secure.js';
import { freePort, runCli, spawnCli, type CliResult, type RunningCli } from '../helpers/cli.js';
import { uniqueName } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

// The pipeline against services that behave like managed ones: a Kafka whose
// only listener is SASL_SSL with ACLs enforced, a Postgres that accepts TLS
// only (verify-full), secrets handed over as files. One broker and one
// cluster for the whole file.

const NETWORK = 'tls.fyre.co';
const NETWORK_KEY = 'Zm9vYmFyLXRscy1uZXR3b3JrLWtleQ==';
const DB_PASSWORD = 'pg-Secret-4d1f9a';
const SCRAM_PASSWORD = 'scram-Secret-7c2e55';
const PLAIN_PASSWORD = 'plain-Secret-0b9d31';
const STRANGER_PASSWORD = 'stranger-Secret-e81a';
const SECRETS = [NETWORK_KEY, DB_PASSWORD, SCRAM_PASSWORD, PLAIN_PASSWORD, STRANGER_PASSWORD];
// Users with the topic ACLs but none for the group share the checker's password.
const GROUPLESS = 'groupless';

describe('TLS-only Postgres and SASL_SSL-only Kafka', () => {
  let ca: CertificateAuthority;
  let kafka: SecureKafka;
  let postgres: DedicatedPostgres;
  let secretsDir: string;
  let databaseUrl: string;
  let env: Record<string, string | undefined>;
  let simulator: RunningCli | undefined;
  let pipeline: RunningCli | undefined;
  let simUrl: string;
  let metricsUrl: string;
  /** Everything pingpull printed in this file, searched for secrets at the end. */
  const printed: string[] = [];
  const cli = async (args: string[], overrides: Record<string, string | undefined> = {}): Promise<CliResult> => {
    const result = await runCli(args, { ...env, ...overrides });
    printed.push(result.stdout, result.stderr);
    return result;
  };

  beforeAll(async () => {
    ca = await createCertificateAuthority();
    [kafka, postgres] = await Promise.all([
      startSecureKafka({
        ca,
        plainUsers: { checker: PLAIN_PASSWORD, stranger: STRANGER_PASSWORD, [GROUPLESS]: PLAIN_PASSWORD },
        scramUsers: { pingpull: SCRAM_PASSWORD },
      }),
      startTlsPostgres({ ca }),
    ]);
    await grantPipelineAcls(kafka, ['pingpull', 'checker'], [GROUPLESS]);

    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query(`CREATE ROLE cdc LOGIN REPLICATION PASSWORD '${DB_PASSWORD}'`);
    await admin.query('CREATE DATABASE app OWNER cdc');
    await admin.end();
    const tlsQuery = `sslmode=verify-full&sslrootcert=${ca.caFile}`;
    databaseUrl = `postgres://cdc:${DB_PASSWORD}@127.0.0.1:${postgres.port}/app?${tlsQuery}`;
    const owner = new pg.Client({ connectionString: databaseUrl });
    await owner.connect();
    await owner.query(
      'CREATE TABLE users (id bigint PRIMARY KEY, display_name text NOT NULL, email text, avatar_url text)',
    );
    await owner.query(`INSERT INTO users SELECT n, 'user ' || n, NULL, NULL FROM generate_series(1, 10) AS n`);
    await owner.end();

    secretsDir = await mkdtemp(path.join(tmpdir(), 'pingpull-secrets-'));
    const secretFile = async (name: string, value: string) => {
      const file = path.join(secretsDir, name);
      await writeFile(file, `${value}\n`, { mode: 0o600 });
      return file;
    };
    const [simPort, pullPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    simUrl = `http://127.0.0.1:${simPort}`;
    metricsUrl = `http://127.0.0.1:${metricsPort}`;
    env = {
      PINGPULL_DATABASE_URL: undefined,
      PINGPULL_DATABASE_URL_FILE: await secretFile('database-url', databaseUrl),
      PINGPULL_KAFKA_BROKERS: kafka.brokers,
      PINGPULL_KAFKA_SSL: 'true',
      PINGPULL_KAFKA_SSL_CA_FILE: ca.caFile,
      PINGPULL_KAFKA_SASL_MECHANISM: 'scram-sha-512',
      PINGPULL_KAFKA_SASL_USERNAME: 'pingpull',
      PINGPULL_KAFKA_SASL_PASSWORD_FILE: await secretFile('kafka-password', SCRAM_PASSWORD),
      PINGPULL_KAFKA_TOPIC: uniqueName('pingpull.changes'),
      PINGPULL_KAFKA_DLQ_TOPIC: uniqueName('pingpull.dlq'),
      PINGPULL_KAFKA_GROUP_ID: uniqueName('pingpull-group'),
      PINGPULL_LIVEFYRE_NETWORK: NETWORK,
      PINGPULL_LIVEFYRE_NETWORK_KEY_FILE: await secretFile('network-key', NETWORK_KEY),
      PINGPULL_LIVEFYRE_BASE_URL: simUrl,
      PINGPULL_SIMULATOR_PORT: String(simPort),
      PINGPULL_PULL_HOST: '127.0.0.1',
      PINGPULL_PULL_PORT: String(pullPort),
      PINGPULL_METRICS_HOST: '127.0.0.1',
      PINGPULL_METRICS_PORT: String(metricsPort),
      PINGPULL_PINGER_COALESCE_MS: '100',
      PINGPULL_STATUS_TIMEOUT_MS: '3000',
      PINGPULL_STATUS_SAMPLE_MS: '200',
      // Debug logging, so the secret search also covers what operators see when they dig.
      PINGPULL_LOG_LEVEL: 'debug',
    };
  }, 240_000);

  afterAll(async () => {
    await pipeline?.stop();
    await simulator?.stop();
    await Promise.allSettled([kafka?.destroy(), postgres?.destroy()]);
    await ca?.remove();
    if (secretsDir !== undefined) await rm(secretsDir, { recursive: true, force: true });
  }, 60_000);

  it('runs the whole pipeline through both, with secrets read from files', async () => {
    simulator = spawnCli(['livefyre-sim'], env);
    await waitFor(async () => (await fetch(`${simUrl}/healthz`).catch(() => undefined))?.ok, {
      what: 'the simulator',
    });
    const setup = await cli(['setup']);
    expect(setup.code, setup.stderr).toBe(0);
    pipeline = spawnCli(['run'], env);
    const pullBase = `http://127.0.0.1:${env.PINGPULL_PULL_PORT}`;
    await waitFor(async () => (await fetch(`${pullBase}/readyz`).catch(() => undefined))?.ok, {
      what: 'the pull server',
    });
    const registered = await cli(['register-pull-url', `${pullBase}/livefyre/profiles/{id}`]);
    expect(registered.code, registered.stderr).toBe(0);

    const owner = new pg.Client({ connectionString: databaseUrl });
    await owner.connect();
    await owner.query(`UPDATE users SET display_name = 'renamed ' || id WHERE id IN (2, 5)`);
    await owner.end();
    for (const id of [2, 5]) {
      await waitFor(
        async () => {
          const response = await fetch(`${simUrl}/sim/profiles/${id}`);
          if (!response.ok) return false;
          const record = (await response.json()) as { profile: { display_name?: string } };
          return record.profile.display_name === `renamed ${id}`;
        },
        { what: `the simulator to pull user ${id} through the pipeline`, timeoutMs: 60_000 },
      );
    }

    const check = await cli(['check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const status = await cli(['status']);
    expect(status.stdout).toContain('connector');
    printed.push(await (await fetch(`${metricsUrl}/`)).text());
    printed.push(await (await fetch(`${metricsUrl}/status.json`)).text());
    printed.push(await (await fetch(`${metricsUrl}/metrics`)).text());
  }, 180_000);

  it('the replication connection itself verifies the server certificate (verify-full)', async () => {
    const other = await createCertificateAuthority();
    try {
      const untrusted = databaseUrl.replace(ca.caFile, other.caFile);
      const session = new ReplicationSession({
        databaseUrl: untrusted,
        slot: 'never_created',
        publication: 'never_created',
        applicationName: 'pingpull-tls-test',
      });
      const started: string[] = [];
      const outcome = session.run(0n, {
        message: async () => undefined,
        keepalive: () => undefined,
        started: () => started.push('started'),
      });
      await expect(outcome).rejects.toThrow(/self-signed certificate|unable to verify|certificate/i);
      expect(started).toEqual([]);
    } finally {
      await other.remove();
    }
  });

  describe('check names the failing layer and the key to fix, in one line', () => {
    const kafkaProblem = async (overrides: Record<string, string | undefined>): Promise<string> => {
      const result = await cli(['check'], overrides);
      expect(result.code, result.stdout + result.stderr).toBe(1);
      expect(result.stdout + result.stderr).not.toMatch(/^\s+at /m);
      const lines = result.stdout.split('\n').filter((line) => line.startsWith('problem: kafka.'));
      expect(lines, result.stdout).toHaveLength(1);
      return lines[0]!;
    };
    const plainChecker = {
      PINGPULL_KAFKA_SASL_MECHANISM: 'plain',
      PINGPULL_KAFKA_SASL_USERNAME: 'checker',
      PINGPULL_KAFKA_SASL_PASSWORD_FILE: undefined,
      PINGPULL_KAFKA_SASL_PASSWORD: PLAIN_PASSWORD,
    };

    it('passes with PLAIN as with SCRAM', async () => {
      const result = await cli(['check'], plainChecker);
      expect(result.stdout).not.toContain('problem: kafka.');
      expect(result.stdout).toContain(`info: Kafka at ${kafka.brokers} answers`);
    });

    it('TCP: nothing listens', async () => {
      const port = await freePort();
      expect(await kafkaProblem({ PINGPULL_KAFKA_BROKERS: `127.0.0.1:${port}` })).toMatch(
        new RegExp(`^problem: kafka\\.brokers: cannot reach 127\\.0\\.0\\.1:${port} \\(connection refused\\)$`),
      );
    });

    it('TLS off against a TLS listener', async () => {
      expect(await kafkaProblem({ PINGPULL_KAFKA_SSL: 'false', PINGPULL_KAFKA_SSL_CA_FILE: undefined })).toMatch(
        /^problem: kafka\.ssl: Kafka at .* closed the connection: the listener probably requires TLS/,
      );
    });

    it('TLS: certificate not trusted (system trust store)', async () => {
      expect(await kafkaProblem({ PINGPULL_KAFKA_SSL_CA_FILE: undefined })).toMatch(
        /^problem: kafka\.sslCaFile: TLS handshake with Kafka at .* the broker's certificate is not trusted/,
      );
    });

    it('TLS: hostname mismatch and expired certificate', async () => {
      const wrongHost = await tlsServer(await ca.issue('wrong-host', ['wrong.example']));
      const expired = await tlsServer(await ca.issue('expired', ['127.0.0.1'], -1));
      try {
        expect(await kafkaProblem({ PINGPULL_KAFKA_BROKERS: wrongHost.address })).toMatch(
          /^problem: kafka\.brokers: TLS handshake with .* not issued for that host name \(hostname mismatch\)/,
        );
        expect(await kafkaProblem({ PINGPULL_KAFKA_BROKERS: expired.address })).toMatch(
          /^problem: kafka\.brokers: TLS handshake with .* certificate has expired .*CERT_HAS_EXPIRED/,
        );
      } finally {
        wrongHost.close();
        expired.close();
      }
    });

    it('SASL: wrong password, unknown SCRAM user', async () => {
      expect(await kafkaProblem({ ...plainChecker, PINGPULL_KAFKA_SASL_PASSWORD: 'not-the-password' })).toMatch(
        /^problem: kafka\.saslPassword: SASL plain authentication as "checker" failed at Kafka at /,
      );
      expect(
        await kafkaProblem({ PINGPULL_KAFKA_SASL_MECHANISM: 'scram-sha-256', PINGPULL_KAFKA_SASL_USERNAME: 'x' }),
      ).toMatch(/^problem: kafka\.saslPassword: SASL scram-sha-256 authentication as "x" failed/);
    });

    it('TLS on but SASL off', async () => {
      expect(
        await kafkaProblem({
          PINGPULL_KAFKA_SASL_MECHANISM: undefined,
          PINGPULL_KAFKA_SASL_USERNAME: undefined,
          PINGPULL_KAFKA_SASL_PASSWORD_FILE: undefined,
        }),
      ).toMatch(/^problem: kafka\.saslMechanism: Kafka at .* closed the connection after the TLS handshake/);
    });

    it('ACLs: a user not authorised for the topic', async () => {
      expect(
        await kafkaProblem({
          ...plainChecker,
          PINGPULL_KAFKA_SASL_USERNAME: 'stranger',
          PINGPULL_KAFKA_SASL_PASSWORD: STRANGER_PASSWORD,
        }),
      ).toMatch(/^problem: kafka\.topic: "stranger" is not authorised for topic pingpull_changes_/);
    });
  });

  it('check names the group a user may not use', async () => {
    const result = await cli(['check'], {
      PINGPULL_KAFKA_SASL_MECHANISM: 'plain',
      PINGPULL_KAFKA_SASL_USERNAME: GROUPLESS,
      PINGPULL_KAFKA_SASL_PASSWORD_FILE: undefined,
      PINGPULL_KAFKA_SASL_PASSWORD: PLAIN_PASSWORD,
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /^problem: kafka\.groupId: Kafka at .* names no coordinator for consumer group pingpull_group_\w+: the principal is probably not authorised/m,
    );
  });

  it('check names a database TLS problem in one line too', async () => {
    const plaintext = databaseUrl.replace(/\?.*$/, '');
    const untrusted = databaseUrl.replace(/sslrootcert=[^&]*/, 'sslrootcert=/etc/ssl/certs/ca-certificates.crt');
    const lines = async (url: string) => {
      const file = path.join(secretsDir, 'other-database-url');
      await writeFile(file, url);
      const result = await cli(['check'], { PINGPULL_DATABASE_URL_FILE: file });
      expect(result.code).toBe(1);
      return result.stdout.split('\n').filter((line) => line.startsWith('problem: database.url'));
    };
    expect(await lines(plaintext)).toEqual([
      'problem: database.url: the database accepts TLS connections only; add sslmode=verify-full (and sslrootcert)',
    ]);
    expect(await lines(untrusted)).toEqual([
      expect.stringMatching(
        /^problem: database\.url: TLS handshake with the database failed: its certificate is not trusted/,
      ),
    ]);
  });

  it('never shows a password or the network key in logs, command output or the console', async () => {
    await pipeline?.stop();
    await simulator?.stop();
    printed.push(pipeline?.output() ?? '', simulator?.output() ?? '');
    const everything = printed.join('\n');
    expect(everything.length).toBeGreaterThan(1_000);
    for (const secret of SECRETS) expect(everything).not.toContain(secret);
    expect(await readFile(env.PINGPULL_DATABASE_URL_FILE!, 'utf8')).toContain(DB_PASSWORD);
  });
});

/** ACLs a least-privilege pipeline user needs (the README lists the same). */
async function grantPipelineAcls(kafka: SecureKafka, users: string[], topicOnlyUsers: string[]): Promise<void> {
  const client = new Kafka({
    clientId: 'pingpull-acl-setup',
    brokers: [kafka.brokers],
    ssl: { ca: await readFile(kafka.caFile, 'utf8') },
    sasl: { mechanism: 'plain', ...kafka.admin },
    logLevel: logLevel.NOTHING,
  });
  const admin = client.admin();
  await admin.connect();
  try {
    const allow = (resourceType: AclResourceTypes, operation: AclOperationTypes, principal: string) => ({
      resourceType,
      resourceName: 'pingpull_',
      resourcePatternType: ResourcePatternTypes.PREFIXED,
      principal,
      host: '*',
      operation,
      permissionType: AclPermissionTypes.ALLOW,
    });
    const topicOperations = [
      AclOperationTypes.DESCRIBE,
      AclOperationTypes.READ,
      AclOperationTypes.WRITE,
      AclOperationTypes.CREATE,
    ];
    await admin.createAcls({
      acl: [
        ...[...users, ...topicOnlyUsers].flatMap((user) =>
          topicOperations.map((operation) => allow(AclResourceTypes.TOPIC, operation, `User:${user}`)),
        ),
        ...users.map((user) => allow(AclResourceTypes.GROUP, AclOperationTypes.READ, `User:${user}`)),
      ],
    });
  } finally {
    await admin.disconnect();
  }
}

/** A TLS endpoint presenting `certificate`: enough to fail a client's handshake the way a broker would. */
async function tlsServer(certificate: {
  certFile: string;
  keyFile: string;
}): Promise<{ address: string; close(): void }> {
  const server = tls.createServer({
    cert: await readFile(certificate.certFile),
    key: await readFile(certificate.keyFile),
  });
  server.on('secureConnection', (socket) => socket.destroy());
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { address: `127.0.0.1:${port}`, close: () => server.close() };
}
