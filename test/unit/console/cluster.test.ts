import { describe, expect, it } from 'vitest';
import { clusterView, ClusterWatch } from '../../../src/console/cluster.js';
import type { StatusReport } from '../../../src/status/report.js';
import { FakeTime } from '../../helpers/fake-time.js';

const ok = { healthy: true, problems: [], error: null };

function report(overrides: Partial<StatusReport['connector']> = {}): StatusReport {
  return {
    healthy: true,
    checkedAt: '2026-12-02T04:00:00.000Z',
    database: { ...ok, reachable: true },
    connector: {
      ...ok,
      slot: 'pingpull',
      exists: true,
      active: true,
      walStatus: 'reserved',
      safeWalSizeBytes: 2_000_000_000,
      replicationLagBytes: 12_345_678,
      retainedBytes: 40_000_000,
      sourceLagSeconds: 0.25,
      truncates: null,
      ...overrides,
    },
    kafka: {
      ...ok,
      reachable: true,
      topic: 'changes',
      groupId: 'pingers',
      topicExists: true,
      partitions: [{ partition: 0, lag: 1500 } as StatusReport['kafka']['partitions'][number]],
      consumerLagMessages: 1500,
      members: 1,
    },
    deadLetters: { ...ok, topic: 'changes.dlq', messages: 0, awaitingReplay: 0, refusedEvents: null },
    pulls: {
      ...ok,
      topic: 'changes.pulls',
      confirmMs: 900_000,
      awaiting: 3,
      oldestAgeSeconds: 12,
      pullServerFailing: false,
      pullServerFailingSince: null,
      pullServerFailureCause: null,
    },
    livefyre: { ...ok, baseUrl: 'http://x', reachable: true, httpStatus: 404, forbidden: null },
    thresholds: {} as StatusReport['thresholds'],
  };
}

describe('the cluster-wide stages', () => {
  it('reads the report in human units, with the WAL headroom before the slot is lost', () => {
    const stages = clusterView(report()).stages;
    expect(stages.find((stage) => stage.stage === 'replication slot')?.figures).toBe(
      'slot pingpull streamed from, wal reserved, lag 12.3 MB, retained 40 MB (2 GB before the slot is lost), ' +
        'source lag 250 ms',
    );
    expect(stages.find((stage) => stage.stage === 'consumer group')?.figures).toBe(
      'group pingers on changes: 1,500 message(s) behind over 1 partition(s)',
    );
    expect(stages.find((stage) => stage.stage === 'pull confirmation')?.figures).toBe(
      '3 ping(s) awaiting their pull, the oldest for 12 s',
    );
  });

  it('is read at most every 10 s, however often the page is opened', async () => {
    const time = new FakeTime();
    let reads = 0;
    const watch = new ClusterWatch(async () => {
      reads += 1;
      return report();
    }, time);
    await Promise.all([watch.current(), watch.current()]);
    await watch.current();
    expect(reads).toBe(1);
    await time.advance(10_000);
    await watch.current();
    expect(reads).toBe(2);
  });
});
