import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { createSecretKey, type KeyObject } from 'node:crypto';
import type { Clock } from '../time.js';

const SYSTEM_USER = 'system';

/** The HMAC key: the network key string's UTF-8 bytes, exactly as Livefyre's libraries use it. */
export function importNetworkKey(networkKey: string): KeyObject {
  return createSecretKey(Buffer.from(networkKey, 'utf8'));
}

export interface SystemTokenOptions {
  network: string;
  key: KeyObject;
  clock: Clock;
  /** Lifetime in seconds; Livefyre's libraries default to one day. */
  ttlSeconds?: number;
}

/** A system token as Livefyre's official libraries build it (test/integration/pull-conformance.test.ts). */
export async function createSystemToken(options: SystemTokenOptions): Promise<{ token: string; expires: number }> {
  const nowSeconds = options.clock.now() / 1000;
  const expires = nowSeconds + (options.ttlSeconds ?? 86_400);
  const token = await new SignJWT({
    domain: options.network,
    user_id: SYSTEM_USER,
    display_name: SYSTEM_USER,
    expires,
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(Math.floor(nowSeconds))
    .sign(options.key);
  return { token, expires };
}

export type TokenRejection = 'malformed' | 'signature' | 'domain' | 'user' | 'expired';

export interface TokenVerifierOptions {
  network: string;
  key: KeyObject;
  clock: Clock;
  /** How many verified tokens to remember (Livefyre reuses its token across pulls). */
  cacheSize?: number;
}

export type TokenVerifier = (
  token: string | undefined,
) => Promise<{ ok: true } | { ok: false; reason: TokenRejection }>;

/**
 * Verifies Livefyre tokens the way Livefyre's libraries do: HS256 only,
 * `domain` equals the network, `user_id` is `system`, the custom `expires`
 * claim (seconds, possibly fractional) is not past. Tokens that verified are
 * remembered until they expire, so repeated pulls skip the HMAC.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const cacheSize = options.cacheSize ?? 1_000;
  const verified = new Map<string, number>();

  return async (token) => {
    if (token === undefined || token.length === 0 || token.length > 4096) return { ok: false, reason: 'malformed' };
    const nowSeconds = options.clock.now() / 1000;
    const cachedExpiry = verified.get(token);
    if (cachedExpiry !== undefined) {
      if (cachedExpiry > nowSeconds) return { ok: true };
      verified.delete(token);
      return { ok: false, reason: 'expired' };
    }

    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, options.key, {
        algorithms: ['HS256'],
        currentDate: new Date(options.clock.now()),
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWSSignatureVerificationFailed) return { ok: false, reason: 'signature' };
      if (error instanceof joseErrors.JWTExpired) return { ok: false, reason: 'expired' };
      return { ok: false, reason: 'malformed' };
    }
    if (payload.domain !== options.network) return { ok: false, reason: 'domain' };
    if (payload.user_id !== SYSTEM_USER) return { ok: false, reason: 'user' };
    const expires = typeof payload.expires === 'number' ? payload.expires : Number.NaN;
    if (!(expires > nowSeconds)) return { ok: false, reason: Number.isNaN(expires) ? 'malformed' : 'expired' };

    if (verified.size >= cacheSize) verified.delete(verified.keys().next().value as string);
    verified.set(token, expires);
    return { ok: true };
  };
}

/** The part of the network before the first dot: `example` for `example.fyre.co`. */
export function networkName(network: string): string {
  return network.split('.')[0] ?? network;
}

export function defaultBaseUrl(network: string): string {
  return `https://${networkName(network)}.quill.fyre.co`;
}
