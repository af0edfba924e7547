import { buildSimulatorApp, type SimulatorOptions } from './app.js';
import { parseFaultSpec, type FaultSpec, type FaultState } from './faults.js';
import { parsePullLossSpec, type PullLossSpec, type PullLossState } from './pull-loss.js';
import type { InvalidProfile, PingRecord, PullRecord, PullUrlRegistration, StoredProfile } from './records.js';

export type { SimulatorOptions } from './app.js';
export { buildSimulatorApp, type SimulatorCore } from './app.js';
export type { FaultSpec, FaultState } from './faults.js';
export type { PullLossSpec, PullLossState } from './pull-loss.js';
export type {
  InvalidProfile,
  PingRecord,
  PullOutcome,
  PullRecord,
  PullUrlRegistration,
  StoredProfile,
} from './records.js';
export { buildPullUrl, templateProblem } from './template.js';
export { validateProfile, type ProfileVerdict } from './validate-profile.js';

/** A running Livefyre simulator: Livefyre's side of Ping for Pull (see ./app.ts). */
export interface Simulator {
  /** Base URL to use as `livefyre.baseUrl`, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  close(): Promise<void>;
  pings(): PingRecord[];
  pulls(): PullRecord[];
  profiles(): StoredProfile[];
  profile(id: string): StoredProfile | undefined;
  /** 200 answers Livefyre would refuse, with the reasons: a test passes only when this is empty. */
  invalidProfiles(): InvalidProfile[];
  pullUrl(): PullUrlRegistration;
  /** Validates like `POST /sim/faults`; throws a UsageError on a bad spec. */
  setFaults(spec: FaultSpec): void;
  clearFaults(): void;
  faults(): FaultState | undefined;
  /** Loses pulls as `POST /sim/pull-faults` does; throws a UsageError on a bad spec. */
  losePulls(spec: PullLossSpec): void;
  pullLosses(): PullLossState[];
  /** Resolves once every queued pull has finished. */
  idle(): Promise<void>;
}

/** Starts the simulator listening on `host` (default 127.0.0.1) and `port` (default 0: a free port). */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const core = buildSimulatorApp(options);
  const host = options.host ?? '127.0.0.1';
  try {
    await core.app.listen({ host, port: options.port ?? 0 });
  } catch (error) {
    await core.stop();
    throw error;
  }
  const address = core.app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? 0);
  return {
    url: `http://${reachableHost(host)}:${port}`,
    async close() {
      await core.stop();
      await core.app.close();
    },
    pings: () => core.state.pings.list(),
    pulls: () => core.state.pulls.list(),
    profiles: () => [...core.state.profiles.values()],
    profile: (id) => core.state.profiles.get(id),
    invalidProfiles: () => core.state.invalidProfiles.list(),
    pullUrl: () => ({ ...core.state.registration }),
    setFaults: (spec) => core.faults.set(parseFaultSpec(spec)),
    clearFaults: () => core.faults.clear(),
    faults: () => core.faults.current(),
    losePulls: (spec) => core.pullLoss.add(parsePullLossSpec(spec)),
    pullLosses: () => core.pullLoss.current(),
    idle: () => core.queue.idle(),
  };
}

/** A wildcard listen address is not something a client can connect to. */
function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
