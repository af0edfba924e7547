import { SOCKET_REASONS } from '../errors.js';
import type { KafkaConnection } from './kafka.js';

/** The layer a Kafka connection failed at, outermost first: what an operator fixes differs for each. */
export type KafkaFailureLayer = 'unreachable' | 'tls' | 'sasl' | 'authorisation' | 'other';

export interface KafkaFailure {
  layer: KafkaFailureLayer;
  /** The configuration key to look at. */
  key: string;
  /** One line for an operator, starting with the key; never a secret. */
  line: string;
}

const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']);

/**
 * Tells which layer a kafkajs failure comes from — TCP, TLS, SASL or ACLs —
 * and which key to fix, in one line. kafkajs wraps the socket's error
 * (retries exceeded → connection error → Node's TLS error), so the whole
 * chain is searched. `resources` names what was being accessed, for the
 * authorisation case.
 */
export function describeKafkaFailure(
  error: unknown,
  connection: KafkaConnection,
  resources: { topic?: string; groupId?: string } = {},
): KafkaFailure {
  const chain = causes(error);
  const codes = new Set(chain.map((link) => link.code).filter((code) => typeof code === 'string'));
  const types = new Set(chain.map((link) => link.type).filter((type) => typeof type === 'string'));
  const text = chain.map((link) => link.message ?? '').join(' | ');
  const at = `Kafka at ${connection.brokers}`;
  const result = (layer: KafkaFailureLayer, key: string, detail: string): KafkaFailure => ({
    layer,
    key,
    line: `${key}: ${detail}`,
  });

  const code = [...codes].find((c) => UNTRUSTED.has(c) || EXPIRED.has(c) || c === 'ERR_TLS_CERT_ALTNAME_INVALID');
  if (code !== undefined && UNTRUSTED.has(code)) {
    return result(
      'tls',
      'kafka.sslCaFile',
      `TLS handshake with ${at} failed: the broker's certificate is not trusted (${code}); ` +
        'set kafka.sslCaFile to the PEM of the CA that signed it',
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return result(
      'tls',
      'kafka.brokers',
      `TLS handshake with ${at} failed: the broker's certificate is not issued for that host name ` +
        '(hostname mismatch); use a broker address the certificate names',
    );
  }
  if (code !== undefined) {
    return result(
      'tls',
      'kafka.brokers',
      `TLS handshake with ${at} failed: the broker's certificate has expired or is not valid yet (${code}); ` +
        'the broker needs a renewed certificate',
    );
  }
  if (types.has('SASL_AUTHENTICATION_FAILED') || /SASL .* authentication failed/i.test(text)) {
    return result(
      'sasl',
      'kafka.saslPassword',
      `SASL ${connection.saslMechanism} authentication as "${connection.saslUsername}" failed at ${at}; ` +
        'check kafka.saslUsername and kafka.saslPassword',
    );
  }
  if (types.has('UNSUPPORTED_SASL_MECHANISM') || /mechanism is not supported/i.test(text)) {
    return result('sasl', 'kafka.saslMechanism', `${at} does not accept SASL ${connection.saslMechanism}`);
  }
  const denied = ['TOPIC_AUTHORIZATION_FAILED', 'GROUP_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED'].find(
    (type) => types.has(type),
  );
  if (denied !== undefined) {
    const who = connection.saslUsername === '' ? 'this client' : `"${connection.saslUsername}"`;
    const [key, what] =
      denied === 'TOPIC_AUTHORIZATION_FAILED'
        ? ['kafka.topic', `topic ${resources.topic ?? '(unknown)'}`]
        : denied === 'GROUP_AUTHORIZATION_FAILED'
          ? ['kafka.groupId', `consumer group ${resources.groupId ?? '(unknown)'}`]
          : ['kafka.saslUsername', 'the cluster'];
    return result(
      'authorisation',
      key,
      `${who} is not authorised for ${what} at ${at}; grant the ACLs the README lists ` +
        '(Connecting to managed services)',
    );
  }
  // kafkajs hides the FindCoordinator answer behind this error, and the broker refuses to say where the
  // coordinator is to a principal without rights on the group: the likely cause, but not the only one.
  if (chain.some((link) => link.name === 'KafkaJSGroupCoordinatorNotFound')) {
    return result(
      'authorisation',
      'kafka.groupId',
      `${at} names no coordinator for consumer group ${resources.groupId ?? '(unknown)'}: the principal is ` +
        'probably not authorised for the group (see the ACLs in the README, Connecting to managed services), ' +
        'or a new cluster is still creating its offsets topic (try again)',
    );
  }
  if ([...codes].some((c) => UNREACHABLE.has(c)) || /Connection timeout/.test(text)) {
    const code = [...codes].find((c) => UNREACHABLE.has(c));
    const reason = code === undefined ? 'no answer in time' : (SOCKET_REASONS[code] ?? code);
    const broker = chain.map((link) => (link as { broker?: unknown }).broker).find((b) => typeof b === 'string');
    return result('unreachable', 'kafka.brokers', `cannot reach ${broker ?? connection.brokers} (${reason})`);
  }
  if (/wrong version number|packet length too long|ERR_SSL_|disconnected before secure TLS/i.test(text)) {
    return result(
      'tls',
      'kafka.ssl',
      `TLS handshake with ${at} failed: the listener does not speak TLS; set kafka.ssl to false or use its TLS port`,
    );
  }
  if (/Closed connection|closed by the server|ECONNRESET|EPIPE/.test(text)) {
    return connection.ssl
      ? result(
          'sasl',
          'kafka.saslMechanism',
          `${at} closed the connection after the TLS handshake: the listener probably requires SASL ` +
            '(set kafka.saslMechanism, kafka.saslUsername, kafka.saslPassword)',
        )
      : result(
          'tls',
          'kafka.ssl',
          `${at} closed the connection: the listener probably requires TLS (set kafka.ssl) and maybe SASL ` +
            '(kafka.saslMechanism)',
        );
  }
  const last = chain[chain.length - 1]?.message ?? String(error);
  return result('other', 'kafka.brokers', `${at} failed: ${last}`);
}

interface Link {
  name?: unknown;
  message?: string;
  code?: unknown;
  type?: unknown;
}

function causes(error: unknown): Link[] {
  const chain: Link[] = [];
  let current: unknown = error;
  while (current !== null && typeof current === 'object' && chain.length < 10) {
    chain.push(current as Link);
    const next = (current as { cause?: unknown; originalError?: unknown }).cause;
    current = next ?? (current as { originalError?: unknown }).originalError;
  }
  if (chain.length === 0) chain.push({ message: String(error) });
  return chain;
}

/**
 * What kafkajs logs while a group or a partition changes hands: the
 * coordinator loading, a rebalance, a leader election. It passes by itself,
 * so it is debug, not an error.
 */
const TRANSIENT = [
  /rebalanc/i,
  /coordinator is loading/i,
  /coordinator is not (available|aware)/i,
  /not the correct coordinator/i,
  /leadership election/i,
  /no leader for this topic-partition/i,
  /not the leader for that topic-partition/i,
];

export function isTransientKafkaNoise(message: string, detail: unknown): boolean {
  const text = `${message} ${typeof detail === 'string' ? detail : ''}`;
  return TRANSIENT.some((pattern) => pattern.test(text));
}

/** Whether `error` (or an error it wraps) comes from kafkajs. */
export function isKafkaError(error: unknown): boolean {
  return causes(error).some((link) => /^KafkaJS/.test(String((link as { name?: unknown }).name ?? '')));
}
