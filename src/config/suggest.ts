import { configKeys } from './reference.js';

const UNDECLARED = /^configuration param '([^']+)' not declared in the schema$/;

/**
 * Convict's "not declared in the schema" becomes the key, and the declared key
 * it most likely meant: same spelling in another case, or a typo or two away.
 */
export function explainUnknownKey(problem: string): string {
  const unknown = UNDECLARED.exec(problem)?.[1];
  if (unknown === undefined) return problem;
  const guess = closestKey(unknown);
  return `${unknown}: not a configuration key${guess === undefined ? '' : `; did you mean ${guess}?`}`;
}

function closestKey(unknown: string): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const { key } of configKeys()) {
    const distance = key.toLowerCase() === unknown.toLowerCase() ? 0 : editDistance(key, unknown);
    if (best === undefined || distance < best.distance) best = { key, distance };
  }
  return best !== undefined && best.distance <= Math.max(2, Math.floor(unknown.length / 5)) ? best.key : undefined;
}

/** Levenshtein distance, case-insensitive. */
function editDistance(a: string, b: string): number {
  const left = a.toLowerCase();
  const right = b.toLowerCase();
  let previous = Array.from({ length: right.length + 1 }, (_, index) => index);
  for (let i = 1; i <= left.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= right.length; j += 1) {
      const substitution = (previous[j - 1] ?? 0) + (left[i - 1] === right[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[right.length] ?? 0;
}
