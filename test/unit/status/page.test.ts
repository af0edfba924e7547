import { createHash } from 'node:crypto';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { StatusHistory, publicStatus, registerStatusPage } from '../../../src/status/page.js';
import type { StatusReport } from '../../../src/status/report.js';

const thresholds = loadConfig({ env: {} }).status;

function report(overrides: { lag?: number; error?: string | null } = {}): StatusReport {
  const stage = { healthy: true, problems: [], error: null };
  return {
    healthy: overrides.error === undefined || overrides.error === null,
    checkedAt: '2026-11-27T00:00:00.000Z',
    database: { ...stage, reachable: true },
    connector: {
      ...stage,
      slot: 'secret_slot_name',
      exists: true,
      active: true,
      walStatus: 'reserved',
      safeWalSizeBytes: null,
      replicationLagBytes: overrides.lag ?? 0,
      retainedBytes: 4096,
      sourceLagSeconds: 0,
      truncates: null,
    },
    kafka: {
      ...stage,
      healthy: overrides.error === undefined || overrides.error === null,
      error: overrides.error ?? null,
      reachable: true,
      topic: 'internal.topic',
      groupId: 'internal-group',
      topicExists: true,
      partitions: [{ partition: 0, endOffset: 10, committedOffset: 7, lag: 3 }],
      consumerLagMessages: 3,
      members: 1,
    },
    deadLetters: { ...stage, topic: 'internal.dlq', messages: 0, awaitingReplay: 0, refusedEvents: null },
    pulls: {
      ...stage,
      topic: 'internal.pulls',
      confirmMs: 900_000,
      awaiting: 2,
      oldestAgeSeconds: 30,
      pullServerFailing: false,
      pullServerFailingSince: null,
      pullServerFailureCause: null,
    },
    livefyre: {
      ...stage,
      baseUrl: 'https://internal.quill.fyre.co',
      reachable: true,
      httpStatus: 404,
      forbidden: false,
    },
    thresholds,
  };
}

describe('the public status', () => {
  it('keeps the figures and drops names, hosts and error messages', () => {
    const view = publicStatus(report({ error: 'connect ECONNREFUSED 10.1.2.3:9092' }), []);
    const text = JSON.stringify(view);
    for (const hidden of [
      'secret_slot_name',
      'internal.topic',
      'internal-group',
      'internal.dlq',
      'internal.quill',
      '10.1.2.3',
      'thresholds',
    ]) {
      expect(text).not.toContain(hidden);
    }
    expect(view.stages.kafka).toEqual({
      healthy: false,
      problems: ['could not be read'],
      consumerLagMessages: 3,
      members: 1,
      partitions: [{ partition: 0, lag: 3 }],
    });
    expect(view.stages.connector).toMatchObject({
      active: true,
      walStatus: 'reserved',
      replicationLagBytes: 0,
      retainedBytes: 4096,
      sourceLagSeconds: 0,
    });
  });
});

describe('StatusHistory', () => {
  it('serves a cached report to a burst of requests, reads once at a time, and charts each fresh report', async () => {
    let now = 0;
    let reads = 0;
    const history = new StatusHistory({
      report: async () => report({ lag: 100 * ++reads }),
      clock: { now: () => now },
      cacheMs: 2_000,
      historyMs: 10_000,
    });
    const burst = await Promise.all([history.current(), history.current(), history.current()]);
    expect(reads).toBe(1);
    expect(burst.every((view) => view.history.length === 1)).toBe(true);
    now = 1_000;
    expect((await history.current()).history).toHaveLength(1);
    now = 2_500;
    const second = await history.current();
    expect(reads).toBe(2);
    expect(second.history.map((point) => point.replicationLagBytes)).toEqual([100, 200]);
    now = 20_000;
    const later = await history.current();
    expect(later.history.map((point) => point.t)).toEqual([20_000]);
  });
});

describe('GET /status and /status.json', () => {
  it('serve the page under a strict Content-Security-Policy that admits exactly its inline script', async () => {
    const app = Fastify();
    registerStatusPage(app, { report: async () => report(), clock: { now: () => 0 } });
    const page = await app.inject({ method: 'GET', url: '/status' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    const script = /<script>([\s\S]*?)<\/script>/.exec(page.body)?.[1] ?? '';
    expect(csp).toContain(`'sha256-${createHash('sha256').update(script).digest('base64')}'`);
    expect(page.body).not.toMatch(/<script src=|<link |https?:\/\//);

    const json = await app.inject({ method: 'GET', url: '/status.json' });
    expect(json.statusCode).toBe(200);
    expect(json.headers['cache-control']).toBe('no-store');
    expect(json.json()).toMatchObject({ healthy: true, stages: { kafka: { consumerLagMessages: 3 } } });
    await app.close();
  });

  it('answers 503 when the report itself fails', async () => {
    const app = Fastify();
    registerStatusPage(app, {
      report: async () => Promise.reject(new Error('boom at 10.0.0.1')),
      clock: { now: () => 0 },
    });
    const json = await app.inject({ method: 'GET', url: '/status.json' });
    expect(json.statusCode).toBe(503);
    expect(json.body).toBe('{"healthy":false}');
    await app.close();
  });
});
