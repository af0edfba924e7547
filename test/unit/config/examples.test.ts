import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../../src/config/index.js';
import { configKeys } from '../../../src/config/reference.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const examples = readdirSync(`${root}config`).filter((name) => name.endsWith('.json'));

describe('the example configurations in config/', () => {
  it('are shipped with the package', () => {
    const manifest = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { files: string[] };
    expect(manifest.files).toContain('config');
    expect(examples).toEqual(expect.arrayContaining(['compose.json', 'legacy-schema.json']));
  });

  it.each(examples)('%s loads through the real loader, with no environment', (name) => {
    expect(() => loadConfig({ file: `${root}config/${name}`, env: {} })).not.toThrow();
  });

  it('compose.json is what docker-compose.yml gives the pingpull services', () => {
    const compose = parse(readFileSync(`${root}docker-compose.yml`, 'utf8'), { merge: true }) as {
      'x-pingpull-env': Record<string, string>;
    };
    // Secrets stay out of the file: compose reads them from files (PINGPULL_*_FILE).
    const plain = Object.entries(compose['x-pingpull-env']).filter(([name]) => !name.endsWith('_FILE'));
    const fromFile = loadConfig({ file: `${root}config/compose.json`, env: {} });
    const fromCompose = loadConfig({ env: Object.fromEntries(plain) });
    for (const { key } of configKeys().filter(({ sensitive }) => sensitive !== true)) {
      expect(lookup(fromFile, key), key).toEqual(lookup(fromCompose, key));
    }
  });

  it('the folder explains each example and the least privileges they assume', () => {
    const readme = readFileSync(`${root}config/README.md`, 'utf8');
    for (const name of examples) expect(readme).toContain(`\`${name}\``);
    expect(readme).toContain('LOGIN REPLICATION');
    expect(readme).toContain('--config');
  });
});

function lookup(root: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], root);
}
