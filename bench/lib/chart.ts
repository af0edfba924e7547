import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import type { BenchResult } from './results.js';

/**
 * Renders the last run's results as one SVG: a panel per benchmark with a
 * bar per figure, scaled within the panel (figures differ in unit), and the
 * ratios against the baseline written beside them.
 */
export function renderChart(resultsDir: string): string {
  const results = readdirSync(resultsDir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => JSON.parse(readFileSync(`${resultsDir}${file}`, 'utf8')) as BenchResult & { at: string });
  const width = 900;
  const row = 22;
  const parts: string[] = [];
  let y = 40;
  for (const result of results) {
    const figures = Object.entries(result.figures);
    const max = Math.max(...figures.map(([, value]) => Math.abs(value)), 1);
    parts.push(`<text x="10" y="${y}" font-weight="bold">${escape(result.name)}</text>`);
    parts.push(`<text x="${width - 10}" y="${y}" text-anchor="end" fill="#666">${escape(result.at)}</text>`);
    y += 8;
    for (const [key, value] of figures) {
      const bar = Math.max(1, (Math.abs(value) / max) * 380);
      parts.push(`<text x="10" y="${y + 15}">${escape(key)}</text>`);
      parts.push(`<rect x="300" y="${y + 4}" width="${bar.toFixed(1)}" height="14" fill="#3b82f6"/>`);
      parts.push(`<text x="${(305 + bar).toFixed(1)}" y="${y + 15}">${format(value)}</text>`);
      y += row;
    }
    for (const [key, value] of Object.entries(result.ratios)) {
      parts.push(`<text x="10" y="${y + 15}" fill="#b45309">ratio ${escape(key)}: ${format(value)}</text>`);
      y += row;
    }
    y += 24;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="16" font-weight="bold">pingpull benchmarks (last run)</text>`,
    ...parts,
    '</svg>',
  ].join('\n');
}

export function writeChart(resultsDir: string): string {
  const file = `${resultsDir}chart.svg`;
  writeFileSync(file, `${renderChart(resultsDir)}\n`);
  return file;
}

function format(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(3);
}

function escape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
