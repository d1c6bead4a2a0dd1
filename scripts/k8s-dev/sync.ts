// k8s:dev:sync — one shot: build the gateway and supervisor binaries, build
// their images and push them to the local registry as :dev and a content tag.
// An image whose inputs did not change is skipped.
import { fs, path } from 'zx';
import { devImages } from '../lib/bootstrap.ts';
import { elfLinkage } from '../lib/elf.ts';
import { useEngine, type Engine } from '../lib/engine.ts';
import { contentTag, stageBinary, STAGE_DIR, type ImageResult, type ImageSpec } from '../lib/images.ts';
import { providerFor } from '../lib/providers/index.ts';
import { registryProblem, tagDigest } from '../lib/registry.ts';
import { KIT_ROOT, SUPERVISOR_BUILD_COMMAND } from '../lib/settings.ts';
import { $w } from '../lib/sh.ts';
import { builtBinaryPath, findSourceDir } from '../lib/source.ts';
import { isMain, runTask, UserError, type TaskContext, type TaskDefinition } from '../lib/task.ts';

const IMAGES = ['gateway', 'supervisor'] as const;
type ImageName = (typeof IMAGES)[number];

export function imageSpecs(ctx: TaskContext): Record<ImageName, ImageSpec> {
  const { gateway, supervisor } = devImages();
  const s = ctx.settings;
  return {
    gateway: {
      name: 'gateway',
      repo: gateway.repo,
      dockerfile: path.join(KIT_ROOT, 'deploy', 'docker', 'Dockerfile.gateway'),
      binary: 'openshell-gateway',
      buildArgs: s.gatewayBaseImage ? { BASE_IMAGE: s.gatewayBaseImage } : {},
    },
    supervisor: {
      name: 'supervisor',
      repo: supervisor.repo,
      dockerfile: path.join(KIT_ROOT, 'deploy', 'docker', 'Dockerfile.supervisor'),
      binary: 'openshell-sandbox',
      buildArgs: {},
    },
  };
}

/**
 * Build the image as :dev and as its content tag, and push both. An image whose
 * content tag :dev already points at is left alone (unless forced).
 */
export async function buildAndPush(ctx: TaskContext, engine: Engine, host: string, spec: ImageSpec, force = false): Promise<ImageResult> {
  const tag = contentTag(fs.readFileSync(spec.dockerfile, 'utf8'), fs.readFileSync(path.join(STAGE_DIR, spec.binary)), spec.buildArgs);
  if (!force) {
    const [dev, content] = await Promise.all([tagDigest(host, spec.repo, 'dev'), tagDigest(host, spec.repo, tag)]);
    if (dev !== undefined && dev === content) return { spec, contentTag: tag, action: 'unchanged' };
  }
  const refs = [`${host}/${spec.repo}:dev`, `${host}/${spec.repo}:${tag}`];
  const tags = refs.flatMap((r) => ['-t', r]);
  const buildArgs = Object.entries(spec.buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
  // The environment points at the engine already (useEngine).
  await ctx.log.progress(`building ${spec.repo}`, $w({ timeout: '30m' })`${engine.cli} build -f ${spec.dockerfile} ${tags} ${buildArgs} ${KIT_ROOT}`.quiet(!ctx.log.verbose));
  // Podman's own CLI must be told that the local registry speaks plain HTTP.
  const plainHttp = engine.cli === 'podman' ? ['--tls-verify=false'] : [];
  for (const ref of refs) await ctx.log.progress(`pushing ${ref}`, $w({ timeout: '10m' })`${engine.cli} push ${plainHttp} ${ref}`);
  return { spec, contentTag: tag, action: ctx.dryRun ? 'would push' : 'pushed' };
}

/** Build a binary in the OpenShell checkout with the configured command, or take the given path. */
async function binaryFor(ctx: TaskContext, which: ImageName, given: string | undefined): Promise<string | undefined> {
  if (given) return given;
  const s = ctx.settings;
  const source = findSourceDir(s);
  const command = which === 'gateway' ? s.gatewayBuildCommand : s.supervisorBuildCommand;
  ctx.log.step(`building the ${which} binary: ${command}`);
  // The command is a setting: a shell command line, run as such in the checkout.
  await $w({ cwd: source, timeout: '60m' })`sh -c ${command}`.quiet(false);
  const built = builtBinaryPath(source, command, imageSpecs(ctx)[which].binary);
  if (ctx.dryRun && !fs.existsSync(built)) return undefined;
  return built;
}

export const sync: TaskDefinition = {
  name: 'sync',
  summary: 'Build and push the gateway and supervisor images to the local registry, skipping what did not change',
  flags: {
    only: { help: 'gateway or supervisor: sync just one image', value: true },
    'gateway-bin': { help: 'use this gateway binary instead of building it', value: true },
    'supervisor-bin': { help: 'use this supervisor binary instead of building it', value: true },
    force: { help: 'build and push even when nothing changed' },
  },
  async main(ctx: TaskContext) {
    const s = ctx.settings;
    const only = ctx.flags.options.only as string | undefined;
    if (only !== undefined && !(IMAGES as readonly string[]).includes(only)) {
      throw new UserError(`--only=${JSON.stringify(only)} is not valid: allowed values are ${IMAGES.join(', ')}`, 2);
    }
    const wanted = IMAGES.filter((i) => only === undefined || i === only);

    // Detect
    const engine = await useEngine(ctx);
    const provider = await providerFor(s.provider);
    const host = provider.registry(ctx).host;
    const problem = await registryProblem(host);
    if (problem) throw new UserError(`${problem}: run \`mise run k8s:dev:up\` first (it creates the registry)`);
    ctx.log.ok(`engine ${engine.name} (${engine.reason}); registry ${host}`);

    // Build and push
    const specs = imageSpecs(ctx);
    const results = [];
    for (const which of wanted) {
      const bin = await binaryFor(ctx, which, ctx.flags.options[`${which}-bin`] as string | undefined);
      if (bin === undefined) {
        ctx.log.info(`[dry-run] would stage the ${which} binary in ${STAGE_DIR} and build and push ${host}/${specs[which].repo}:dev`);
        continue;
      }
      if (!fs.existsSync(bin)) throw new UserError(`no ${which} binary at ${bin}`, 2);
      // The supervisor runs inside any sandbox image and as an init container in a FROM-scratch image: no loader, no libraries.
      if (which === 'supervisor' && elfLinkage(bin) !== 'static') {
        throw new UserError(`${bin} is not a static binary (${elfLinkage(bin)}): sandbox pods cannot run it. Build it with OPENSHELL_DEV_SUPERVISOR_BUILD_COMMAND's default (${SUPERVISOR_BUILD_COMMAND})`);
      }
      stageBinary(bin, specs[which].binary);
      const r = await buildAndPush(ctx, engine, host, specs[which], ctx.flags.options.force === true);
      results.push(r);
      if (r.action === 'unchanged') ctx.log.ok(`${host}/${r.spec.repo}:dev unchanged (${r.contentTag})`);
      else ctx.log.ok(`${host}/${r.spec.repo}:dev ${r.action} (${r.contentTag})`);
    }

    // Report
    if (results.some((r) => r.action === 'pushed')) ctx.log.info('next: mise run k8s:dev:bootstrap (rolls the gateway onto the new images)');
    return 0;
  },
};

if (isMain(import.meta)) await runTask(sync);
