import { createHash } from 'node:crypto';
import {
  DISPLAY_NAME_FORBIDDEN_ENTITY,
  DISPLAY_NAME_MAX,
  EMAIL_PATTERN,
  NOTIFICATION_VALUES,
  type FieldKind,
} from '../livefyre/profile.js';

/** Fields whose values Livefyre requires to be fully qualified http(s) URLs. */
export const URL_FIELDS: ReadonlySet<string> = new Set(['image_url', 'profile_url', 'settings_url', 'websites']);

const TAG = /^[A-Za-z0-9_]{1,63}$/;
const MAX_WEBSITES = 2;

/**
 * Turns a database value into what Livefyre accepts for a field, or
 * `undefined` when there is nothing acceptable to send: the field is then
 * left out, never sent as `null` or in a shape Livefyre would refuse (which
 * would make it drop the whole profile).
 */
export type FieldShaper = (value: unknown) => unknown;

export interface ShaperOptions {
  /** Base URL relative URLs are resolved against; without it they are left out. */
  readonly relativeUrlBase?: string | undefined;
}

export function fieldShaper(field: string, kind: FieldKind, options: ShaperOptions = {}): FieldShaper {
  const isUrl = URL_FIELDS.has(field);
  const base = options.relativeUrlBase === '' ? undefined : options.relativeUrlBase;
  switch (kind) {
    case 'boolean':
      return (value) => (typeof value === 'boolean' ? value : undefined);
    case 'notification':
      return (value) => {
        const text = typeof value === 'string' ? value.toLowerCase() : undefined;
        return text !== undefined && NOTIFICATION_VALUES.has(text) ? text : undefined;
      };
    case 'string[]': {
      const item = field === 'tags' ? tagItem : isUrl ? (value: unknown) => qualifiedUrl(value, base) : textItem;
      const limit = field === 'websites' ? MAX_WEBSITES : Number.POSITIVE_INFINITY;
      return (value) => {
        if (!Array.isArray(value)) return undefined;
        const items: string[] = [];
        for (const raw of value) {
          const shaped = item(raw);
          // Livefyre refuses repeated tags; a repeated website is no use either
          if (shaped !== undefined && items.length < limit && !items.includes(shaped)) items.push(shaped);
        }
        return items.length === 0 ? undefined : items;
      };
    }
    case 'string':
      if (isUrl) return (value) => qualifiedUrl(value, base);
      if (field === 'display_name') return displayName;
      if (field === 'email') return email;
      return textItem;
  }
}

/** HTML entities a display name stored HTML-escaped may carry; Livefyre refuses `&name;` in display names. */
const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
};
const ENTITY = /&(\w+);/g;
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * A display name Livefyre accepts, or undefined when nothing is left (the
 * fallback then applies): line breaks and runs of white space become one
 * space, the ends are trimmed, the common HTML entities are decoded (an
 * escaped `&amp;lt;` fully), any other `&name;` gets a space after its `&`,
 * and the result is cut to 150 code points without splitting a character
 * (a grapheme: an accented letter or an emoji sequence stays whole).
 */
export function displayName(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  let text = String(value);
  for (let previous = ''; previous !== text && DISPLAY_NAME_FORBIDDEN_ENTITY.test(text);) {
    previous = text;
    text = text.replace(ENTITY, (entity, name: string) => NAMED_ENTITIES[name] ?? entity);
  }
  text = text.replace(ENTITY, '& $1;').replace(/\s+/g, ' ').trim();
  if (text.length === 0) return undefined;
  if (text.length <= DISPLAY_NAME_MAX) return text;
  let cut = '';
  let points = 0;
  for (const { segment } of graphemes.segment(text)) {
    points += [...segment].length;
    if (points > DISPLAY_NAME_MAX) break;
    cut += segment;
  }
  return cut.trimEnd() || undefined;
}

/** An address Livefyre accepts (trimmed), or undefined: a malformed one would get the whole profile refused. */
function email(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  return EMAIL_PATTERN.test(text) ? text : undefined;
}

function textItem(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  const text = String(value);
  return text.length === 0 ? undefined : text;
}

function tagItem(value: unknown): string | undefined {
  return typeof value === 'string' && TAG.test(value) ? value : undefined;
}

/** An absolute http(s) URL, resolving a relative one against `base`; anything else is no value. */
export function qualifiedUrl(value: unknown, base: string | undefined): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  let url: URL;
  try {
    url = base === undefined ? new URL(value) : new URL(value, base);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname.length === 0) return undefined;
  return url.href;
}

/**
 * Livefyre fetches an avatar again only when its URL changes. This appends
 * `v=<8 hex digits>` derived from the URL and the version column's value
 * (e.g. the avatar's updated-at), so a new image behind an unchanged URL gets
 * a new URL, and an unchanged image keeps its URL (no needless refetch).
 * The existing query string is kept byte for byte.
 */
export function versionedImageUrl(url: string, version: unknown): string {
  const versionText = version === null || version === undefined ? '' : String(version);
  const hash = createHash('sha256').update(`${url}\n${versionText}`).digest('hex').slice(0, 8);
  const hashAt = url.indexOf('#');
  const head = hashAt === -1 ? url : url.slice(0, hashAt);
  const fragment = hashAt === -1 ? '' : url.slice(hashAt);
  const separator = !head.includes('?') ? '?' : head.endsWith('?') || head.endsWith('&') ? '' : '&';
  return `${head}${separator}v=${hash}${fragment}`;
}
