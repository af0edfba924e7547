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

describe('Livefyre limits on field values', () => {
  const name = fieldShaper('display_name', 'string');

  it('trims display names and turns line breaks and runs of white space into one space', () => {
    expect(name('  Ada  Lovelace \n')).toBe('Ada Lovelace');
    expect(name('Ada\r\nLovelace\u2028x')).toBe('Ada Lovelace x');
    expect(name(' \t\n')).toBeUndefined();
    expect(name(null)).toBeUndefined();
    expect(name(1042)).toBe('1042');
  });

  it('decodes the common HTML entities Livefyre refuses, and breaks up any other', () => {
    expect(name('Tom &amp; Jerry')).toBe('Tom & Jerry');
    expect(name('&lt;b&gt; &quot;x&quot; it&apos;s&nbsp;me')).toBe('<b> "x" it\'s me');
    expect(name('double &amp;amp; escaped &amp;lt;')).toBe('double & escaped <');
    expect(name('caf&eacute;')).toBe('caf& eacute;');
    expect(name('AT&T; R&D')).toBe('AT& T; R&D');
    expect(name('&#39;numeric&#39;')).toBe('&#39;numeric&#39;');
    for (const value of ['a &amp; b', 'x &foo; y', '&amp;amp;amp;']) expect(name(value)).not.toMatch(/&\w+;/);
  });

  it('cuts display names to 150 code points without splitting a character', () => {
    expect(name('a'.repeat(200))).toBe('a'.repeat(150));
    expect(name('a'.repeat(150))).toBe('a'.repeat(150));
    const emoji = '\u{1F600}';
    const cut = name(emoji.repeat(151)) as string;
    expect([...cut]).toHaveLength(150);
    expect(cut.length).toBe(300);
    const family = '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}';
    const withFamily = name(`${'a'.repeat(148)}${family}`) as string;
    expect(withFamily).toBe('a'.repeat(148));
    expect(name(`${'a'.repeat(149)}e\u0301`)).toBe('a'.repeat(149));
    expect(name(`${'a'.repeat(149)} ${'b'.repeat(5)}`)).toBe('a'.repeat(149));
  });

  it('sends an email only when it is shaped like an address, trimmed', () => {
    const email = fieldShaper('email', 'string');
    expect(email(' ada@example.com ')).toBe('ada@example.com');
    expect(email('ada.l+news@mail.example.photography')).toBe('ada.l+news@mail.example.photography');
    expect(email('jürgen@example.de')).toBe('jürgen@example.de');
    for (const bad of ['ada', 'ada@', 'ada@example', 'a b@example.com', 'ada@exa mple.com', '', null, 42]) {
      expect(email(bad), String(bad)).toBeUndefined();
    }
  });

  it('sends each tag and website once', () => {
    expect(fieldShaper('tags', 'string[]')(['staff', 'beta', 'staff'])).toEqual(['staff', 'beta']);
    expect(
      fieldShaper('websites', 'string[]')(['https://a.example/', 'https://a.example/', 'https://b.example/']),
    ).toEqual(['https://a.example/', 'https://b.example/']);
  });
});
