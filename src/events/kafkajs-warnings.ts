/**
 * kafkajs 2.2.4 schedules its request queue's next check with a negative
 * delay whenever the broker has never throttled it (`throttledUntil` is -1,
 * minus the current time). Node 20 and 22 quietly use 1 ms; Node 24 does the
 * same but prints a `TimeoutNegativeWarning` on stderr, once in every process
 * that talks to Kafka (upstream: tulios/kafkajs issue #1751). That warning,
 * when raised from kafkajs's code, is dropped; every other warning still
 * reaches the listeners that were there (Node's own printer among them).
 */
export interface WarningSource {
  listeners(event: 'warning'): Array<(warning: Error) => void>;
  removeAllListeners(event: 'warning'): unknown;
  on(event: 'warning', listener: (warning: Error) => void): unknown;
}

const filtered = new WeakSet<WarningSource>();

export function dropKafkajsTimeoutWarnings(source: WarningSource = process): void {
  if (filtered.has(source)) return;
  filtered.add(source);
  const listeners = source.listeners('warning');
  source.removeAllListeners('warning');
  source.on('warning', (warning) => {
    if (isKafkajsTimeoutWarning(warning)) return;
    for (const listener of listeners) listener(warning);
  });
}

function isKafkajsTimeoutWarning(warning: Error): boolean {
  return warning.name === 'TimeoutNegativeWarning' && /[\\/]kafkajs[\\/]/.test(warning.stack ?? '');
}
