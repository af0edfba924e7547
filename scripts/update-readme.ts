import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configReferenceMarkdown } from '../src/config/reference.js';

// Regenerates the README's configuration reference from the convict schema:
// `npm run docs`. test/unit/config/readme.test.ts fails when they differ.
const README = fileURLToPath(new URL('../README.md', import.meta.url));
const START = '<!-- config-reference:start -->';
const END = '<!-- config-reference:end -->';

const text = readFileSync(README, 'utf8');
const from = text.indexOf(START);
const to = text.indexOf(END);
if (from === -1 || to === -1) throw new Error(`README.md lacks the ${START} … ${END} markers`);
writeFileSync(README, `${text.slice(0, from + START.length)}\n${configReferenceMarkdown()}\n${text.slice(to)}`);
