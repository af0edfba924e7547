import type { AckedBatch } from '../events/publisher.js';
import type { Metrics } from '../metrics/registry.js';
import type { Clock } from '../time.js';

/** Counts what Kafka acknowledged and how far behind the source it is. */
export function recordPublished(
  batch: AckedBatch,
  metrics: Pick<Metrics, 'eventsTotal' | 'lastPublishedCommitSeconds' | 'sourceLagSeconds'>,
  clock: Clock,
): void {
  let newest = 0;
  for (const event of batch.events) {
    if (event.op === null) continue;
    metrics.eventsTotal.inc({ op: event.op });
    newest = Math.max(newest, event.commitTsMs);
  }
  if (newest > 0) {
    metrics.lastPublishedCommitSeconds.set(newest / 1000);
    metrics.sourceLagSeconds.set(Math.max(0, clock.now() - newest) / 1000);
  }
}
