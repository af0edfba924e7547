import type { ConnectorHandle } from '../cdc/connector.js';
import type { Liveness } from '../console/console.js';
import type { PingerHandle } from '../pinger/index.js';

/** How long the console waits for the pull server to say whether it is ready. */
const READY_TIMEOUT_MS = 2_000;

const CONNECTOR_WAITING: Record<string, string> = {
  starting: 'connecting to Postgres and Kafka',
  standby: 'another connector reads the slot: this one takes over when it stops',
  reconnecting: 'a session failed: reconnecting from the durable position (its log says why)',
};

/** Streaming, standby, reconnecting, or stopped with the reason. */
export function connectorLiveness(connector: ConnectorHandle): () => Promise<Liveness> {
  let stopped: string | undefined;
  connector.done.then(
    () => (stopped = 'stopped'),
    (error: unknown) => (stopped = `stopped: ${error instanceof Error ? error.message : String(error)}`),
  );
  return async () => {
    if (stopped !== undefined) return { role: 'connector', state: stopped, healthy: false, details: [] };
    const state = connector.state();
    const positions = connector.positions();
    if (state !== 'streaming' || positions === null) {
      const waiting = state === 'streaming' ? 'starting' : state;
      // A standby is healthy: it is the spare of the connector that streams.
      return {
        role: 'connector',
        state: waiting,
        healthy: waiting === 'standby',
        details: [CONNECTOR_WAITING[waiting] ?? ''],
      };
    }
    return {
      role: 'connector',
      state: 'streaming',
      healthy: true,
      details: [`received up to ${positions.received}`, `confirmed to Postgres up to ${positions.flushed}`],
    };
  };
}

/** This pinger's membership of the group, and whether Livefyre refuses its pings (403: paused). */
export function pingerLiveness(pinger: Pick<PingerHandle, 'state'>): () => Promise<Liveness> {
  return async () => {
    const state = pinger.state();
    const details = [
      `${state.inFlight} ping(s) in flight, ${state.pendingUsers} user(s) waiting`,
      `joined the group ${state.groupJoins} time(s)`,
      `last ping ok at ${state.lastPingOkAt ?? 'never'}`,
    ];
    if (state.forbidden)
      details.unshift(`pings paused since ${state.forbiddenSince ?? '?'}: Livefyre refuses the network key (403)`);
    if (state.deadLettering > 0) details.push(`${state.deadLettering} event(s) on their way to the dead letter topic`);
    const healthy = state.status === 'running' && !state.forbidden;
    return { role: 'pinger', state: state.forbidden ? 'paused (403)' : state.status, healthy, details };
  };
}

/** The pull server's own readiness answer (`/readyz`), asked over loopback. */
export function pullServerLiveness(address: string): () => Promise<Liveness> {
  const url = new URL('/readyz', address);
  if (url.hostname === '0.0.0.0') url.hostname = '127.0.0.1';
  if (url.hostname === '[::]') url.hostname = '[::1]';
  return async () => {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(READY_TIMEOUT_MS) });
      const ready = response.status === 200;
      return {
        role: 'pull-server',
        state: ready ? 'ready' : 'not ready',
        healthy: ready,
        details: [ready ? 'answers pulls' : `/readyz answers ${response.status}: pulls get 503`],
      };
    } catch (error) {
      return { role: 'pull-server', state: 'unreachable', healthy: false, details: [(error as Error).message] };
    }
  };
}
