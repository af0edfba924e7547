import { describe, expect, it } from 'vitest';
import { connectorLiveness, pingerLiveness } from '../../../src/app/liveness.js';
import type { ConnectorHandle } from '../../../src/cdc/connector.js';
import type { ConnectorState } from '../../../src/cdc/reconnect.js';
import type { PingerState } from '../../../src/pinger/index.js';

function connector(state: ConnectorState, done: Promise<void> = new Promise(() => undefined)): ConnectorHandle {
  return {
    stop: async () => undefined,
    done,
    state: () => state,
    positions: () => (state === 'streaming' ? { received: '0/10', published: '0/10', flushed: '0/8' } : null),
    backlog: () => ({ events: 0, bytes: 0, peakEvents: 0, peakBytes: 0, waiting: false }),
  };
}

const running: PingerState = {
  status: 'running',
  forbidden: false,
  forbiddenSince: null,
  inFlight: 2,
  pendingEvents: 5,
  pendingUsers: 3,
  deadLettering: 0,
  lastPingOkAt: '2026-12-02T04:00:00.000Z',
  committed: [],
  groupJoins: 1,
};

describe('who is alive', () => {
  it('tells a streaming connector from a standby (healthy) and a reconnecting one', async () => {
    expect(await connectorLiveness(connector('streaming'))()).toMatchObject({ state: 'streaming', healthy: true });
    expect(await connectorLiveness(connector('standby'))()).toMatchObject({ state: 'standby', healthy: true });
    expect(await connectorLiveness(connector('reconnecting'))()).toMatchObject({
      state: 'reconnecting',
      healthy: false,
    });
  });

  it('says why a connector stopped', async () => {
    const alive = connectorLiveness(connector('streaming', Promise.reject(new Error('column nick was dropped'))));
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(await alive()).toMatchObject({ state: 'stopped: column nick was dropped', healthy: false });
  });

  it('shows a pinger paused on 403 since when', async () => {
    const paused = { ...running, forbidden: true, forbiddenSince: '2026-12-02T04:01:00.000Z' };
    const alive = await pingerLiveness({ state: () => paused })();
    expect(alive).toMatchObject({ state: 'paused (403)', healthy: false });
    expect(alive.details[0]).toContain('since 2026-12-02T04:01:00.000Z');
    expect(await pingerLiveness({ state: () => running })()).toMatchObject({ state: 'running', healthy: true });
  });
});
