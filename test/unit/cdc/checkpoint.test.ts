import { describe, expect, it } from 'vitest';
import { LsnCheckpoint } from '../../../src/cdc/checkpoint.js';

describe('LsnCheckpoint', () => {
  it('publishes a transaction only once Kafka acknowledged its last event', () => {
    const checkpoint = new LsnCheckpoint(100n);
    checkpoint.begin();
    checkpoint.commit(200n, 3);
    expect(checkpoint.published).toBe(100n);
    expect(checkpoint.acked(2)).toBe(false);
    expect(checkpoint.published).toBe(100n);
    expect(checkpoint.acked(3)).toBe(true);
    expect(checkpoint.published).toBe(200n);
  });

  it('releases transactions in commit order', () => {
    const checkpoint = new LsnCheckpoint(0n);
    checkpoint.begin();
    checkpoint.commit(10n, 1);
    checkpoint.begin();
    checkpoint.commit(20n, 2);
    checkpoint.begin();
    checkpoint.commit(30n, 5);
    checkpoint.acked(2);
    expect(checkpoint.published).toBe(20n);
    checkpoint.acked(5);
    expect(checkpoint.published).toBe(30n);
  });

  it('publishes a transaction without events once everything before it is acknowledged', () => {
    const checkpoint = new LsnCheckpoint(0n);
    checkpoint.begin();
    checkpoint.commit(10n, 4);
    checkpoint.begin();
    checkpoint.commit(20n, 4); // all its updates were skipped
    expect(checkpoint.published).toBe(0n);
    checkpoint.acked(4);
    expect(checkpoint.published).toBe(20n);
  });

  it('follows the server WAL end from keepalives only when nothing is pending', () => {
    const checkpoint = new LsnCheckpoint(0n);
    checkpoint.begin();
    expect(checkpoint.serverWalEnd(500n)).toBe(false);
    checkpoint.commit(100n, 1);
    expect(checkpoint.serverWalEnd(500n)).toBe(false);
    checkpoint.acked(1);
    expect(checkpoint.published).toBe(100n);
    expect(checkpoint.serverWalEnd(500n)).toBe(true);
    expect(checkpoint.published).toBe(500n);
    expect(checkpoint.serverWalEnd(400n)).toBe(false);
    expect(checkpoint.published).toBe(500n);
  });

  it('moves to a heartbeat marker once the events before it are acknowledged', () => {
    const checkpoint = new LsnCheckpoint(0n);
    checkpoint.begin();
    checkpoint.commit(100n, 1);
    checkpoint.marker(150n, 1);
    expect(checkpoint.published).toBe(0n);
    checkpoint.acked(1);
    expect(checkpoint.published).toBe(150n);
    checkpoint.marker(300n, 1);
    expect(checkpoint.published).toBe(300n);
  });

  it('tracks received and flushed apart from published', () => {
    const checkpoint = new LsnCheckpoint(50n);
    checkpoint.noteReceived(80n);
    checkpoint.noteReceived(70n);
    expect(checkpoint.received).toBe(80n);
    expect(checkpoint.flushed).toBe(50n);
    checkpoint.markFlushed(60n);
    expect(checkpoint.flushed).toBe(60n);
  });

  it('keeps memory bounded over many released transactions', () => {
    const checkpoint = new LsnCheckpoint(0n);
    for (let i = 1; i <= 10_000; i += 1) {
      checkpoint.begin();
      checkpoint.commit(BigInt(i), i);
      checkpoint.acked(i);
    }
    expect(checkpoint.published).toBe(10_000n);
    expect(checkpoint.idle).toBe(true);
  });
});
