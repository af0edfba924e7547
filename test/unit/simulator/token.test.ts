import { describe, expect, it } from 'vitest';
import { createSystemToken, createTokenVerifier, importNetworkKey } from '../../../src/livefyre/token.js';
import { signSimSystemToken, simTokenProblem } from '../../../src/simulator/token.js';
import { badTokens, libraryClaims, libraryToken, makeToken, NETWORK, NETWORK_KEY } from '../../helpers/tokens.js';

const NOW_MS = 1_780_000_000_123;
const options = { network: NETWORK, networkKey: NETWORK_KEY };
const problem = (token: string | undefined, nowMs = NOW_MS) => simTokenProblem(options, token, nowMs / 1000);

/**
 * The simulator's own token code, checked against tokens built by hand the
 * way Livefyre's libraries build them and against pingpull's token module:
 * each side accepts what the other signs, so neither can drift alone.
 */
describe("simulator's token signer and verifier", () => {
  it('accepts library-built tokens (fractional expires, iat) and tokens pingpull signs', async () => {
    expect(problem(libraryToken(libraryClaims(NOW_MS)))).toBeUndefined();
    const clock = { now: () => NOW_MS };
    const { token } = await createSystemToken({ network: NETWORK, key: importNetworkKey(NETWORK_KEY), clock });
    expect(problem(token)).toBeUndefined();
    expect(problem(await makeToken({ nowMs: NOW_MS }))).toBeUndefined();
  });

  it('signs tokens pingpull verifies, valid for a day', async () => {
    const token = signSimSystemToken(options, NOW_MS / 1000);
    const claims = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    expect(claims).toEqual({
      domain: NETWORK,
      user_id: 'system',
      display_name: 'system',
      expires: NOW_MS / 1000 + 86_400,
      iat: Math.floor(NOW_MS / 1000),
    });
    const verify = createTokenVerifier({
      network: NETWORK,
      key: importNetworkKey(NETWORK_KEY),
      clock: { now: () => NOW_MS },
    });
    expect(await verify(token)).toEqual({ ok: true });
    expect(problem(token)).toBeUndefined();
    expect(problem(token, NOW_MS + 86_401_000)).toBe('expired');
  });

  it('refuses every kind of bad token, each for its reason', async () => {
    const reasons = Object.fromEntries(
      Object.entries(await badTokens(NOW_MS)).map(([kind, token]) => [kind, problem(token)]),
    );
    expect(reasons).toEqual({
      missing: 'missing',
      empty: 'missing',
      garbage: 'malformed',
      'bad signature': 'signature',
      'wrong domain': 'domain',
      'not the system user': 'user',
      expired: 'expired',
      'expires not a number': 'malformed',
      'alg none': 'algorithm',
      HS512: 'algorithm',
    });
  });

  it('refuses a token whose header claims HS256 but whose signature is another hash or empty', () => {
    expect(problem(libraryToken(libraryClaims(NOW_MS), { hash: 'sha512' }))).toBe('signature');
    expect(problem(libraryToken(libraryClaims(NOW_MS), { hash: 'none' }))).toBe('signature');
    expect(problem(libraryToken(libraryClaims(NOW_MS), { key: Buffer.from(NETWORK_KEY, 'base64') }))).toBe('signature');
    expect(problem(`${libraryToken(libraryClaims(NOW_MS))}x`)).toBe('signature');
    expect(problem('a.b.c.d')).toBe('malformed');
    expect(problem('x'.repeat(5000))).toBe('malformed');
  });

  it('signs with the key string exactly, whatever characters it has', () => {
    const key = 'clé-ñ/+=Ω';
    const token = signSimSystemToken({ network: NETWORK, networkKey: key }, NOW_MS / 1000);
    expect(simTokenProblem({ network: NETWORK, networkKey: key }, token, NOW_MS / 1000)).toBeUndefined();
    expect(problem(token)).toBe('signature');
    expect(problem(libraryToken(libraryClaims(NOW_MS), { key }))).toBe('signature');
  });
});
