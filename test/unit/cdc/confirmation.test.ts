import { describe, expect, it } from 'vitest';
import { LsnCheckpoint } from '../../../src/cdc/checkpoint.js';
import { SlotConfirmation } from '../../../src/cdc/confirmation.js';
import { createLogger } from '../../../src/log.js';
import { createMetrics } from '../../../src/metrics/registry.js';
import { FakeTime, flush } from '../../helpers/fake-time.js';

function setup(slotAt: () => bigint) {
  const time = new FakeTime();
  const checkpoint = new LsnCheckpoint(100n);
  const sent: bigint[] = [];
  const metrics = createMetrics({ defaultMetrics: false });
  const confirmation = new SlotConfirmation({
    checkpoint,
    sendStatus: (lsn) => sent.push(lsn),
    readSlot: async () => ({ confirmedFlush: slotAt(), db: 'db' }),
    metrics,
    logger: createLogger('silent'),
    timers: time,
  });
  return { time, checkpoint, sent, confirmation };
}

describe('SlotConfirmation', () => {
  it('confirms nothing until the slot position is known, and never less than it', async () => {
    const { checkpoint, sent, confirmation } = setup(() => 300n);
    expect(confirmation.confirm()).toBeNull();
    confirmation.learnFloor(() => undefined);
    await flush();
    checkpoint.begin();
    checkpoint.commit(200n, 0);
    expect(confirmation.confirm()).toBeNull();
    checkpoint.begin();
    checkpoint.commit(400n, 0);
    expect(confirmation.confirm()).toBe(400n);
    expect(sent).toEqual([400n]);
    expect(checkpoint.flushed).toBe(400n);
  });

  it('confirms only what Kafka acknowledged', async () => {
    const { checkpoint, sent, confirmation } = setup(() => 100n);
    confirmation.learnFloor(() => undefined);
    await flush();
    checkpoint.begin();
    checkpoint.commit(200n, 2);
    confirmation.keepalive(500n, true, true);
    expect(sent).toEqual([100n]);
    checkpoint.acked(2);
    confirmation.keepalive(500n, true, false);
    expect(sent).toEqual([100n, 200n]);
  });

  it('lets the slot follow an idle server only when every received message was handled', async () => {
    const { sent, confirmation } = setup(() => 100n);
    confirmation.learnFloor(() => undefined);
    await flush();
    confirmation.keepalive(500n, true, false);
    expect(sent).toEqual([100n]);
    confirmation.keepalive(500n, true, true);
    expect(sent).toEqual([100n, 500n]);
  });

  it('ends a session that cannot learn the slot position', async () => {
    const time = new FakeTime();
    const failures: unknown[] = [];
    const confirmation = new SlotConfirmation({
      checkpoint: new LsnCheckpoint(100n),
      sendStatus: () => undefined,
      readSlot: async () => {
        throw new Error('connection lost');
      },
      metrics: createMetrics({ defaultMetrics: false }),
      logger: createLogger('silent'),
      timers: time,
    });
    confirmation.learnFloor((error) => failures.push(error));
    await flush();
    expect(failures).toHaveLength(1);
    expect(confirmation.confirm()).toBeNull();
  });

  it('at the stop, waits until the slot shows the last confirmation', async () => {
    let slot = 100n;
    const { time, checkpoint, sent, confirmation } = setup(() => slot);
    confirmation.learnFloor(() => undefined);
    checkpoint.begin();
    checkpoint.commit(200n, 0);
    let finished = false;
    const final = confirmation
      .confirmFinal(() => true)
      .then(() => {
        finished = true;
      });
    await time.advance(100);
    expect(sent).toEqual([200n]);
    expect(finished).toBe(false);
    slot = 200n;
    await time.advance(20);
    await final;
    expect(finished).toBe(true);
  });
});
