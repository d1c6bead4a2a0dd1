// The README's settings table, generated from scripts/lib/settings.ts so the
// two cannot drift: `node scripts/settings-table.ts` prints it,
// `--write` replaces it in README.md between the markers, and a unit test fails
// when README.md is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KIT_ROOT, SETTINGS } from './lib/settings.ts';

export const BEGIN = '<!-- settings-table:begin -->';
export const END = '<!-- settings-table:end -->';

export function settingsTable(): string {
  const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
  const rows = SETTINGS.map((s) => `| \`${s.name}\` | ${s.default === '' ? '(empty)' : `\`${s.default}\``} | ${cell(s.describe)} |`);
  return ['| Setting | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

export function withTable(readme: string): string {
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md lacks the ${BEGIN} … ${END} markers`);
  return `${readme.slice(0, start + BEGIN.length)}\n${settingsTable()}\n${readme.slice(end)}`;
}

if (import.meta.filename === process.argv[1]) {
  const readmePath = join(KIT_ROOT, 'README.md');
  if (process.argv.includes('--write')) writeFileSync(readmePath, withTable(readFileSync(readmePath, 'utf8')));
  else console.log(settingsTable());
}
