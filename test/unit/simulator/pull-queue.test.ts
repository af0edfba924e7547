import { describe, expect, it } from 'vitest';
import { PullQueue } from '../../../src/simulator/pull-queue.js';
import { FakeTime, flush } from '../../helpers/fake-time.js';

function setup(options: { delayMs: number; concurrency?: number }) {
  const time = new FakeTime();
  const started: string[] = [];
  const finish: Array<() => void> = [];
  const queue = new PullQueue({
    delayMs: options.delayMs,
    concurrency: options.concurrency ?? 8,
    clock: time,
    timers: time,
    pull: (id) => {
      started.push(id);
      return new Promise<void>((resolve) => finish.push(resolve));
    },
  });
  return { time, started, finish, queue };
}

describe('pull queue', () => {
  it('pulls after the delay, in arrival order', async () => {
    const { time, started, queue } = setup({ delayMs: 1000 });
    queue.enqueue('a');
    await time.advance(400);
    queue.enqueue('b');
    expect(started).toEqual([]);
    await time.advance(600);
    expect(started).toEqual(['a']);
    await time.advance(400);
    expect(started).toEqual(['a', 'b']);
  });

  it('coalesces pings for an id whose pull is still waiting', async () => {
    const { time, started, queue } = setup({ delayMs: 1000 });
    expect(queue.enqueue('a')).toBe(true);
    expect(queue.enqueue('a')).toBe(false);
    await time.advance(1000);
    expect(started).toEqual(['a']);
  });

  it('queues a new pull when the running pull of that id may have read stale data', async () => {
    const { time, started, queue } = setup({ delayMs: 0 });
    queue.enqueue('a');
    expect(started).toEqual(['a']);
    expect(queue.enqueue('a')).toBe(true);
    await time.advance(0);
    expect(started).toEqual(['a', 'a']);
  });

  it('keeps at most `concurrency` pulls in flight and resolves idle() when done', async () => {
    const { started, finish, queue } = setup({ delayMs: 0, concurrency: 2 });
    for (const id of ['a', 'b', 'c']) queue.enqueue(id);
    expect(started).toEqual(['a', 'b']);
    let idle = false;
    void queue.idle().then(() => (idle = true));
    finish[0]?.();
    await flush();
    expect(started).toEqual(['a', 'b', 'c']);
    finish[1]?.();
    finish[2]?.();
    await flush();
    expect(idle).toBe(true);
    expect(queue.size()).toBe(0);
  });

  it('drops waiting pulls and cancels its timer on close', async () => {
    const { time, started, queue } = setup({ delayMs: 1000 });
    queue.enqueue('a');
    expect(time.pendingTimers).toBe(1);
    await queue.close();
    expect(time.pendingTimers).toBe(0);
    await time.advance(5000);
    expect(started).toEqual([]);
    expect(queue.enqueue('b')).toBe(false);
  });
});
