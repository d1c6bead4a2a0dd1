// The OpenShell checkout the gateway and the images are built from:
// OPENSHELL_SOURCE_DIR, else the repository this kit lives in (the kit ships
// inside OpenShell), recognised by its Cargo workspace.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { KIT_ROOT, type Settings } from './settings.ts';
import { UserError } from './task.ts';

/** Does `dir` look like an OpenShell checkout (a Cargo workspace with openshell-server)? */
export function isOpenShellCheckout(dir: string): boolean {
  const cargo = join(dir, 'Cargo.toml');
  if (!existsSync(cargo)) return false;
  if (existsSync(join(dir, 'crates', 'openshell-server'))) return true;
  return /openshell-server/.test(readFileSync(cargo, 'utf8'));
}

/** Where cargo leaves `binary` for a build command (honours `--target <triple>` and `--profile`/`--release`). */
export function builtBinaryPath(sourceDir: string, buildCommand: string, binary: string): string {
  const target = /--target(?:=|\s+)(\S+)/.exec(buildCommand)?.[1];
  const profile = /--profile(?:=|\s+)(\S+)/.exec(buildCommand)?.[1] ?? (/(^|\s)(--release|-r)(\s|$)/.test(buildCommand) ? 'release' : 'debug');
  return join(sourceDir, 'target', ...(target ? [target] : []), profile === 'dev' ? 'debug' : profile, binary);
}

export function findSourceDir(s: Pick<Settings, 'sourceDir'>, start = KIT_ROOT): string {
  if (s.sourceDir) {
    if (!isOpenShellCheckout(s.sourceDir)) {
      throw new UserError(`OPENSHELL_SOURCE_DIR=${s.sourceDir} is not an OpenShell checkout (no Cargo workspace with openshell-server)`, 2);
    }
    return s.sourceDir;
  }
  for (let dir = start; ; dir = dirname(dir)) {
    if (isOpenShellCheckout(dir)) return dir;
    if (dirname(dir) === dir) break;
  }
  throw new UserError(
    `no OpenShell checkout found: this kit is not inside one. Clone OpenShell and set OPENSHELL_SOURCE_DIR=/path/to/OpenShell (in .env or the environment)`,
    2,
  );
}
