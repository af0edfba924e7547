/** Human units for the console: what a person reads at a glance, not raw numbers. */

const COUNT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const SHORT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

export function count(value: number | null): string {
  return value === null ? '–' : COUNT.format(value);
}

export function bytes(value: number | null): string {
  if (value === null) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let scaled = value;
  let unit = 0;
  while (Math.abs(scaled) >= 1000 && unit < units.length - 1) {
    scaled /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? COUNT.format(scaled) : SHORT.format(scaled)} ${units[unit]}`;
}

export function duration(seconds: number | null): string {
  if (seconds === null) return '–';
  if (seconds < 1) return `${COUNT.format(seconds * 1000)} ms`;
  if (seconds < 120) return `${SHORT.format(seconds)} s`;
  if (seconds < 7200) return `${SHORT.format(seconds / 60)} min`;
  return `${SHORT.format(seconds / 3600)} h`;
}

export function rate(perSecond: number | null): string {
  return perSecond === null ? '–' : `${SHORT.format(perSecond)}/s`;
}

export function inUnit(unit: 'bytes' | 'seconds' | 'messages' | 'per-second', value: number | null): string {
  switch (unit) {
    case 'bytes':
      return bytes(value);
    case 'seconds':
      return duration(value);
    case 'messages':
      return count(value);
    case 'per-second':
      return rate(value);
  }
}
