import { describe, expect, it } from 'vitest';
import {
  buildProfileMapping,
  fieldsOfColumns,
  publishedColumns,
  relatedPublishedColumns,
} from '../../../src/mapping/index.js';

const source = { table: 'legacy.accounts', idColumn: 'account_id', columns: { display_name: 'screen_name' } };

describe('buildProfileMapping', () => {
  it('watches the id, source.columns, template columns and the image version column, each once', () => {
    const mapping = buildProfileMapping({
      source: { ...source, columns: { display_name: 'screen_name', image_url: 'avatar_path' } },
      pull: {
        fields: {
          profile_url: { template: 'https://example.com/people/{login}/{id}' },
          name: { formatted: { template: '{given_name} {screen_name}' } },
          settings_url: { constant: 'https://example.com/settings' },
        },
        imageVersionColumn: 'avatar_changed_at',
      },
    });
    expect(publishedColumns(mapping)).toEqual([
      'account_id',
      'screen_name',
      'avatar_path',
      'login',
      'given_name',
      'avatar_changed_at',
    ]);
    expect(mapping.watched.find((watched) => watched.column === 'screen_name')).toEqual({
      column: 'screen_name',
      fields: ['display_name', 'name.formatted'],
      keys: ['source.columns.display_name', 'pull.fields.name.formatted'],
    });
    expect(mapping.table).toMatchObject({ schema: 'legacy', name: 'accounts' });
    expect(mapping.fields).toEqual(['display_name', 'image_url', 'profile_url', 'name.formatted', 'settings_url']);
  });

  it('names the fields a set of changed columns feeds: the version column feeds image_url', () => {
    const mapping = buildProfileMapping({
      source: { ...source, columns: { display_name: 'screen_name', image_url: 'avatar_path' } },
      pull: { imageVersionColumn: 'avatar_changed_at' },
    });
    expect(fieldsOfColumns(mapping, new Set(['avatar_changed_at']))).toEqual(['image_url']);
    expect(fieldsOfColumns(mapping, new Set(['screen_name', 'unwatched']))).toEqual(['display_name']);
  });

  it('flattens nested members of source.columns to dotted fields', () => {
    const mapping = buildProfileMapping({
      source: {
        ...source,
        columns: { display_name: 'screen_name', name: { first: 'given_name' }, display_rules: { bio: 'show_bio' } },
      },
    });
    expect(mapping.columns).toEqual({
      display_name: 'screen_name',
      'name.first': 'given_name',
      'display_rules.bio': 'show_bio',
    });
    expect(publishedColumns(mapping)).toEqual(['account_id', 'screen_name', 'given_name', 'show_bio']);
  });

  it('publishes each related table with its id column first, and never the id column twice', () => {
    const mapping = buildProfileMapping({
      source: {
        ...source,
        related: [{ table: 'account_bios', idColumn: 'account_id', columns: ['bio', 'account_id'] }],
      },
    });
    expect(mapping.related).toHaveLength(1);
    const [related] = mapping.related;
    expect(related?.table).toMatchObject({ schema: 'public', name: 'account_bios' });
    expect(related?.key).toBe('source.related[0]');
    expect(relatedPublishedColumns(related!)).toEqual(['account_id', 'bio']);
  });

  it('with a custom query, a template column a related table lists is watched there, not on the users table', () => {
    const config = {
      source: { ...source, related: [{ table: 'public.account_bios', idColumn: 'account_id', columns: ['bio_text'] }] },
      pull: { query: 'SELECT 1 WHERE $1::text IS NOT NULL', fields: { bio: { template: '{bio_text}' } } },
    };
    expect(publishedColumns(buildProfileMapping(config))).toEqual(['account_id', 'screen_name']);
    // without a custom query the template reads the users table, so the column is watched there
    expect(publishedColumns(buildProfileMapping({ ...config, pull: { fields: config.pull.fields } }))).toEqual([
      'account_id',
      'screen_name',
      'bio_text',
    ]);
  });

  it('carries what the pull server needs', () => {
    const mapping = buildProfileMapping({
      source,
      pull: { query: '  SELECT 1  ', relativeUrlBase: 'https://cdn.example.com/', imageVersionColumn: 'v' },
    });
    expect(mapping.pull).toEqual({
      fields: {},
      relativeUrlBase: 'https://cdn.example.com/',
      imageVersionColumn: 'v',
      displayNameFallback: '{id}',
      emailNotificationsDefault: 'never',
      query: 'SELECT 1',
    });
  });

  it('watches the columns of the display-name fallback template as feeding display_name', () => {
    const mapping = buildProfileMapping({ source, pull: { displayNameFallback: '{login} ({id})' } });
    expect(mapping.watched).toContainEqual({
      column: 'login',
      fields: ['display_name'],
      keys: ['pull.displayNameFallback'],
    });
    expect(publishedColumns(mapping)).toEqual(['account_id', 'screen_name', 'login']);
  });
});
