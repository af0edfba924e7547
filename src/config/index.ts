import { readFileSync } from 'node:fs';
import convict from 'convict';
import { ConfigError } from '../errors.js';
import './formats.js';
import {
  CROSS_KEY_RULES,
  schema,
  validateColumns,
  validatePullFields,
  validateRelated,
  type Config,
} from './schema.js';
import { readSecretFiles, secretKeys } from './secret-files.js';
import { explainUnknownKey } from './suggest.js';

export {
  columnEntries,
  pullFieldEntries,
  type Config,
  type PullFieldSpec,
  type PullFields,
  type RelatedTableConfig,
  type SourceColumns,
} from './schema.js';

convict.addFormat({
  name: 'profile-columns',
  validate: validateColumns,
  coerce: (value: unknown) => nestDottedKeys(typeof value === 'string' ? parseJsonOrKeep(value) : value),
});

convict.addFormat({
  name: 'pull-fields',
  validate: validatePullFields,
  coerce: (value: unknown) => nestDottedKeys(typeof value === 'string' ? parseJsonOrKeep(value) : value),
});

convict.addFormat({
  name: 'related-tables',
  validate: validateRelated,
  // anything but an array stays text: convict would take an object's keys for nested settings
  coerce: (value: unknown) => {
    const parsed = typeof value === 'string' ? parseJsonOrKeep(value) : value;
    return Array.isArray(parsed) ? parsed : value;
  },
});

/**
 * Keys whose value is one whole mapping: given in a file or the environment,
 * it replaces the default instead of being merged into it (a merged default
 * would publish columns the operator left out on purpose).
 */
const WHOLE_VALUE_KEYS = ['source.columns', 'pull.fields'] as const;

/**
 * Convict reads a dot inside a key as nesting and then cannot find the
 * parameter: `{"name.first": "given"}` becomes `{"name": {"first": "given"}}`,
 * the form the mapping reads either way.
 */
function nestDottedKeys(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const nested: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const dot = key.indexOf('.');
    if (dot === -1) {
      nested[key] = child;
      continue;
    }
    const group = key.slice(0, dot);
    const existing = nested[group];
    const members = existing !== null && typeof existing === 'object' && !Array.isArray(existing) ? existing : {};
    nested[group] = { ...members, [key.slice(dot + 1)]: child };
  }
  return nested;
}

/** Takes the whole-value keys out of a parsed file, so convict never merges them: they are set whole afterwards. */
function takeWholeValues(parsed: unknown): Map<string, unknown> {
  const taken = new Map<string, unknown>();
  if (parsed === null || typeof parsed !== 'object') return taken;
  for (const key of WHOLE_VALUE_KEYS) {
    const [section, name] = key.split('.') as [string, string];
    const holder = (parsed as Record<string, unknown>)[section];
    if (holder === null || typeof holder !== 'object' || !Object.hasOwn(holder, name)) continue;
    taken.set(key, nestDottedKeys((holder as Record<string, unknown>)[name]));
    delete (holder as Record<string, unknown>)[name];
  }
  return taken;
}

function parseJsonOrKeep(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export interface LoadOptions {
  /** A JSON config file (`--config`). */
  file?: string | undefined;
  /** The environment to read `PINGPULL_*` variables from. */
  env?: Record<string, string | undefined>;
  /** Values that win over file and environment (command-line flags). */
  overrides?: Record<string, unknown>;
}

/**
 * Loads, validates (all problems at once) and freezes the configuration.
 * Precedence: defaults < file < environment < overrides. This is the only
 * place the environment is read.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const secrets = readSecretFiles(options.env ?? process.env);
  if (secrets.problems.length > 0) throw new ConfigError(secrets.problems);
  const conf = convict(schema, { env: secrets.env as NodeJS.ProcessEnv, args: [] });
  const problems: string[] = [];

  if (options.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (error) {
      throw new ConfigError([
        `--config: cannot read ${options.file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      ]);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new ConfigError([`--config: ${options.file} is not valid JSON: ${(error as Error).message}`]);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ConfigError([
        `--config: ${options.file} must hold a JSON object of keys (such as {"kafka": {"brokers": "host:9092"}}), ` +
          `not ${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed)}`,
      ]);
    }
    const wholeValues = takeWholeValues(parsed);
    // convict re-applies the environment after a load: the environment wins over the file.
    conf.load(parsed as object);
    for (const [key, value] of wholeValues) {
      if (secrets.env[envName(key)] === undefined) conf.set(key, value);
    }
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value !== undefined) conf.set(key, value);
  }

  try {
    conf.validate({ allowed: 'strict', output: (message) => problems.push(explainUnknownKey(message)) });
  } catch (error) {
    problems.push(...splitConvictMessage((error as Error).message).map(explainUnknownKey));
  }
  if (conf.get('kafka.pullsTopic') === '') conf.set('kafka.pullsTopic', `${conf.get('kafka.topic')}.pulls`);
  const config = conf.getProperties() as Config;
  problems.push(...crossKeyProblems(config, problems));
  if (problems.length > 0) throw new ConfigError(problems.map(redactValues));
  return deepFreeze(config);
}

/** Rules relating keys that are each valid alone; a key already reported is not judged again. */
function crossKeyProblems(config: Config, reported: readonly string[]): string[] {
  const isReported = (key: string) => reported.some((problem) => problem.startsWith(`${key}:`));
  return CROSS_KEY_RULES.filter((rule) => !rule.keys.some(isReported))
    .map((rule) => rule.problem(config))
    .filter((problem) => problem !== undefined);
}

/** Throws a ConfigError naming every listed key that is empty. */
export function requireKeys(config: Config, keys: readonly string[], why: string): void {
  const missing = keys.filter((key) => lookup(config, key) === '');
  if (missing.length > 0) {
    throw new ConfigError(
      missing.map(
        (key) =>
          `${key}: must be set ${why}: give it in a JSON file passed as --config <file.json> ` +
          `(examples in the package's config/ folder) or as the environment variable ${envName(key)}`,
      ),
    );
  }
}

function envName(key: string): string {
  const node = lookup(schema, key) as { env?: string } | undefined;
  return node?.env ?? '';
}

function lookup(root: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], root);
}

function splitConvictMessage(message: string): string[] {
  return message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}

/** Convict echoes the offending value; never echo a secret's. */
function redactValues(problem: string): string {
  const secret = secretKeys().some(({ key }) => problem.startsWith(`${key}:`));
  return secret ? problem.replace(/: value was .*/s, '') : problem;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
