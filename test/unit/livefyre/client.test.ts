import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { LivefyreError, UsageError } from '../../../src/errors.js';
import {
  createLivefyreClient,
  createTokenSource,
  livefyreBaseUrl,
  parseRetryAfter,
  probeLivefyre,
  type LivefyreClient,
} from '../../../src/livefyre/client.js';
import { pingNow } from '../../../src/pinger/ping-now.js';

const NETWORK = 'example.fyre.co';
const NETWORK_KEY = 'hnoVNQcTknTarpqj51WXQ6fXyAo=';
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);

describe('parseRetryAfter', () => {
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('3', NOW)).toBe(3_000);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
    expect(parseRetryAfter(['2', '9'], NOW)).toBe(2_000);
  });

  it('reads an HTTP date relative to now, never negative', () => {
    expect(parseRetryAfter('Thu, 01 Jan 2026 12:00:30 GMT', NOW)).toBe(30_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 11:00:00 GMT', NOW)).toBe(0);
  });

  it('ignores what it cannot read', () => {
    for (const value of [undefined, '', '-1', '1.5', 'soon', '12abc']) {
      expect(parseRetryAfter(value, NOW)).toBeUndefined();
    }
  });
});

describe('system token renewal', () => {
  it('builds the token once and renews it at half its lifetime', async () => {
    let now = NOW;
    const source = createTokenSource({
      network: NETWORK,
      networkKey: NETWORK_KEY,
      clock: { now: () => now },
      ttlSeconds: 3_600,
    });
    const first = await source.current();
    now += 1_799_999;
    expect(await source.current()).toBe(first);
    now += 1;
    const second = await source.current();
    expect(second).not.toBe(first);
    const claims = decodeJwt(second);
    expect(claims).toMatchObject({ domain: NETWORK, user_id: 'system', display_name: 'system' });
    expect(claims.expires).toBe(now / 1000 + 3_600);
  });

  it('builds one token for concurrent callers', async () => {
    const source = createTokenSource({
      network: NETWORK,
      networkKey: NETWORK_KEY,
      clock: { now: () => NOW },
      ttlSeconds: 60,
    });
    const tokens = await Promise.all([source.current(), source.current(), source.current()]);
    expect(new Set(tokens).size).toBe(1);
  });
});

interface Seen {
  method: string;
  url: string;
  body: string;
  contentType: string | undefined;
}

describe('Livefyre client over HTTP', () => {
  let server: Server | undefined;
  let client: LivefyreClient | undefined;

  afterEach(async () => {
    await client?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
    client = undefined;
  });

  async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void, timeoutMs = 2_000) {
    const seen: Seen[] = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', body, contentType: req.headers['content-type'] });
        handler(req, res);
      });
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = createLivefyreClient({
      network: NETWORK,
      networkKey: NETWORK_KEY,
      baseUrl: `http://127.0.0.1:${port}`,
      timeoutMs,
    });
    return { seen, client };
  }

  const answer =
    (status: number, headers: Record<string, string> = {}) =>
    (_: IncomingMessage, res: ServerResponse) => {
      res.writeHead(status, headers).end('{"status":"x"}');
    };

  it('pings with a form-encoded lftoken and reuses the connection', async () => {
    const sockets = new Set<unknown>();
    const { seen, client } = await serve((req, res) => {
      sockets.add(req.socket);
      res.writeHead(200).end('{"status":"ok"}');
    });
    await client.ping('u1');
    await client.ping('u.2-x_3');
    for (let i = 0; i < 6; i += 1) await client.ping(`u${i}`);
    expect(seen.slice(0, 2).map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST /api/v3_0/user/u1/refresh',
      'POST /api/v3_0/user/u.2-x_3/refresh',
    ]);
    expect(seen[0]?.contentType).toBe('application/x-www-form-urlencoded');
    const token = new URLSearchParams(seen[0]?.body).get('lftoken') ?? '';
    expect(decodeJwt(token)).toMatchObject({ domain: NETWORK, user_id: 'system' });
    // keep-alive: the pool may spread sequential requests over a second connection, no more
    expect(sockets.size).toBeLessThanOrEqual(2);
  });

  it('classifies 403 as forbidden and not retriable', async () => {
    const { client } = await serve(answer(403));
    const error = await client.ping('u1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LivefyreError);
    expect(error).toMatchObject({ code: 'ERR_LIVEFYRE_FORBIDDEN', status: 403, retriable: false });
    expect((error as Error).message).toMatch(/networkKey/);
  });

  it.each([
    [503, {}, true, undefined],
    [500, {}, true, undefined],
    [429, { 'retry-after': '7' }, true, 7_000],
    [503, { 'retry-after': '2' }, true, 2_000],
    [404, {}, false, undefined],
    [400, { 'retry-after': '7' }, false, undefined],
  ])('classifies %i %j as retriable=%s with retryAfterMs %s', async (status, headers, retriable, retryAfterMs) => {
    const { client } = await serve(answer(status, headers));
    const error = await client.ping('u1').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_LIVEFYRE', status, retriable, retryAfterMs });
  });

  it("puts Livefyre's explanation of a refusal, on one line, into the error message", async () => {
    let body = '{"status":"error","code":400,"msg":"pull_profile_url must\\ncontain {id}"}';
    const { client } = await serve((_, res) => res.writeHead(400).end(body));
    await expect(client.ping('u1')).rejects.toThrow(/was answered 400: pull_profile_url must contain \{id\}$/);
    body = `  upstream\n  overloaded ${'x'.repeat(500)}`;
    const error = (await client.ping('u1').catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/was answered 400: upstream overloaded x+$/);
    expect(error.message.length).toBeLessThan(400);
    body = '';
    await expect(client.ping('u1')).rejects.toThrow(/was answered 400$/);
  });

  it('times out slow answers as retriable', async () => {
    const { client } = await serve(() => undefined, 200);
    const error = await client.ping('u1').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_LIVEFYRE', retriable: true, status: undefined });
    expect((error as Error).message).toMatch(/200 ms/);
  });

  it('connection errors are retriable', async () => {
    const { client } = await serve((req) => req.socket.destroy());
    const error = await client.ping('u1').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_LIVEFYRE', retriable: true });
    const refused = createLivefyreClient({
      network: NETWORK,
      networkKey: NETWORK_KEY,
      baseUrl: 'http://127.0.0.1:1',
      timeoutMs: 1_000,
    });
    await expect(refused.ping('u1')).rejects.toMatchObject({ retriable: true });
    await refused.close();
  });

  it('refuses an invalid user id without a request', async () => {
    const { seen, client } = await serve(answer(200));
    await expect(client.ping('a/b')).rejects.toMatchObject({ retriable: false });
    expect(seen).toEqual([]);
  });

  it('registers the pull URL and never shows the token in errors', async () => {
    let status = 204;
    const { seen, client } = await serve((_, res) => res.writeHead(status).end());
    const template = 'https://users.example.com/livefyre/profiles/{id}';
    await expect(client.registerPullUrl(template)).resolves.toEqual({ status: 204 });
    const url = new URL(seen[0]?.url ?? '', 'http://x');
    expect(url.pathname).toBe('/');
    expect(url.searchParams.get('pull_profile_url')).toBe(template);
    const token = url.searchParams.get('actor_token') ?? '';
    expect(decodeJwt(token)).toMatchObject({ user_id: 'system' });

    status = 500;
    const error = (await client.registerPullUrl(template).catch((e: unknown) => e)) as LivefyreError;
    expect(error.retriable).toBe(true);
    expect(error.message).toContain('actor_token=[redacted]');
    expect(error.message).not.toContain(token.slice(0, 20));
    expect(JSON.stringify(error)).not.toContain(NETWORK_KEY);
  });

  it('rejects a template without {id} or not a URL', async () => {
    const { seen, client } = await serve(answer(204));
    await expect(client.registerPullUrl('https://example.com/profiles/')).rejects.toBeInstanceOf(UsageError);
    await expect(client.registerPullUrl('profiles/{id}')).rejects.toBeInstanceOf(UsageError);
    expect(seen).toEqual([]);
  });

  it('keeps a path prefix of the base URL', async () => {
    const seen: string[] = [];
    server = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(200).end();
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = createLivefyreClient({
      network: NETWORK,
      networkKey: NETWORK_KEY,
      baseUrl: `http://127.0.0.1:${port}/lf/`,
      timeoutMs: 1_000,
    });
    await client.ping('u1');
    expect(seen).toEqual(['/lf/api/v3_0/user/u1/refresh']);
  });
});

describe('probeLivefyre', () => {
  let server: Server | undefined;

  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });

  async function serve(
    handler: (req: IncomingMessage, res: ServerResponse) => void,
  ): Promise<{ base: string; seen: string[] }> {
    const seen: string[] = [];
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`.trim());
      handler(req, res);
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
  }

  it('counts any answer as reachable: one GET of the base URL, no token, no redirect followed', async () => {
    const { base, seen } = await serve((req, res) => {
      if (req.url === '/moved') res.writeHead(302, { location: '/elsewhere' }).end();
      else res.writeHead(404).end('not here');
    });
    expect(await probeLivefyre(base, 1_000)).toEqual({ reachable: true, httpStatus: 404, error: null });
    expect(await probeLivefyre(`${base}/moved`, 1_000)).toEqual({ reachable: true, httpStatus: 302, error: null });
    expect(seen).toEqual(['GET /', 'GET /moved']);
  });

  it('says why there is no answer', async () => {
    const { base } = await serve(() => undefined);
    expect(await probeLivefyre(base, 200)).toMatchObject({
      reachable: false,
      httpStatus: null,
      error: expect.stringMatching(/timeout/),
    });
    expect(await probeLivefyre('http://127.0.0.1:1', 1_000)).toMatchObject({
      reachable: false,
      error: expect.stringMatching(/ECONNREFUSED/),
    });
    expect(await probeLivefyre('', 1_000)).toMatchObject({
      reachable: false,
      error: expect.stringMatching(/livefyre\.network/),
    });
  });

  it('finds the base URL from livefyre.baseUrl, else the network', () => {
    expect(livefyreBaseUrl({ network: NETWORK, baseUrl: 'http://127.0.0.1:9' })).toBe('http://127.0.0.1:9');
    expect(livefyreBaseUrl({ network: NETWORK, baseUrl: '' })).toBe('https://example.quill.fyre.co');
    expect(livefyreBaseUrl({ network: '', baseUrl: '' })).toBe('');
  });
});

describe('pingNow', () => {
  it('validates every id first, then pings each distinct id once', async () => {
    const pinged: string[] = [];
    const client = { ping: async (id: string) => void pinged.push(id) };
    await expect(pingNow(client, ['u1', 'bad id', 'x/y'])).rejects.toThrow(/"bad id", "x\/y"/);
    expect(pinged).toEqual([]);
    expect(await pingNow(client, ['u1', 'u2', 'u1'])).toEqual([
      { id: 'u1', ok: true },
      { id: 'u2', ok: true },
    ]);
  });

  it('reports failures per id and stops at a 403', async () => {
    const client = {
      ping: async (id: string) => {
        if (id === 'u1') throw new LivefyreError('503', { status: 503, retriable: true });
        if (id === 'u2') throw new LivefyreError('403', { status: 403, retriable: false });
      },
    };
    const results = await pingNow(client, ['u1', 'u2', 'u3']);
    expect(results.map((r) => [r.id, r.ok])).toEqual([
      ['u1', false],
      ['u2', false],
    ]);
  });
});
