/** What the simulator saw and did, for tests, the demo and `GET /sim/...`. */

export interface PingRecord {
  id: string;
  /** Epoch milliseconds. */
  receivedAt: number;
  /** The HTTP status answered. */
  status: number;
  /** True when the status came from an injected fault. */
  injected: boolean;
  /** True when a pull for this id was already waiting, so no new pull was queued. */
  coalesced: boolean;
}

/** `lost`: dropped on request (`POST /sim/pull-faults`), as Livefyre may lose a queued pull; never retried. */
export type PullOutcome = 'stored' | 'invalid_profile' | 'http_error' | 'network_error' | 'no_pull_url' | 'lost';

export interface PullRecord {
  id: string;
  startedAt: number;
  finishedAt: number;
  outcome: PullOutcome;
  /** The pull URL with the token redacted (absent when none was registered). */
  url?: string;
  /** HTTP status of the pull endpoint's answer, when there was one. */
  status?: number;
  errors?: string[];
}

export interface StoredProfile {
  id: string;
  profile: Record<string, unknown>;
  /** Epoch milliseconds of the pull that stored it. */
  pulledAt: number;
}

/** A 200 answer Livefyre would refuse: tests fail on any of these. */
export interface InvalidProfile {
  id: string;
  /** Epoch milliseconds of the pull. */
  pulledAt: number;
  /** Why it was refused, one entry per broken rule. */
  errors: string[];
  /** The answer as received (parsed JSON, or the text when it was not JSON). */
  body: unknown;
}

export interface PullUrlRegistration {
  template: string | null;
  registeredAt: number | null;
}

/**
 * An append-only log that keeps at most `limit` newest entries, so a long
 * benchmark cannot grow the simulator's memory without bound. Trimming happens
 * in batches to keep appends O(1) amortised.
 */
export class BoundedLog<T> {
  #entries: T[] = [];

  constructor(private readonly limit: number) {}

  push(entry: T): void {
    this.#entries.push(entry);
    if (this.#entries.length >= this.limit * 2) this.#entries = this.#entries.slice(-this.limit);
  }

  list(): T[] {
    return this.#entries.length > this.limit ? this.#entries.slice(-this.limit) : [...this.#entries];
  }

  clear(): void {
    this.#entries = [];
  }
}

/** Everything the simulator remembers; one instance per simulator. */
export class SimulatorState {
  readonly pings: BoundedLog<PingRecord>;
  readonly pulls: BoundedLog<PullRecord>;
  readonly invalidProfiles: BoundedLog<InvalidProfile>;
  readonly profiles = new Map<string, StoredProfile>();
  registration: PullUrlRegistration = { template: null, registeredAt: null };

  constructor(recordLimit: number) {
    this.pings = new BoundedLog(recordLimit);
    this.pulls = new BoundedLog(recordLimit);
    this.invalidProfiles = new BoundedLog(recordLimit);
  }
}
