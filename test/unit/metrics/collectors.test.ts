import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { KafkaLagReader } from '../../../src/events/consumer-lag.js';
import { recordSlotLag, startKafkaLagCollector } from '../../../src/metrics/collectors.js';
import { createMetrics } from '../../../src/metrics/registry.js';
import { systemTimers } from '../../../src/time.js';

const silent = pino({ level: 'silent' });

describe('recordSlotLag', () => {
  it('sets the slot gauges, one wal_status at 1, and +Inf for an unlimited safe WAL size', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    recordSlotLag(
      metrics,
      {
        lagBytes: 10,
        retainedBytes: 20,
        walStatus: 'extended',
        safeWalSizeBytes: null,
        active: true,
        walEndBytes: 100,
        confirmedFlushBytes: 90,
      },
      2.5,
    );
    const text = await metrics.registry.metrics();
    expect(text).toContain('pingpull_replication_lag_bytes 10');
    expect(text).toContain('pingpull_replication_retained_bytes 20');
    expect(text).toContain('pingpull_source_lag_seconds 2.5');
    expect(text).toContain('pingpull_replication_slot_wal_status{status="extended"} 1');
    expect(text).toContain('pingpull_replication_slot_wal_status{status="reserved"} 0');
    expect(text).toContain('pingpull_replication_slot_active 1');
    expect(text).toContain('pingpull_replication_slot_safe_wal_size_bytes +Inf');
  });

  it('marks a missing slot and no reader', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    recordSlotLag(metrics, undefined, null);
    const text = await metrics.registry.metrics();
    expect(text).toContain('pingpull_replication_slot_wal_status{status="missing"} 1');
    expect(text).toContain('pingpull_replication_slot_active 0');
  });
});

describe('startKafkaLagCollector', () => {
  it('exports lag per partition and the dead letter count, replacing partitions that went away', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.consumerLagMessages.set({ topic: 'changes', partition: '9' }, 5);
    let closed = false;
    const reader: KafkaLagReader = {
      consumerLag: async (topic) => ({
        topic,
        exists: true,
        partitions: [
          { partition: 0, endOffset: 10, committedOffset: 7, lag: 3 },
          { partition: 1, endOffset: 4, committedOffset: null, lag: 4 },
        ],
        total: 7,
        members: 1,
      }),
      topicSize: async (topic) => ({ topic, exists: true, messages: 2, partitions: [] }),
      groupMarks: async () => [],
      awaitedPulls: async (topic) => ({ topic, exists: true, awaiting: 0, oldestFirstPingedAtMs: null }),
      close: async () => {
        closed = true;
      },
    };
    const collector = startKafkaLagCollector({
      reader,
      topic: 'changes',
      dlqTopic: 'changes.dlq',
      groupId: 'g',
      metrics,
      intervalMs: 60_000,
      logger: silent,
      timers: systemTimers,
    });
    await collector.stop();
    const text = await metrics.registry.metrics();
    expect(text).toContain('pingpull_consumer_lag_messages{topic="changes",partition="0"} 3');
    expect(text).toContain('pingpull_consumer_lag_messages{topic="changes",partition="1"} 4');
    expect(text).not.toContain('partition="9"');
    expect(text).toContain('pingpull_dead_letter_messages{topic="changes.dlq"} 2');
    expect(closed).toBe(true);
  });

  it('counts a failed read and keeps the last values', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.consumerLagMessages.set({ topic: 'changes', partition: '0' }, 8);
    const failing: KafkaLagReader = {
      consumerLag: async () => Promise.reject(new Error('broker down')),
      topicSize: async () => Promise.reject(new Error('broker down')),
      groupMarks: async () => Promise.reject(new Error('broker down')),
      awaitedPulls: async () => Promise.reject(new Error('broker down')),
      close: async () => undefined,
    };
    await startKafkaLagCollector({
      reader: failing,
      topic: 'changes',
      dlqTopic: 'd',
      groupId: 'g',
      metrics,
      intervalMs: 60_000,
      logger: silent,
      timers: systemTimers,
    }).stop();
    const text = await metrics.registry.metrics();
    expect(text).toContain('pingpull_lag_collection_errors_total{source="kafka"} 1');
    expect(text).toContain('pingpull_consumer_lag_messages{topic="changes",partition="0"} 8');
  });
});
