import { SignJWT } from 'jose';
import { createHmac, createSecretKey } from 'node:crypto';

/** Fixtures for token tests: a network, its key, and tokens valid or broken in one way each. */
export const NETWORK = 'example.fyre.co';
export const NETWORK_KEY = 'hnoVNQcTknTarpqj51WXQ6fXyAo=';

export interface TokenShape {
  key?: string;
  alg?: 'HS256' | 'HS384' | 'HS512';
  domain?: string;
  user_id?: string;
  /** Unix seconds. */
  expires?: number | string;
  nowMs?: number;
}

/** A token as the official libraries build it, with any one part changed. */
export async function makeToken(shape: TokenShape = {}): Promise<string> {
  const nowSeconds = (shape.nowMs ?? Date.now()) / 1000;
  return new SignJWT({
    domain: shape.domain ?? NETWORK,
    user_id: shape.user_id ?? 'system',
    display_name: 'system',
    expires: shape.expires ?? nowSeconds + 86_400.5,
  })
    .setProtectedHeader({ alg: shape.alg ?? 'HS256', typ: 'JWT' })
    .setIssuedAt(Math.floor(nowSeconds))
    .sign(createSecretKey(Buffer.from(shape.key ?? NETWORK_KEY, 'utf8')));
}

/** An `alg: none` token with a valid-looking payload and no signature. */
export function unsignedToken(nowMs = Date.now()): string {
  const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({
    domain: NETWORK,
    user_id: 'system',
    display_name: 'system',
    expires: nowMs / 1000 + 3600,
  })}.`;
}

/** Every kind of bad token the pull endpoint and the simulator must refuse. */
export async function badTokens(nowMs = Date.now()): Promise<Record<string, string | undefined>> {
  return {
    missing: undefined,
    empty: '',
    garbage: 'not-a-jwt',
    'bad signature': await makeToken({ key: 'another-network-key', nowMs }),
    'wrong domain': await makeToken({ domain: 'other.fyre.co', nowMs }),
    'not the system user': await makeToken({ user_id: 'u1042', nowMs }),
    expired: await makeToken({ expires: nowMs / 1000 - 1, nowMs }),
    'expires not a number': await makeToken({ expires: 'tomorrow', nowMs }),
    'alg none': unsignedToken(nowMs),
    HS512: await makeToken({ alg: 'HS512', nowMs }),
  };
}

/** The claims Livefyre's official libraries put in a system token: fractional `expires` (now + 1 day), `iat`. */
export function libraryClaims(nowMs: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    domain: NETWORK,
    user_id: 'system',
    display_name: 'system',
    expires: nowMs / 1000 + 86_400,
    iat: nowMs / 1000,
    ...extra,
  };
}

export interface HandMadeOptions {
  /** The HMAC key: a string is taken as its UTF-8 bytes, as the libraries do. */
  key?: string | Buffer;
  /** The header's `alg`. */
  alg?: string;
  /** The HMAC hash actually used to sign; `none` leaves the signature empty. */
  hash?: 'sha256' | 'sha384' | 'sha512' | 'none';
}

/**
 * A token built by hand with node:crypto, the way Livefyre's official
 * libraries build it: base64url (no padding) of the JSON header and claims,
 * signed with HMAC-SHA256 over the network key string's UTF-8 bytes. No JWT
 * library involved, so the pull server is checked against the protocol, not
 * against the library it happens to use.
 */
export function libraryToken(claims: Record<string, unknown>, options: HandMadeOptions = {}): string {
  const b64 = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${b64({ typ: 'JWT', alg: options.alg ?? 'HS256' })}.${b64(claims)}`;
  const hash = options.hash ?? 'sha256';
  const signature =
    hash === 'none'
      ? ''
      : createHmac(
          hash,
          typeof options.key === 'string' || options.key === undefined
            ? Buffer.from(options.key ?? NETWORK_KEY, 'utf8')
            : options.key,
        )
          .update(signingInput)
          .digest('base64url');
  return `${signingInput}.${signature}`;
}
