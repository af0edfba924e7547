import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  startDedicatedKafka,
  startDedicatedPostgres,
  type DedicatedKafka,
  type DedicatedPostgres,
} from './dedicated.js';
import { adminAnswers, ensureTool, propertiesText, singleNodeProperties } from './kafka.js';
import { type Log, runOrThrow, stateDir } from './util.js';

/**
 * Services that behave like managed ones: a Kafka broker whose only listener
 * is SASL_SSL (PLAIN and SCRAM, ACLs enforced) and a PostgreSQL that accepts
 * TLS connections only, both with certificates of a throwaway CA made here
 * with openssl. For tests and for trying the TLS settings by hand.
 */
export interface CertificateAuthority {
  dir: string;
  /** The CA certificate (PEM): what clients trust. */
  caFile: string;
  /** A server certificate (PEM) for `hosts` (DNS names or IPs), valid `days` (negative: already expired). */
  issue(name: string, hosts: readonly string[], days?: number): Promise<{ certFile: string; keyFile: string }>;
  /** Deletes the CA and everything it issued. */
  remove(): Promise<void>;
}

const quietLog: Log = () => undefined;

export async function createCertificateAuthority(options: { log?: Log } = {}): Promise<CertificateAuthority> {
  await ensureTool(options.log ?? quietLog, 'openssl', 'openssl');
  const dir = path.join(stateDir, 'dedicated', `ca-${randomBytes(4).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  const caFile = path.join(dir, 'ca.crt');
  const caKey = path.join(dir, 'ca.key');
  const subject = ['-subj', '/CN=pingpull test CA'];
  await runOrThrow(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', caFile].concat([
      '-days',
      '30',
      ...subject,
    ]),
  );
  return {
    dir,
    caFile,
    async issue(name, hosts, days = 30) {
      const keyFile = path.join(dir, `${name}.key`);
      const certFile = path.join(dir, `${name}.crt`);
      const csr = path.join(dir, `${name}.csr`);
      const extensions = path.join(dir, `${name}.ext`);
      const names = hosts.map((host) => (/^[\d.]+$/.test(host) ? `IP:${host}` : `DNS:${host}`));
      await writeFile(extensions, `subjectAltName=${names.join(',')}\n`);
      await runOrThrow(
        'openssl',
        ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', csr].concat([
          '-subj',
          `/CN=${hosts[0] ?? name}`,
        ]),
      );
      await runOrThrow(
        'openssl',
        ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial'].concat([
          '-out',
          certFile,
          '-days',
          String(days),
          '-extfile',
          extensions,
        ]),
      );
      return { certFile, keyFile };
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface SecureKafka extends DedicatedKafka {
  caFile: string;
  /** A super user (PLAIN) for set-up work such as topics and ACLs. */
  admin: { username: string; password: string };
}

const STORE_PASSWORD = 'changeit';

/**
 * A broker whose only client listener is SASL_SSL on 127.0.0.1, enabling
 * PLAIN (`plainUsers`) and SCRAM-SHA-256/512 (`scramUsers`, created at
 * storage format as KRaft wants), with the standard authorizer: users other
 * than the admin may do only what ACLs grant them.
 */
export async function startSecureKafka(options: {
  ca: CertificateAuthority;
  plainUsers?: Record<string, string>;
  scramUsers?: Record<string, string>;
  log?: Log;
}): Promise<SecureKafka> {
  const { ca } = options;
  const log = options.log ?? quietLog;
  await ensureTool(log, 'keytool', 'default-jre-headless');
  const server = await ca.issue(`kafka-${randomBytes(3).toString('hex')}`, ['127.0.0.1', 'localhost']);
  const keyStore = path.join(ca.dir, `${path.basename(server.certFile, '.crt')}.p12`);
  const trustStore = path.join(ca.dir, 'trust.p12');
  await runOrThrow(
    'openssl',
    ['pkcs12', '-export', '-in', server.certFile, '-inkey', server.keyFile].concat([
      '-name',
      'broker',
      '-out',
      keyStore,
      '-passout',
      `pass:${STORE_PASSWORD}`,
    ]),
  );
  await runOrThrow(
    'keytool',
    ['-importcert', '-noprompt', '-alias', 'ca', '-file', ca.caFile, '-keystore', trustStore].concat([
      '-storetype',
      'PKCS12',
      '-storepass',
      STORE_PASSWORD,
    ]),
  );

  const admin = { username: 'admin', password: `admin-${randomBytes(6).toString('hex')}` };
  const brokerPassword = randomBytes(8).toString('hex');
  const plainUsers = { broker: brokerPassword, [admin.username]: admin.password, ...options.plainUsers };
  const plainJaas =
    'org.apache.kafka.common.security.plain.PlainLoginModule required ' +
    `username="broker" password="${brokerPassword}" ` +
    Object.entries(plainUsers)
      .map(([user, password]) => `user_${user}="${password}"`)
      .join(' ') +
    ';';
  const scramJaas = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  const formatArgs = Object.entries(options.scramUsers ?? {}).flatMap(([user, password]) =>
    ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((mechanism) => [
      '--add-scram',
      `${mechanism}=[name=${user},password=${password}]`,
    ]),
  );

  const kafka = await startDedicatedKafka({
    log,
    formatArgs,
    properties: ({ port, controllerPort, dataDir }) =>
      propertiesText({
        ...singleNodeProperties(controllerPort, dataDir),
        listeners: `SASL_SSL://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
        'advertised.listeners': `SASL_SSL://127.0.0.1:${port}`,
        'inter.broker.listener.name': 'SASL_SSL',
        'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL',
        'sasl.enabled.mechanisms': 'PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
        'sasl.mechanism.inter.broker.protocol': 'PLAIN',
        'listener.name.sasl_ssl.plain.sasl.jaas.config': plainJaas,
        'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config': scramJaas,
        'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config': scramJaas,
        'ssl.keystore.type': 'PKCS12',
        'ssl.keystore.location': keyStore,
        'ssl.keystore.password': STORE_PASSWORD,
        'ssl.truststore.type': 'PKCS12',
        'ssl.truststore.location': trustStore,
        'ssl.truststore.password': STORE_PASSWORD,
        'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
        // The controller listener is plaintext on loopback: its principal is ANONYMOUS.
        'super.users': `User:broker;User:${admin.username};User:ANONYMOUS`,
        'auto.create.topics.enable': 'false',
      }),
    answers: async (port) =>
      adminAnswers(port, { ssl: { ca: await readFile(ca.caFile, 'utf8') }, sasl: { mechanism: 'plain', ...admin } }),
  });
  return Object.assign(kafka, { caFile: ca.caFile, admin });
}

/** A PostgreSQL (wal_level logical) that accepts TLS connections only, with a server certificate for 127.0.0.1. */
export async function startTlsPostgres(options: { ca: CertificateAuthority; log?: Log }): Promise<DedicatedPostgres> {
  const server = await options.ca.issue(`postgres-${randomBytes(3).toString('hex')}`, ['127.0.0.1', 'localhost']);
  return startDedicatedPostgres({ log: options.log, tls: { ...server, caFile: options.ca.caFile } });
}
