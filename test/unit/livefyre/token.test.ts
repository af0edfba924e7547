import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createSystemToken,
  createTokenVerifier,
  defaultBaseUrl,
  importNetworkKey,
  networkName,
} from '../../../src/livefyre/token.js';

const NETWORK = 'example.fyre.co';
const NETWORK_KEY = 'hnoVNQcTknTarpqj51WXQ6fXyAo=';
const NOW_MS = 1_780_000_000_000;
const clock = { now: () => NOW_MS };

/** Builds a token by hand, as Livefyre's libraries do: HS256 over the key string's bytes. */
function handMadeToken(payload: object, options: { key?: string | Buffer; alg?: string } = {}): string {
  const b64 = (value: object | string): string =>
    Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
  const header = b64({ typ: 'JWT', alg: options.alg ?? 'HS256' });
  const body = b64(payload);
  const signature = createHmac('sha256', options.key ?? NETWORK_KEY)
    .update(`${header}.${body}`)
    .digest('base64url');
  return `${header}.${body}.${signature}`;
}

const systemClaims = (extra: object = {}) => ({
  domain: NETWORK,
  user_id: 'system',
  display_name: 'system',
  expires: NOW_MS / 1000 + 86_400.5,
  iat: NOW_MS / 1000,
  ...extra,
});

describe('system tokens', () => {
  it('builds a token with the claims of the protocol, signed with the key string', async () => {
    const { token, expires } = await createSystemToken({ network: NETWORK, key: importNetworkKey(NETWORK_KEY), clock });
    const [header, body, signature] = token.split('.');
    expect(JSON.parse(Buffer.from(header!, 'base64url').toString())).toMatchObject({ alg: 'HS256' });
    const claims = JSON.parse(Buffer.from(body!, 'base64url').toString());
    expect(claims).toMatchObject({ domain: NETWORK, user_id: 'system', display_name: 'system' });
    expect(claims.expires).toBe(NOW_MS / 1000 + 86_400);
    expect(expires).toBe(claims.expires);
    const expected = createHmac('sha256', NETWORK_KEY).update(`${header}.${body}`).digest('base64url');
    expect(signature).toBe(expected);
  });
});

describe('token verification', () => {
  const verify = createTokenVerifier({ network: NETWORK, key: importNetworkKey(NETWORK_KEY), clock });

  it('accepts a token as the official libraries build it (fractional expires, iat)', async () => {
    expect(await verify(handMadeToken(systemClaims()))).toEqual({ ok: true });
  });

  it('accepts its own system tokens', async () => {
    const { token } = await createSystemToken({ network: NETWORK, key: importNetworkKey(NETWORK_KEY), clock });
    expect(await verify(token)).toEqual({ ok: true });
  });

  it.each([
    ['missing', undefined, 'malformed'],
    ['empty', '', 'malformed'],
    ['garbage', 'not.a.token', 'malformed'],
    ['signed with another key', handMadeToken(systemClaims(), { key: 'other' }), 'signature'],
    [
      'signed with the base64-decoded key',
      handMadeToken(systemClaims(), { key: Buffer.from(NETWORK_KEY, 'base64') }),
      'signature',
    ],
    ['for another network', handMadeToken(systemClaims({ domain: 'other.fyre.co' })), 'domain'],
    ['for a user other than system', handMadeToken(systemClaims({ user_id: 'u1' })), 'user'],
    ['expired', handMadeToken(systemClaims({ expires: NOW_MS / 1000 - 0.5 })), 'expired'],
    ['without expires', handMadeToken(systemClaims({ expires: undefined })), 'malformed'],
  ])('rejects a token %s', async (_name, token, reason) => {
    expect(await verify(token)).toEqual({ ok: false, reason });
  });

  it('rejects alg none and other HMAC sizes', async () => {
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify(systemClaims())).toString('base64url')}.`;
    expect((await verify(none)).ok).toBe(false);
    const header = Buffer.from('{"alg":"HS512","typ":"JWT"}').toString('base64url');
    const body = Buffer.from(JSON.stringify(systemClaims())).toString('base64url');
    const sig = createHmac('sha512', NETWORK_KEY).update(`${header}.${body}`).digest('base64url');
    expect((await verify(`${header}.${body}.${sig}`)).ok).toBe(false);
  });

  it('stops accepting a remembered token once it expires', async () => {
    let now = NOW_MS;
    const verifyAt = createTokenVerifier({
      network: NETWORK,
      key: importNetworkKey(NETWORK_KEY),
      clock: { now: () => now },
    });
    const token = handMadeToken(systemClaims({ expires: NOW_MS / 1000 + 10 }));
    expect((await verifyAt(token)).ok).toBe(true);
    now += 11_000;
    expect(await verifyAt(token)).toEqual({ ok: false, reason: 'expired' });
  });
});

describe('network names', () => {
  it('takes the part before the first dot for the default base URL', () => {
    expect(networkName('example.fyre.co')).toBe('example');
    expect(defaultBaseUrl('example.fyre.co')).toBe('https://example.quill.fyre.co');
  });
});
