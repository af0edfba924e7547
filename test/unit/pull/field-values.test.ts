import { describe, expect, it } from 'vitest';
import { fieldShaper, qualifiedUrl, versionedImageUrl } from '../../../src/pull/field-values.js';
import { parseTemplate, renderTemplate } from '../../../src/pull/template.js';

describe('field values', () => {
  it('keeps strings, and leaves out NULL and empty strings', () => {
    const bio = fieldShaper('bio', 'string');
    expect(bio('hello')).toBe('hello');
    expect(bio(42)).toBe('42');
    expect(bio(null)).toBeUndefined();
    expect(bio('')).toBeUndefined();
  });

  it('sends booleans only as booleans', () => {
    const moderator = fieldShaper('moderator', 'boolean');
    expect(moderator(true)).toBe(true);
    expect(moderator(false)).toBe(false);
    expect(moderator('true')).toBeUndefined();
    expect(moderator(null)).toBeUndefined();
  });

  it('accepts only the notification values Livefyre knows, in any case', () => {
    const replies = fieldShaper('email_notifications.replies', 'notification');
    expect(replies('immediately')).toBe('immediately');
    expect(replies('Never')).toBe('never');
    expect(replies('daily')).toBeUndefined();
  });

  it('keeps valid tags only, and no empty array', () => {
    const tags = fieldShaper('tags', 'string[]');
    expect(tags(['staff', 'beta_2', 'no spaces', '', 'x'.repeat(64), null])).toEqual(['staff', 'beta_2']);
    expect(tags(['bad tag'])).toBeUndefined();
    expect(tags('staff')).toBeUndefined();
  });

  it('keeps at most two qualified websites', () => {
    const websites = fieldShaper('websites', 'string[]', { relativeUrlBase: 'https://example.com/' });
    expect(websites(['/me', 'ftp://x.example', 'https://a.example/', 'https://b.example/'])).toEqual([
      'https://example.com/me',
      'https://a.example/',
    ]);
  });

  it('sends URLs fully qualified: relative ones resolved against the base, or left out without one', () => {
    expect(qualifiedUrl('https://cdn.example.com/a.jpg?x=1', undefined)).toBe('https://cdn.example.com/a.jpg?x=1');
    expect(qualifiedUrl('/avatars/1.jpg', undefined)).toBeUndefined();
    expect(qualifiedUrl('/avatars/1.jpg', 'https://cdn.example.com/base/')).toBe(
      'https://cdn.example.com/avatars/1.jpg',
    );
    expect(qualifiedUrl('avatars/1.jpg', 'https://cdn.example.com/base/')).toBe(
      'https://cdn.example.com/base/avatars/1.jpg',
    );
    expect(qualifiedUrl('//img.example.com/1.jpg', 'https://cdn.example.com/')).toBe('https://img.example.com/1.jpg');
    expect(qualifiedUrl('javascript:alert(1)', 'https://cdn.example.com/')).toBeUndefined();
    expect(qualifiedUrl('mailto:a@example.com', undefined)).toBeUndefined();
    const image = fieldShaper('image_url', 'string', { relativeUrlBase: '' });
    expect(image('/a.jpg')).toBeUndefined();
  });

  it('versions avatar URLs with ?v= or &v=, keeping the query and fragment as they are', () => {
    const plain = versionedImageUrl('https://cdn.example.com/a.jpg', '2024-01-01 00:00:00+00');
    expect(plain).toMatch(/^https:\/\/cdn\.example\.com\/a\.jpg\?v=[0-9a-f]{8}$/);
    expect(versionedImageUrl('https://cdn.example.com/a.jpg?size=100&q=a%20b', 'x')).toMatch(
      /^https:\/\/cdn\.example\.com\/a\.jpg\?size=100&q=a%20b&v=[0-9a-f]{8}$/,
    );
    expect(versionedImageUrl('https://cdn.example.com/a.jpg?', 'x')).toMatch(/\?v=[0-9a-f]{8}$/);
    expect(versionedImageUrl('https://cdn.example.com/a.jpg#top', 'x')).toMatch(/\.jpg\?v=[0-9a-f]{8}#top$/);
  });

  it('changes the version when the image or its version changes, and only then', () => {
    const url = 'https://cdn.example.com/a.jpg';
    expect(versionedImageUrl(url, 'one')).toBe(versionedImageUrl(url, 'one'));
    expect(versionedImageUrl(url, 'one')).not.toBe(versionedImageUrl(url, 'two'));
    expect(versionedImageUrl(url, null)).not.toBe(versionedImageUrl(`${url}x`, null));
  });
});

describe('templates', () => {
  it('fills placeholders, percent-encoding them in URLs', () => {
    const template = parseTemplate('https://example.com/people/{username}?from={id}');
    expect(template.names).toEqual(['username', 'id']);
    expect(renderTemplate(template, ['ada l/x', '1042'], true)).toBe(
      'https://example.com/people/ada%20l%2Fx?from=1042',
    );
    expect(renderTemplate(parseTemplate('{first} {last}'), ['Ada', 'Lovelace'], false)).toBe('Ada Lovelace');
  });

  it('gives no value when a placeholder column is NULL', () => {
    expect(renderTemplate(parseTemplate('https://example.com/{a}'), [null], true)).toBeUndefined();
  });

  it('renders a template without placeholders as it is', () => {
    expect(renderTemplate(parseTemplate('https://example.com/settings'), [], true)).toBe(
      'https://example.com/settings',
    );
  });
});
