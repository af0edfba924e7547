import { readFileSync } from 'node:fs';
import { configKeys } from './reference.js';

/**
 * Container platforms hand secrets over as files (Docker and Kubernetes
 * secrets), so every secret key's variable also has a `<VARIABLE>_FILE` form
 * naming a file that holds the value. Returns the environment with those
 * values filled in, and one problem per key set both ways or unreadable.
 */
export function readSecretFiles(
  env: Record<string, string | undefined>,
  readFile: (file: string) => string = (file) => readFileSync(file, 'utf8'),
): { env: Record<string, string | undefined>; problems: string[] } {
  const resolved = { ...env };
  const problems: string[] = [];
  for (const { key, env: variable } of secretKeys()) {
    const file = env[`${variable}_FILE`];
    if (file === undefined || file === '') continue;
    if (env[variable] !== undefined && env[variable] !== '') {
      problems.push(`${key}: ${variable} and ${variable}_FILE are both set; set one of them`);
      continue;
    }
    try {
      // Editors and `echo` end the file with a newline that is no part of the secret.
      resolved[variable] = readFile(file).replace(/[\r\n]+$/, '');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      problems.push(`${key}: cannot read ${variable}_FILE ${file}: ${reason}`);
    }
  }
  return { env: resolved, problems };
}

/** The keys whose values are secrets: they read from files too and are never echoed. */
export function secretKeys(): Array<{ key: string; env: string }> {
  return configKeys()
    .filter((spec) => spec.sensitive === true)
    .map(({ key, env }) => ({ key, env }));
}
