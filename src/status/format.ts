import { STAGES, type StageStatus, type StatusReport } from './report.js';

const LABELS: Record<(typeof STAGES)[number], string> = {
  database: 'database',
  connector: 'connector',
  kafka: 'kafka',
  deadLetters: 'dead letters',
  pulls: 'pulls',
  livefyre: 'livefyre',
};

export function formatBytes(bytes: number | null): string {
  if (bytes === null) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function seconds(value: number | null): string {
  if (value === null) return '?';
  return value < 10 ? `${Number(value.toFixed(1))} s` : `${Math.round(value)} s`;
}

function figures(report: StatusReport, name: (typeof STAGES)[number]): string {
  switch (name) {
    case 'database':
      return report.database.reachable ? 'reachable' : 'unreachable';
    case 'connector': {
      const c = report.connector;
      if (c.exists === null) return `slot ${c.slot}: unknown`;
      if (!c.exists) return `slot ${c.slot}: missing`;
      const safe = c.safeWalSizeBytes === null ? 'unlimited' : formatBytes(c.safeWalSizeBytes);
      const truncates = c.truncates === null || c.truncates === 0 ? '' : `, ${c.truncates} TRUNCATE(s) streamed`;
      return (
        `slot ${c.slot} ${c.active ? 'active' : 'inactive'}, wal ${c.walStatus ?? '?'}, lag ${formatBytes(c.replicationLagBytes)}, ` +
        `retained ${formatBytes(c.retainedBytes)}, safe ${safe}, source lag ${seconds(c.sourceLagSeconds)}${truncates}`
      );
    }
    case 'kafka': {
      const k = report.kafka;
      if (!k.reachable) return `topic ${k.topic}: brokers unreachable`;
      if (k.topicExists === false) return `topic ${k.topic}: missing`;
      const parts = k.partitions.map((p) => `p${p.partition}=${p.lag}`).join(' ');
      const lag = `lag ${k.consumerLagMessages ?? '?'}${parts === '' ? '' : ` (${parts})`}`;
      return `topic ${k.topic}, group ${k.groupId}: ${lag}, ${k.members ?? '?'} member(s)`;
    }
    case 'deadLetters': {
      const d = report.deadLetters;
      const refused = d.refusedEvents === null ? '' : `, ${d.refusedEvents} event(s) refused by Kafka`;
      return `topic ${d.topic}: ${d.awaitingReplay ?? '?'} awaiting replay, ${d.messages ?? '?'} held${refused}`;
    }
    case 'pulls': {
      const p = report.pulls;
      const server =
        p.pullServerFailing === null
          ? ''
          : p.pullServerFailing
            ? `, pull server FAILING since ${p.pullServerFailingSince ?? '?'} (${p.pullServerFailureCause ?? '?'})`
            : ', pull server answers';
      if (p.confirmMs === 0) return `pull confirmation off (pinger.pullConfirmMs = 0)${server}`;
      return `${p.awaiting ?? '?'} ping(s) awaiting their pull, oldest ${seconds(p.oldestAgeSeconds)}${server}`;
    }
    case 'livefyre': {
      const l = report.livefyre;
      const reach =
        l.reachable === null ? 'not checked' : l.reachable ? `reachable (HTTP ${l.httpStatus ?? '?'})` : 'unreachable';
      const key =
        l.forbidden === null ? 'key: checked only by pings' : l.forbidden ? 'key REFUSED (403)' : 'key accepted';
      return `${l.baseUrl === '' ? '(no base URL)' : l.baseUrl}: ${reach}, ${key}`;
    }
  }
}

/** The human table: one line per stage, then what is wrong under it. */
export function formatStatus(report: StatusReport): string {
  const width = Math.max(...STAGES.map((name) => LABELS[name].length));
  const lines = [`pingpull ${report.healthy ? 'healthy' : 'UNHEALTHY'} at ${report.checkedAt}`];
  for (const name of STAGES) {
    const stage: StageStatus = report[name];
    lines.push(`${LABELS[name].padEnd(width)}  ${stage.healthy ? 'ok  ' : 'FAIL'}  ${figures(report, name)}`);
    for (const problem of stage.problems) lines.push(`${' '.repeat(width)}        - ${problem}`);
    if (stage.error !== null) lines.push(`${' '.repeat(width)}        - error: ${stage.error}`);
  }
  return lines.join('\n');
}
