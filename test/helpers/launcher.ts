import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The launcher users run (`npx pingpull`, the package's bin). */
export const LAUNCHER = fileURLToPath(new URL('../../bin/pingpull.js', import.meta.url));

/**
 * The Node flags the launcher's first line (`#!/usr/bin/env -S node …`)
 * starts Node with: what `pingpull` runs with by default.
 */
export function launcherNodeFlags(): string[] {
  const shebang = readFileSync(LAUNCHER, 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!\/usr\/bin\/env -S node((?: --[\w-]+(?:=\S+)?)*)$/.exec(shebang);
  if (match === null) throw new Error(`unexpected first line of ${LAUNCHER}: ${shebang}`);
  return match[1]!.split(' ').filter((flag) => flag !== '');
}
