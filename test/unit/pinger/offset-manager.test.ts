import { describe, expect, it } from 'vitest';
import type { CommitOffset, RawMessage } from '../../../src/events/consumer.js';
import { OffsetManager } from '../../../src/pinger/offset-manager.js';
import type { OffsetRef } from '../../../src/pinger/offsets.js';
import { FakeTime } from '../../helpers/fake-time.js';

const message = (offset: string): RawMessage => ({
  topic: 't',
  partition: 0,
  offset,
  key: null,
  value: null,
  headers: {},
});

function setup(accept = true) {
  const time = new FakeTime();
  const commits: CommitOffset[][] = [];
  const offsets = new OffsetManager({ commitIntervalMs: 1000, timers: time });
  offsets.start({
    commit: async (batch) => {
      commits.push([...batch]);
      return accept;
    },
  });
  return { time, commits, offsets };
}

describe('OffsetManager', () => {
  it('commits on its timer, only past events that are done', async () => {
    const { time, commits, offsets } = setup();
    const refs = ['0', '1', '2'].map((o) => offsets.track(message(o)) as OffsetRef);
    offsets.done([refs[0] as OffsetRef, refs[2] as OffsetRef]);
    await time.advance(999);
    expect(commits).toEqual([]);
    await time.advance(1);
    expect(commits).toEqual([[{ topic: 't', partition: 0, offset: '1' }]]);
    expect(offsets.committed()).toEqual([{ topic: 't', partition: 0, offset: '1' }]);
    offsets.done([refs[1] as OffsetRef]);
    await time.advance(1000);
    expect(commits.at(-1)).toEqual([{ topic: 't', partition: 0, offset: '3' }]);
  });

  it('remembers only what Kafka accepted', async () => {
    const { time, offsets } = setup(false);
    offsets.done([offsets.track(message('0')) as OffsetRef]);
    await time.advance(1000);
    expect(offsets.committed()).toEqual([]);
  });

  it('stops its timer at stop, and still commits when asked', async () => {
    const { time, commits, offsets } = setup();
    offsets.stop();
    expect(time.pendingTimers).toBe(0);
    offsets.done([offsets.track(message('0')) as OffsetRef]);
    await time.advance(5000);
    expect(commits).toEqual([]);
    await offsets.commit();
    expect(commits).toEqual([[{ topic: 't', partition: 0, offset: '1' }]]);
  });
});
