import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { ConfigError } from '../../../src/errors.js';

function configFile(content: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'pingpull-mapping-')), 'config.json');
  writeFileSync(file, JSON.stringify(content));
  return file;
}

describe('the mapping keys (source.columns, source.related)', () => {
  it('a file mapping replaces the default whole: nothing of the default (email) is merged in', () => {
    const file = configFile({ source: { columns: { display_name: 'nick' } } });
    expect(loadConfig({ file, env: {} }).source.columns).toEqual({ display_name: 'nick' });
  });

  it('the environment still wins over the file', () => {
    const file = configFile({ source: { columns: { display_name: 'nick' } } });
    const env = { PINGPULL_SOURCE_COLUMNS: '{"display_name":"screen_name"}' };
    expect(loadConfig({ file, env }).source.columns).toEqual({ display_name: 'screen_name' });
  });

  it('takes dotted members from a file and from the environment, and nested ones', () => {
    const dotted = configFile({ source: { columns: { display_name: 'nick', 'name.first': 'given_name' } } });
    expect(loadConfig({ file: dotted, env: {} }).source.columns).toEqual({
      display_name: 'nick',
      name: { first: 'given_name' },
    });
    const nested = configFile({ source: { columns: { display_name: 'nick', display_rules: { bio: 'show_bio' } } } });
    expect(loadConfig({ file: nested, env: {} }).source.columns).toEqual({
      display_name: 'nick',
      display_rules: { bio: 'show_bio' },
    });
    const env = { PINGPULL_SOURCE_COLUMNS: '{"display_name":"nick","email_notifications.replies":"notify"}' };
    expect(loadConfig({ env }).source.columns).toEqual({
      display_name: 'nick',
      email_notifications: { replies: 'notify' },
    });
  });

  it('refuses an unknown dotted member', () => {
    const file = configFile({ source: { columns: { display_name: 'nick', 'name.nick': 'x' } } });
    expect(() => loadConfig({ file, env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ file, env: {} })).toThrow(/source\.columns.*name\.nick/);
  });

  it('reads source.related from a file and from PINGPULL_SOURCE_RELATED', () => {
    const related = [{ table: 'public.account_bios', idColumn: 'account_id', columns: ['bio'] }];
    expect(loadConfig({ env: {} }).source.related).toEqual([]);
    expect(loadConfig({ file: configFile({ source: { related } }), env: {} }).source.related).toEqual(related);
    expect(loadConfig({ env: { PINGPULL_SOURCE_RELATED: JSON.stringify(related) } }).source.related).toEqual(related);
  });

  it.each([
    ['not an array', '{"table":"t"}', /JSON array/],
    ['no columns', '[{"table":"t","idColumn":"u","columns":[]}]', /non-empty array/],
    ['an unknown key', '[{"table":"t","idColumn":"u","columns":["b"],"where":"x"}]', /unknown key/],
    [
      'a table twice',
      '[{"table":"t","idColumn":"u","columns":["b"]},{"table":"t","idColumn":"u","columns":["c"]}]',
      /second time/,
    ],
  ])('refuses source.related with %s, naming the key', (_what, value, message) => {
    expect(() => loadConfig({ env: { PINGPULL_SOURCE_RELATED: value } })).toThrow(message);
    expect(() => loadConfig({ env: { PINGPULL_SOURCE_RELATED: value } })).toThrow(/source\.related/);
  });
});
