import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildPullUrl, templateProblem } from '../../../src/simulator/template.js';

describe('pull URL template', () => {
  it('appends the token with ? to a path template (the first form of a template)', () => {
    expect(buildPullUrl('https://users.example.com/livefyre/profiles/{id}', 'u1042', 'T')).toBe(
      'https://users.example.com/livefyre/profiles/u1042?lftoken=T',
    );
  });

  it('appends the token with & to a query template (the second form of a template)', () => {
    expect(buildPullUrl('https://example.com/some_path/?id={id}', 'u1042', 'T')).toBe(
      'https://example.com/some_path/?id=u1042&lftoken=T',
    );
  });

  it('does not double a separator the template already ends with', () => {
    expect(buildPullUrl('http://h/p/{id}?', 'a', 'T')).toBe('http://h/p/a?lftoken=T');
    expect(buildPullUrl('http://h/p?x=1&id={id}&', 'a', 'T')).toBe('http://h/p?x=1&id=a&lftoken=T');
  });

  it('replaces every {id}, encodes the token and drops a fragment', () => {
    expect(buildPullUrl('http://h/{id}/x?again={id}#top', 'a.b', 'x+y/z=')).toBe(
      'http://h/a.b/x?again=a.b&lftoken=x%2By%2Fz%3D',
    );
  });

  it('accepts absolute http(s) templates with {id} only', () => {
    expect(templateProblem('https://users.example.com/livefyre/profiles/{id}')).toBeUndefined();
    expect(templateProblem('http://127.0.0.1:8080/p?id={id}')).toBeUndefined();
    expect(templateProblem('https://users.example.com/livefyre/profiles/')).toMatch(/\{id\}/);
    expect(templateProblem('/livefyre/profiles/{id}')).toMatch(/absolute/);
    expect(templateProblem('ftp://h/{id}')).toMatch(/absolute/);
  });
});

describe('pull URL template (properties)', () => {
  const idArb = fc.stringMatching(/^[a-zA-Z0-9_.-]{1,40}$/);
  const tokenArb = fc.string({ minLength: 1, maxLength: 200 });

  it('always yields a URL whose lftoken parameter is the token and whose id is the id', () => {
    fc.assert(
      fc.property(idArb, tokenArb, fc.boolean(), (id, token, queryForm) => {
        const template = queryForm ? 'https://example.com/some_path/?id={id}' : 'https://users.example.com/p/{id}';
        const url = new URL(buildPullUrl(template, id, token));
        expect(url.searchParams.getAll('lftoken')).toEqual([token]);
        if (queryForm) expect(url.searchParams.get('id')).toBe(id);
        // "." and ".." are valid ids but dot segments in a path: every URL parser removes them
        else if (id !== '.' && id !== '..') expect(decodeURIComponent(url.pathname)).toBe(`/p/${id}`);
      }),
    );
  });
});
