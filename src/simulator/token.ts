import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The simulator's own Livefyre token code, written from the protocol and
 * deliberately independent of pingpull's token module: if both shared one
 * implementation, a bug in it would sign and verify consistently and no
 * test against the simulator could notice. HS256 over the network key's
 * UTF-8 bytes; claims `domain`, `user_id`, `display_name` and the custom
 * `expires` (seconds, may be fractional).
 */

const SYSTEM = 'system';
/** Longer strings are not tokens; refusing them early bounds the HMAC work. */
const MAX_TOKEN_LENGTH = 4096;

export type SimTokenRejection = 'missing' | 'malformed' | 'algorithm' | 'signature' | 'domain' | 'user' | 'expired';

export interface SimTokenOptions {
  network: string;
  networkKey: string;
}

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

const hmac = (networkKey: string, signingInput: string): Buffer =>
  createHmac('sha256', Buffer.from(networkKey, 'utf8')).update(signingInput).digest();

/** A system token as Livefyre's libraries build it, valid `ttlSeconds` from `nowSeconds`. */
export function signSimSystemToken(options: SimTokenOptions, nowSeconds: number, ttlSeconds = 86_400): string {
  const header = encode({ typ: 'JWT', alg: 'HS256' });
  const claims = encode({
    domain: options.network,
    user_id: SYSTEM,
    display_name: SYSTEM,
    expires: nowSeconds + ttlSeconds,
    iat: Math.floor(nowSeconds),
  });
  const signature = hmac(options.networkKey, `${header}.${claims}`).toString('base64url');
  return `${header}.${claims}.${signature}`;
}

/** Why a token is not a valid system token of the network at `nowSeconds`, or undefined when it is. */
export function simTokenProblem(
  options: SimTokenOptions,
  token: string | undefined,
  nowSeconds: number,
): SimTokenRejection | undefined {
  if (token === undefined || token.length === 0) return 'missing';
  if (token.length > MAX_TOKEN_LENGTH) return 'malformed';
  const parts = token.split('.');
  if (parts.length !== 3) return 'malformed';
  const [headerPart, claimsPart, signaturePart] = parts as [string, string, string];
  const header = decodeJsonObject(headerPart);
  const claims = decodeJsonObject(claimsPart);
  if (header === undefined || claims === undefined || !BASE64URL.test(signaturePart)) return 'malformed';
  // only HS256: `none`, other HMAC sizes and public-key algorithms are refused outright
  if (header.alg !== 'HS256') return 'algorithm';
  const expected = hmac(options.networkKey, `${headerPart}.${claimsPart}`);
  const given = Buffer.from(signaturePart, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'signature';
  if (claims.domain !== options.network) return 'domain';
  if (claims.user_id !== SYSTEM) return 'user';
  if (typeof claims.expires !== 'number' || !Number.isFinite(claims.expires)) return 'malformed';
  if (claims.expires < nowSeconds) return 'expired';
  return undefined;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

function decodeJsonObject(part: string): Record<string, unknown> | undefined {
  if (part.length === 0 || !BASE64URL.test(part)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
    return isObject ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
