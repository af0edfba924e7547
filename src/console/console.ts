import type { Metrics } from '../metrics/registry.js';
import { startPeriodic, type Periodic } from '../metrics/periodic.js';
import type { Clock, Timers } from '../time.js';
import type { ClusterView, ClusterWatch } from './cluster.js';
import { funnel, type FunnelRow } from './funnel.js';
import { chartSeries, ReadingHistory, type Series } from './history.js';
import type { Problem, RecentProblems } from './problems.js';
import { readMetrics, type Reading } from './readings.js';

/** One line of "who is alive": a role of this process and the state it reports. */
export interface Liveness {
  role: string;
  state: string;
  healthy: boolean;
  details: string[];
}

export const ROLES = ['connector', 'pinger', 'pull-server'] as const;

export interface ConsoleView {
  checkedAt: string;
  hostedRoles: string[];
  /** Roles of the pipeline this process does not run: their figures are on their own consoles. */
  otherRoles: string[];
  funnel: FunnelRow[];
  charts: Series[];
  alive: Liveness[];
  /** Every stage as Postgres and Kafka see it; null when this process has no database to read it from. */
  cluster: ClusterView | { error: string } | null;
  problems: Problem[];
}

export interface ConsoleDeps {
  metrics: Metrics;
  problems: RecentProblems;
  clock: Clock;
  timers: Timers;
  /** Time between two readings. */
  sampleMs: number;
  /** How far back the charts reach. */
  historyMs?: number;
}

const HOUR_MS = 3_600_000;

/**
 * The operator console's state: readings of the process's own metrics on a
 * timer (so charts have history the moment the page opens), the roles that
 * registered here with their liveness, and the recent problems.
 */
export class OperatorConsole {
  private readonly history: ReadingHistory;
  private readonly roles = new Map<string, () => Promise<Liveness>>();
  private sampler: Periodic | undefined;
  private cluster: ClusterWatch | undefined;

  constructor(private readonly deps: ConsoleDeps) {
    this.history = new ReadingHistory(Math.max(2, Math.ceil((deps.historyMs ?? HOUR_MS) / deps.sampleMs)));
  }

  /** A role of this process: it shows in "who is alive" and its funnel stages count. */
  host(role: string, alive: () => Promise<Liveness>): void {
    this.roles.set(role, alive);
  }

  /** The cluster-wide report (see `pingpull status`), for roles that run in other processes too. */
  watchCluster(cluster: ClusterWatch): void {
    this.cluster = cluster;
  }

  start(): void {
    this.sampler ??= startPeriodic(this.deps.sampleMs, () => this.sample(), this.deps.timers);
  }

  async stop(): Promise<void> {
    await this.sampler?.stop();
    this.sampler = undefined;
  }

  async view(): Promise<ConsoleView> {
    // Problems first: a stage counts before it logs, so no problem shows that the funnel has not counted yet.
    const problems = this.deps.problems.list();
    const now = await this.read();
    const readings = [...this.history.all(), now];
    const hosted = new Set(this.roles.keys());
    const cluster = this.readCluster();
    const alive = await Promise.all(
      [...this.roles].map(async ([role, read]) => {
        try {
          return await read();
        } catch (error) {
          return { role, state: 'unknown', healthy: false, details: [(error as Error).message] };
        }
      }),
    );
    return {
      checkedAt: new Date(now.t).toISOString(),
      hostedRoles: [...hosted],
      otherRoles: ROLES.filter((role) => !hosted.has(role)),
      funnel: funnel(now, this.history.before(now.t, 60_000), hosted),
      charts: chartSeries(readings),
      alive,
      cluster: await cluster,
      problems,
    };
  }

  private async readCluster(): Promise<ConsoleView['cluster']> {
    if (this.cluster === undefined) return null;
    try {
      return await this.cluster.current();
    } catch (error) {
      return { error: (error as Error).message };
    }
  }

  private async sample(): Promise<void> {
    try {
      this.history.add(await this.read());
    } catch {
      // A failed read leaves a gap in the charts: nothing else to do about it.
    }
  }

  /** Slot figures are only this process's when it runs the connector: elsewhere they would read 0. */
  private async read(): Promise<Reading> {
    const reading = await readMetrics(this.deps.metrics, this.deps.clock.now());
    if (this.roles.has('connector')) return reading;
    return {
      ...reading,
      replicationLagBytes: null,
      retainedBytes: null,
      safeWalSizeBytes: null,
      sourceLagSeconds: null,
    };
  }
}
