import { describe, expect, it } from 'vitest';
import { describeKafkaFailure } from '../../../src/events/kafka-failure.js';
import { plaintextConnection } from '../../../src/events/kafka.js';

// kafkajs wraps the socket's error: retries exceeded → connection error (with Node's code).
function wrapped(inner: object): Error {
  const connection = Object.assign(new Error(`Connection error: ${String((inner as Error).message)}`), inner);
  return Object.assign(new Error('retries exceeded'), { name: 'KafkaJSNumberOfRetriesExceeded', cause: connection });
}

const secure = {
  ...plaintextConnection('b1:9096'),
  ssl: true,
  saslMechanism: 'scram-sha-512' as const,
  saslUsername: 'pingpull',
  saslPassword: 'hunter2',
};

describe('describeKafkaFailure', () => {
  it('tells the layers apart and names the key to fix', () => {
    const cases: Array<[Error, string, string]> = [
      [wrapped({ message: 'connect ECONNREFUSED', code: 'ECONNREFUSED' }), 'unreachable', 'kafka.brokers'],
      [wrapped({ message: 'Connection timeout' }), 'unreachable', 'kafka.brokers'],
      [wrapped({ message: 'self-signed certificate', code: 'SELF_SIGNED_CERT_IN_CHAIN' }), 'tls', 'kafka.sslCaFile'],
      [wrapped({ message: 'altnames', code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), 'tls', 'kafka.brokers'],
      [wrapped({ message: 'certificate has expired', code: 'CERT_HAS_EXPIRED' }), 'tls', 'kafka.brokers'],
      [
        Object.assign(new Error('SASL SCRAM-SHA-512 authentication failed: bad'), {
          type: 'SASL_AUTHENTICATION_FAILED',
        }),
        'sasl',
        'kafka.saslPassword',
      ],
      [new Error('SASL SCRAM-SHA-512 mechanism is not supported by the server'), 'sasl', 'kafka.saslMechanism'],
      [Object.assign(new Error('denied'), { type: 'TOPIC_AUTHORIZATION_FAILED' }), 'authorisation', 'kafka.topic'],
      [Object.assign(new Error('denied'), { type: 'GROUP_AUTHORIZATION_FAILED' }), 'authorisation', 'kafka.groupId'],
      [
        Object.assign(new Error('Failed to find group coordinator'), { name: 'KafkaJSGroupCoordinatorNotFound' }),
        'authorisation',
        'kafka.groupId',
      ],
      [
        Object.assign(new Error('Closed connection'), { name: 'KafkaJSConnectionClosedError' }),
        'sasl',
        'kafka.saslMechanism',
      ],
    ];
    for (const [error, layer, key] of cases) {
      const failure = describeKafkaFailure(error, secure, { topic: 't', groupId: 'g' });
      expect({ layer: failure.layer, key: failure.key }, error.message).toEqual({ layer, key });
      expect(failure.line.startsWith(`${key}: `)).toBe(true);
      expect(failure.line).not.toContain('\n');
      expect(failure.line).not.toContain('hunter2');
    }
  });

  it('suspects missing TLS when a plaintext client is hung up on', () => {
    const failure = describeKafkaFailure(new Error('Closed connection'), plaintextConnection('b1:9096'));
    expect(failure).toMatchObject({ layer: 'tls', key: 'kafka.ssl' });
  });

  it('names the resource an ACL refused', () => {
    const denied = Object.assign(new Error('denied'), { type: 'GROUP_AUTHORIZATION_FAILED' });
    expect(describeKafkaFailure(denied, secure, { groupId: 'pingpull-pinger' }).line).toBe(
      'kafka.groupId: "pingpull" is not authorised for consumer group pingpull-pinger at Kafka at b1:9096; ' +
        'grant the ACLs the README lists (Connecting to managed services)',
    );
  });
});
