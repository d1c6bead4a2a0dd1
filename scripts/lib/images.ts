// The dev images' inputs: the binaries staged in the build context and the
// content tag that names an image by everything it is made of (Dockerfile,
// binary, build args). sync.ts builds and pushes them.
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from './bootstrap.ts';
import { KIT_ROOT } from './settings.ts';
import { UserError } from './task.ts';

/** Where binaries are staged for the Dockerfiles (their BIN_DIR default), inside the build context. */
export const STAGE_DIR = join(KIT_ROOT, '.build', 'bin');

export interface ImageSpec {
  /** gateway | supervisor */
  name: string;
  /** Registry-relative repository, e.g. openshell-gateway. */
  repo: string;
  dockerfile: string;
  /** Binary file name the Dockerfile copies from BIN_DIR. */
  binary: string;
  buildArgs: Record<string, string>;
}

export interface ImageResult {
  spec: ImageSpec;
  contentTag: string;
  action: 'pushed' | 'unchanged' | 'would push';
}

/** The content tag: a hash of everything the image is made of. */
export function contentTag(dockerfileText: string, binary: Buffer, buildArgs: Record<string, string>): string {
  const args = Object.entries(buildArgs)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  return `src-${sha256(Buffer.concat([Buffer.from(dockerfileText + '\0' + args + '\0'), binary])).slice(0, 16)}`;
}

/** Copy a built binary into the build context (unchanged content is not rewritten). */
export function stageBinary(from: string, name: string): string {
  if (!existsSync(from) || !statSync(from).isFile()) throw new UserError(`binary not found: ${from}`);
  mkdirSync(STAGE_DIR, { recursive: true });
  const to = join(STAGE_DIR, name);
  if (!existsSync(to) || !readFileSync(to).equals(readFileSync(from))) copyFileSync(from, to);
  return to;
}
