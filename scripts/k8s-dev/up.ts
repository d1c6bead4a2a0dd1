// k8s:dev:up — create the dev cluster and its registry if absent (or start it),
// write the cluster's kubeconfig, wait for Ready nodes, advertise the registry.
// Idempotent: on a healthy cluster it changes nothing and returns fast.
//
// k3d (the default) runs the commands below; the `existing` provider never
// creates anything, and the test bed's kwok provider brings its own.
import { existsSync } from 'node:fs';
import { $, ProcessOutput, YAML } from 'zx';
import { advertiseRegistry, connect, syncKubeconfig, waitForNodes } from '../lib/cluster.ts';
import { useEngine } from '../lib/engine.ts';
import { portProblem } from '../lib/ports.ts';
import { providerFor } from '../lib/providers/index.ts';
import { k3dConfig, k3dList, sweepLeftovers } from '../lib/providers/k3d.ts';
import { registryProblem } from '../lib/registry.ts';
import { $w } from '../lib/sh.ts';
import { isMain, runTask, UserError, type TaskContext, type TaskDefinition } from '../lib/task.ts';
import { requireTools } from '../lib/tools.ts';
import { deleteK3dCluster } from './down.ts';

/** `k3d cluster create`, from deploy/k3d/cluster.yaml with the settings applied, on stdin. */
async function createK3dCluster(ctx: TaskContext): Promise<void> {
  const s = ctx.settings;
  // A registry left from an earlier cluster keeps its images: the new cluster uses it.
  // (A dry run prints the config even where k3d is not installed yet.)
  const registries = await k3dList('registry').catch((err: Error) => (ctx.dryRun ? [] : Promise.reject(err)));
  const reuseRegistry = registries.some((r) => r.name === s.registryName);
  const busy = await Promise.all([
    portProblem('OPENSHELL_DEV_HTTP_PORT', s.httpPort),
    reuseRegistry ? null : portProblem('OPENSHELL_DEV_REGISTRY_PORT', s.registryPort),
  ]);
  const problems = busy.filter((p): p is string => p !== null);
  if (problems.length > 0) throw new UserError(problems.join('\n'), 2);

  const config = YAML.stringify(k3dConfig(s, { reuseRegistry }));
  try {
    await ctx.log.progress(`creating k3d cluster ${s.cluster}`, $w({ input: config, timeout: `${s.timeoutSec + 120}s` })`k3d cluster create --config -`.quiet(false));
  } catch (err) {
    // Leave nothing half-made behind, so the next `up` starts clean.
    const swept = await sweepLeftovers(ctx, (await useEngine(ctx)).cli);
    const said = err instanceof ProcessOutput ? err.stdout + err.stderr : String(err);
    const pull = /failed to pull image '([^']+)'/.exec(said)?.[1];
    const hint = pull ? `the engine cannot pull ${pull}: check its network access (or pull it by hand), then re-run` : 'see the output above, then re-run';
    throw new UserError(`k3d could not create cluster ${s.cluster}: ${hint}${swept.length ? ` (removed what it left: ${swept.join(', ')})` : ''}`);
  }
}

/** `k3d cluster start`; a cluster a create left half-made (Ctrl+C, a failed rollback) is deleted and created again. */
async function startK3dCluster(ctx: TaskContext): Promise<void> {
  const s = ctx.settings;
  const recreate = async (why: string) => {
    ctx.log.warn(`cluster ${s.cluster} was left half-created (${why}): deleting what remains and creating it again`);
    await deleteK3dCluster(ctx);
    await createK3dCluster(ctx);
  };
  // Such a cluster has no kubeconfig from us yet: up writes it only after a create succeeds.
  const engine = await useEngine(ctx);
  const net = await $({ nothrow: true, timeout: '30s' })`${engine.cli} network inspect ${`k3d-${s.cluster}`}`;
  if (!net.ok && !ctx.dryRun) return recreate(`its network k3d-${s.cluster} is gone`);
  try {
    await ctx.log.progress(`starting k3d cluster ${s.cluster}`, $w({ timeout: `${s.timeoutSec + 60}s` })`k3d cluster start ${s.cluster} --wait --timeout ${s.timeoutSec}s`.quiet(false));
  } catch (err) {
    if (ctx.dryRun || existsSync(s.kubeconfig)) throw err;
    await recreate(`k3d cannot start it, and no up finished creating it: there is no ${s.kubeconfig}`);
  }
}

export const up: TaskDefinition = {
  name: 'up',
  summary: 'Create the local cluster and registry if absent, write its kubeconfig, wait until nodes are Ready',
  async main(ctx: TaskContext) {
    const s = ctx.settings;
    const provider = await providerFor(s.provider);

    // Detect (a dry run goes on without the tools: it prints what it would run)
    const state = await provider.state(ctx).catch((err: Error) => {
      if (!ctx.dryRun) throw err;
      ctx.log.warn(`cannot tell whether cluster ${s.cluster} exists (${err.message.split('\n')[0]}): assuming it does not`);
      return { exists: false, running: false, detail: 'unknown' };
    });
    ctx.log.debug(state.detail);

    // Create (or start); tools are checked only when there is work for them, so a no-op re-run stays fast.
    if (!state.running) await requireTools(...provider.tools).catch((err: Error) => (ctx.dryRun ? ctx.log.warn(err.message) : Promise.reject(err)));
    if (state.running) {
      ctx.log.ok(`cluster ${s.cluster} is running (${state.detail})`);
    } else if (!state.exists) {
      ctx.log.step(`creating ${provider.name} cluster ${s.cluster}`);
      await (provider.name === 'k3d' ? createK3dCluster(ctx) : provider.create!(ctx));
    } else {
      ctx.log.step(`starting ${provider.name} cluster ${s.cluster} (${state.detail})`);
      await (provider.name === 'k3d' ? startK3dCluster(ctx) : provider.start!(ctx));
    }
    if (ctx.dryRun && !state.running) {
      ctx.log.info(`[dry-run] would write the kubeconfig to ${s.kubeconfig}, wait for ${s.agents + 1} Ready node(s) and advertise the registry`);
      return 0;
    }

    // Wait
    await syncKubeconfig(ctx, provider);
    const kube = await connect(ctx);
    const expected = provider.name === 'existing' ? 1 : s.agents + 1;
    const nodes = await waitForNodes(ctx, kube, expected);
    // A cluster the kit did not make keeps its own registry configuration.
    if (provider.name !== 'existing') {
      const advertised = await advertiseRegistry(ctx, kube, provider);
      if (advertised !== 'unchanged') ctx.log.ok(`registry advertised in kube-public/local-registry-hosting (${advertised})`);
    }

    // Report
    const registry = provider.registry(ctx);
    const problem = await registryProblem(registry.host);
    if (problem) ctx.log.warn(`registry: ${problem}`);
    ctx.log.ok(`ready: ${nodes.length} node(s) Ready; registry ${registry.host} (pods pull from ${registry.cluster})`);
    ctx.log.info(`export KUBECONFIG=${s.kubeconfig}`);
    ctx.log.info('next: mise run k8s:dev:bootstrap');
    return 0;
  },
};

if (isMain(import.meta)) await runTask(up);
