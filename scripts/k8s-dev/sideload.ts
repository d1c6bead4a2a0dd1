// k8s:dev:sideload — put a rebuilt supervisor into every running sandbox pod in
// seconds, without an image rebuild:
//   1. build it (OPENSHELL_DEV_SUPERVISOR_BUILD_COMMAND in the OpenShell
//      checkout), or take the path given as the first argument;
//   2. find the sandbox pods (OPENSHELL_DEV_SANDBOX_SELECTOR in the sandbox namespace);
//   3. per pod, a few at a time: kubectl cp beside the old binary, compare
//      sha256 in the pod with the local one, `mv -f` into place (atomic on the
//      same filesystem; a running binary is never overwritten in place);
//   4. pods whose /opt/openshell/bin is read-only (an image volume always is)
//      cannot be swapped: the binary goes into a fresh FROM-scratch supervisor
//      image, pushed to the local registry, and those pods are restarted.
// Skaffold's file sync writes the same path, /opt/openshell/bin/openshell-sandbox.
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { useEngine } from '../lib/engine.ts';
import { REGISTRY_CONTAINER_PORT, splitImage } from '../lib/registry.ts';
import { $, $w } from '../lib/sh.ts';
import {
  hotSwap,
  kubectlTransport,
  sandboxPodsFrom,
  sha256File,
  supervisorDockerfile,
  SUPERVISOR_MOUNT_PATH,
  type SandboxPod,
  type SwapOutcome,
} from '../lib/sideload.ts';
import { devImages } from '../lib/bootstrap.ts';
import { builtBinaryPath, findSourceDir } from '../lib/source.ts';
import { isMain, runTask, UserError, type TaskContext, type TaskDefinition } from '../lib/task.ts';

export const DEFAULT_CONCURRENCY = 4;

/** The image to push so restarted pods pick the binary up: the pods' own repository and tag, at the registry's host port. */
export function fallbackImage(podImage: string | undefined, registryName: string, registryPort: number): { push: string; warning?: string } {
  const { supervisor } = devImages();
  const dev = `localhost:${registryPort}/${supervisor.repo}:${supervisor.tag}`;
  if (!podImage || !podImage.includes('/')) return { push: dev, warning: `the pods' supervisor image is unknown: pushing ${dev}` };
  const { registry, repo, tag } = splitImage(podImage);
  if (registry === `${registryName}:${REGISTRY_CONTAINER_PORT}` || registry === `localhost:${registryPort}` || registry === `127.0.0.1:${registryPort}`) {
    return { push: `localhost:${registryPort}/${repo}:${tag}` };
  }
  return { push: dev, warning: `the pods run ${podImage}, not an image from the dev registry: restarted pods will not see ${dev} unless the chart points supervisor.image at it` };
}

async function obtainBinary(ctx: TaskContext): Promise<string> {
  const given = ctx.flags.args[0];
  if (given) {
    const path = isAbsolute(given) ? given : resolve(process.cwd(), given);
    if (!existsSync(path) || !statSync(path).isFile()) throw new UserError(`${given}: no such file (give the path of a built openshell-sandbox binary)`, 2);
    return path;
  }
  const command = (ctx.flags.options['build-command'] as string | undefined) ?? ctx.settings.supervisorBuildCommand;
  const source = findSourceDir(ctx.settings);
  ctx.log.step(`building the supervisor: ${command} (in ${source})`);
  await $w({ cwd: source, timeout: '60m' })`sh -c ${command}`.quiet(false);
  const path = builtBinaryPath(source, command, 'openshell-sandbox');
  if (!ctx.dryRun && !existsSync(path)) {
    throw new UserError(`the build finished but ${path} does not exist: give the binary's path as the first argument, or fix OPENSHELL_DEV_SUPERVISOR_BUILD_COMMAND`);
  }
  return path;
}

/** Build a FROM-scratch image around the binary, push it, restart the pods. */
async function rolloutImage(ctx: TaskContext, binary: string, pods: SandboxPod[]): Promise<void> {
  const s = ctx.settings;
  const { push, warning } = fallbackImage(pods.find((p) => p.image)?.image, s.registryName, s.registryPort);
  if (warning) ctx.log.warn(warning);
  for (const p of pods) {
    if (p.pullPolicy && p.pullPolicy !== 'Always') {
      ctx.log.warn(`${p.namespace}/${p.name} pulls its supervisor with pullPolicy ${p.pullPolicy}: a node that already has the tag keeps the old binary (values.dev.yaml should set supervisor.image.pullPolicy=Always)`);
    }
  }
  let cli = 'docker';
  try {
    cli = (await useEngine(ctx)).cli;
  } catch (err) {
    if (!ctx.dryRun) throw err;
  }
  const dir = mkdtempSync(join(tmpdir(), 'openshell-supervisor-image-'));
  try {
    copyFileSync(binary, join(dir, 'openshell-sandbox'));
    writeFileSync(join(dir, 'Dockerfile'), supervisorDockerfile());
    ctx.log.step(`image fallback: ${push}`);
    await $w({ timeout: '10m' })`${cli} build -t ${push} ${dir}`.quiet(false);
    await ctx.log.progress(`pushing ${push}`, $w({ timeout: '10m' })`${cli} push ${push}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const byNs = new Map<string, string[]>();
  for (const p of pods) byNs.set(p.namespace, [...(byNs.get(p.namespace) ?? []), p.name]);
  for (const [ns, names] of byNs) {
    await $w({ timeout: '60s' })`kubectl --kubeconfig ${s.kubeconfig} delete pod -n ${ns} ${names} --wait=false`;
  }
}

export const sideload: TaskDefinition = {
  name: 'sideload',
  summary: 'Hot-swap a rebuilt supervisor binary into the running sandbox pods (kubectl cp, verify, rename)',
  flags: {
    'build-command': { help: 'build command run in the OpenShell checkout (default: OPENSHELL_DEV_SUPERVISOR_BUILD_COMMAND)', value: true },
    concurrency: { help: `pods swapped at once (default ${DEFAULT_CONCURRENCY})`, value: true },
    restart: { help: 'restart each agent container after the swap (kill PID 1) so the new binary runs now' },
    'no-fallback': { help: 'do not rebuild and push the image for pods whose binary directory is read-only' },
  },
  async main(ctx) {
    const s = ctx.settings;
    const concurrencyRaw = (ctx.flags.options.concurrency as string | undefined) ?? String(DEFAULT_CONCURRENCY);
    if (!/^\d+$/.test(concurrencyRaw) || Number(concurrencyRaw) < 1 || Number(concurrencyRaw) > 32) {
      throw new UserError(`--concurrency ${concurrencyRaw} is not valid: a whole number 1–32`, 2);
    }
    const concurrency = Number(concurrencyRaw);
    if (!existsSync(s.kubeconfig) && !ctx.dryRun) {
      throw new UserError(`no kubeconfig at ${s.kubeconfig}: run \`mise run k8s:dev:up\` first (or set OPENSHELL_DEV_KUBECONFIG)`);
    }

    const binary = await obtainBinary(ctx);
    const sha256 = existsSync(binary) ? await sha256File(binary) : '(not built: dry run)';
    ctx.log.info(`supervisor binary ${binary}${existsSync(binary) ? ` (sha256 ${sha256.slice(0, 12)})` : ''}`);

    ctx.log.step(`finding sandbox pods: -l ${s.sandboxSelector} in namespace ${s.sandboxNamespace}`);
    const list = await $({ nothrow: true, timeout: '30s' })`kubectl --kubeconfig ${s.kubeconfig} get pods -n ${s.sandboxNamespace} -l ${s.sandboxSelector} -o json`;
    if (!list.ok) {
      const why = (list.stderr || list.stdout).trim().split('\n').pop() ?? `exit ${list.exitCode}`;
      throw new UserError(`cannot list the sandbox pods (${why}): is the cluster up? (mise run k8s:dev:up; mise run k8s:dev:status)`);
    }
    const pods = sandboxPodsFrom(list.stdout || '{"items":[]}');
    if (pods.length === 0) {
      ctx.log.warn(`no running pod matches ${s.sandboxSelector} in ${s.sandboxNamespace}: nothing to update (create a sandbox first, or set OPENSHELL_DEV_SANDBOX_SELECTOR)`);
      return 0;
    }

    const noVolume = pods.filter((p) => p.method === undefined);
    const imageVolume = pods.filter((p) => p.method === 'image-volume');
    const swappable = pods.filter((p) => p.method === 'init-container');
    for (const p of noVolume) ctx.log.warn(`${p.namespace}/${p.name}: no openshell-supervisor-bin volume, skipped`);
    for (const p of imageVolume) ctx.log.info(`${p.namespace}/${p.name}: image volume at ${SUPERVISOR_MOUNT_PATH} is read-only: cannot hot-swap, will push a new image and restart`);

    let outcomes: SwapOutcome[] = [];
    if (swappable.length > 0 && existsSync(binary)) {
      ctx.log.step(`hot-swapping into ${swappable.length} pod(s), ${concurrency} at a time`);
      const transport = kubectlTransport(['--kubeconfig', s.kubeconfig]);
      outcomes = await ctx.log.progress(
        'kubectl cp, sha256, mv -f',
        hotSwap(ctx, transport, swappable, { localPath: binary, sha256, concurrency, restart: ctx.flags.options.restart === true }),
      );
    } else if (swappable.length > 0) {
      for (const p of swappable) ctx.log.info(`[dry-run] would kubectl cp the built binary into ${p.namespace}/${p.name} beside ${SUPERVISOR_MOUNT_PATH}/openshell-sandbox, check sha256, mv -f into place`);
    }

    const readOnly = [...imageVolume, ...swappable.filter((_, i) => outcomes[i]?.status === 'read-only')];
    for (const o of outcomes.filter((x) => x.status === 'read-only')) ctx.log.info(`${o.label}: ${o.detail}: will push a new image and restart`);
    let restarted: SandboxPod[] = [];
    if (readOnly.length > 0) {
      if (ctx.flags.options['no-fallback'] === true) {
        ctx.log.warn(`${readOnly.length} pod(s) not updated (read-only binary directory, --no-fallback)`);
      } else if (existsSync(binary) || ctx.dryRun) {
        await rolloutImage(ctx, binary, readOnly);
        restarted = readOnly;
      }
    }

    ctx.log.step('result');
    for (const o of outcomes) {
      if (o.status === 'updated' || o.status === 'planned') ctx.log.ok(`${o.label}: ${o.status} (${o.detail}, ${(o.ms / 1000).toFixed(1)}s)`);
      else if (o.status === 'failed') ctx.log.error(`${o.label}: ${o.detail}`);
    }
    for (const p of restarted) ctx.log.ok(`${p.namespace}/${p.name}: ${ctx.dryRun ? 'would restart' : 'restarted'} with the new image`);
    const updated = outcomes.filter((o) => o.status === 'updated').length;
    const failed = outcomes.filter((o) => o.status === 'failed').length;
    ctx.log.info(`${updated} updated in place, ${restarted.length} restarted with a new image, ${failed} failed, ${noVolume.length} skipped`);
    if (updated > 0 && ctx.flags.options.restart !== true) {
      ctx.log.info('the running supervisors keep the old binary until their container restarts (--restart does it now)');
    }
    return failed > 0 ? 1 : 0;
  },
};

if (isMain(import.meta)) await runTask(sideload);
