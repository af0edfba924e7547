import { readdirSync, readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');

function layoutSection(): string {
  const start = readme.indexOf('### Code layout');
  expect(start, 'README has a "Code layout" section').toBeGreaterThan(-1);
  const end = readme.indexOf('\n## ', start);
  return readme.slice(start, end === -1 ? undefined : end);
}

const entries = (dir: string): string[] => readdirSync(new URL(dir, root)).filter((name) => !name.startsWith('.'));

describe("the README's code layout", () => {
  it('names every folder and top-level module of src/', () => {
    const section = layoutSection();
    for (const name of entries('src/')) {
      const isDir = statSync(new URL(`src/${name}`, root)).isDirectory();
      const cited = isDir ? `\`src/${name}/\`` : `\`src/${name}\``;
      expect(section, `README's code layout names ${cited}`).toContain(cited);
    }
  });

  it('names only folders that exist', () => {
    const cited = [...layoutSection().matchAll(/`(src\/[a-z-]+\/?(?:[a-z-]+\.ts)?)`/g)].map((m) => m[1] as string);
    expect(cited.length).toBeGreaterThan(5);
    for (const path of cited) expect(() => statSync(new URL(path, root)), path).not.toThrow();
  });
});
