// Build and push the dev images to the local registry, skipping an image whose
// inputs (Dockerfile, binary, build args) did not change: every image is pushed
// as :dev and as a content tag, and an image whose content tag is already what
// :dev points at is left alone.
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from './engine.ts';
import { $w } from './sh.ts';
import { sha256 } from './bootstrap.ts';
import { tagDigest } from './registry.ts';
import { KIT_ROOT } from './settings.ts';
import type { TaskContext } from './task.ts';
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

export function buildArgv(engine: Engine, spec: ImageSpec, refs: string[]): string[] {
  return [
    engine.cli,
    'build',
    '-f',
    spec.dockerfile,
    ...refs.flatMap((r) => ['-t', r]),
    ...Object.entries(spec.buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
    KIT_ROOT,
  ];
}

export function pushArgv(engine: Engine, ref: string): string[] {
  // Podman's own CLI needs to be told the local registry speaks plain HTTP.
  return engine.cli === 'podman' ? ['podman', 'push', '--tls-verify=false', ref] : [engine.cli, 'push', ref];
}

export async function buildAndPush(ctx: TaskContext, engine: Engine, registryHost: string, spec: ImageSpec, force = false): Promise<ImageResult> {
  const staged = join(STAGE_DIR, spec.binary);
  const tag = contentTag(readFileSync(spec.dockerfile, 'utf8'), readFileSync(staged), spec.buildArgs);
  if (!force) {
    const [dev, content] = await Promise.all([tagDigest(registryHost, spec.repo, 'dev'), tagDigest(registryHost, spec.repo, tag)]);
    if (dev !== undefined && dev === content) return { spec, contentTag: tag, action: 'unchanged' };
  }
  const refs = [`${registryHost}/${spec.repo}:dev`, `${registryHost}/${spec.repo}:${tag}`];
  // The environment points at the engine already (useEngine).
  await ctx.log.progress(`building ${spec.repo}`, $w({ timeout: '30m' })`${buildArgv(engine, spec, refs)}`.quiet(!ctx.log.verbose));
  for (const ref of refs) await ctx.log.progress(`pushing ${ref}`, $w({ timeout: '10m' })`${pushArgv(engine, ref)}`);
  return { spec, contentTag: tag, action: ctx.dryRun ? 'would push' : 'pushed' };
}
