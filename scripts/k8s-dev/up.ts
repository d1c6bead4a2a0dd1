// k8s:dev:up — create the dev cluster and registry if absent, write the
// cluster's kubeconfig, wait for Ready nodes, advertise the registry.
// Idempotent: on a healthy cluster it changes nothing and returns fast.
import { advertiseRegistry, connect, syncKubeconfig, waitForNodes } from '../lib/cluster.ts';
import { providerFor } from '../lib/providers/index.ts';
import { registryProblem } from '../lib/registry.ts';
import { isMain, runTask, type TaskContext, type TaskDefinition } from '../lib/task.ts';
import { requireTools } from '../lib/tools.ts';

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
    if (!state.exists) {
      ctx.log.step(`creating ${provider.name} cluster ${s.cluster}`);
      await provider.create(ctx);
    } else if (!state.running) {
      ctx.log.step(`starting ${provider.name} cluster ${s.cluster} (${state.detail})`);
      await provider.start(ctx);
    } else {
      ctx.log.ok(`cluster ${s.cluster} is running (${state.detail})`);
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
