import { STAGES, type StatusReport } from '../status/report.js';
import type { Clock } from '../time.js';
import { bytes, count, duration } from './units.js';

/** One stage of the pipeline as Postgres and Kafka see it, whichever process runs it. */
export interface ClusterStage {
  stage: string;
  healthy: boolean;
  figures: string;
  problems: string[];
}

export interface ClusterView {
  checkedAt: string;
  healthy: boolean;
  stages: ClusterStage[];
}

const LABELS: Record<(typeof STAGES)[number], string> = {
  database: 'database',
  connector: 'replication slot',
  kafka: 'consumer group',
  deadLetters: 'dead letters',
  pulls: 'pull confirmation',
  livefyre: 'Livefyre',
};

function figures(report: StatusReport, stage: (typeof STAGES)[number]): string {
  switch (stage) {
    case 'database':
      return report.database.reachable ? 'reachable' : 'unreachable';
    case 'connector': {
      const c = report.connector;
      if (c.exists !== true) return c.exists === false ? `slot ${c.slot} missing` : `slot ${c.slot}: unknown`;
      const headroom =
        c.safeWalSizeBytes === null ? 'no limit' : `${bytes(c.safeWalSizeBytes)} before the slot is lost`;
      return (
        `slot ${c.slot} ${c.active === true ? 'streamed from' : 'not streamed from'}, wal ${c.walStatus ?? '?'}, ` +
        `lag ${bytes(c.replicationLagBytes)}, retained ${bytes(c.retainedBytes)} (${headroom}), ` +
        `source lag ${duration(c.sourceLagSeconds)}`
      );
    }
    case 'kafka':
      return (
        `group ${report.kafka.groupId} on ${report.kafka.topic}: ${count(report.kafka.consumerLagMessages)} ` +
        `message(s) behind over ${report.kafka.partitions.length} partition(s)`
      );
    case 'deadLetters':
      return `${count(report.deadLetters.messages)} message(s) held in ${report.deadLetters.topic}`;
    case 'pulls': {
      const p = report.pulls;
      const server = p.pullServerFailing === true ? '; the pull server answers 503 (its profile query fails)' : '';
      if (p.confirmMs === 0) return `off (pinger.pullConfirmMs = 0)${server}`;
      return `${count(p.awaiting)} ping(s) awaiting their pull, the oldest for ${duration(p.oldestAgeSeconds)}${server}`;
    }
    case 'livefyre': {
      const l = report.livefyre;
      const reach =
        l.reachable === null ? 'not probed' : l.reachable ? `reachable (HTTP ${l.httpStatus ?? '?'})` : 'unreachable';
      const key =
        l.forbidden === null ? '' : l.forbidden ? ', refuses the network key (403)' : ', accepts the network key';
      return reach + key;
    }
  }
}

export function clusterView(report: StatusReport): ClusterView {
  return {
    checkedAt: report.checkedAt,
    healthy: report.healthy,
    stages: STAGES.map((stage) => ({
      stage: LABELS[stage],
      healthy: report[stage].healthy,
      figures: figures(report, stage),
      problems:
        report[stage].error === null ? [...report[stage].problems] : [...report[stage].problems, report[stage].error],
    })),
  };
}

/**
 * The status report, read at most every `maxAgeMs` whatever the page views
 * (one read in flight at most): page loads cannot multiply the load on the
 * database and the brokers.
 */
export class ClusterWatch {
  private latest: { atMs: number; view: ClusterView } | undefined;
  private inFlight: Promise<ClusterView> | undefined;

  constructor(
    private readonly report: () => Promise<StatusReport>,
    private readonly clock: Clock,
    private readonly maxAgeMs = 10_000,
  ) {}

  async current(): Promise<ClusterView> {
    if (this.latest !== undefined && this.clock.now() - this.latest.atMs < this.maxAgeMs) return this.latest.view;
    this.inFlight ??= this.report()
      .then((report) => {
        const view = clusterView(report);
        this.latest = { atMs: this.clock.now(), view };
        return view;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }
}
