// Task processes read the kit's `.env` (defaults, then `.env`, then the
// environment). A test that starts one pins every setting in the environment it
// gives the process, so a contributor's `.env` never reaches a test; a test that
// loads settings in-process passes `root` (an empty directory) instead.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { SETTINGS } from '../../scripts/lib/settings.ts';

/** `env` with every setting it does not give pinned to its default. */
export function pinSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = Object.fromEntries(SETTINGS.map((s) => [s.name, s.default]));
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** A new empty directory to pass as settings' `root` (no `.env` in it), removed after the file's tests. */
export function noDotenvRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), 'openshell-no-dotenv-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
