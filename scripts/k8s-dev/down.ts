// k8s:dev:down — delete the dev cluster and its registry, and remove only our
// kubeconfig entries. Idempotent: a re-run finds nothing and changes nothing.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { $ } from 'zx';
import { MANAGED_BY_LABEL } from '../lib/bootstrap.ts';
import { useEngine } from '../lib/engine.ts';
import { removeFromUser } from '../lib/kubeconfig.ts';
import { providerFor } from '../lib/providers/index.ts';
import { k3dList, sweepLeftovers } from '../lib/providers/k3d.ts';
import { kubeNames } from '../lib/settings.ts';
import { $w } from '../lib/sh.ts';
import { isMain, runTask, type TaskContext, type TaskDefinition } from '../lib/task.ts';

/** `k3d cluster delete`, then a registry kept from an earlier cluster, then what a failed create left. */
export async function deleteK3dCluster(ctx: TaskContext): Promise<void> {
  const s = ctx.settings;
  const engine = await useEngine(ctx);
  if ((await k3dList('cluster')).some((c) => c.name === s.cluster)) {
    // `k3d cluster delete` also rewrites the default kubeconfig (KUBECONFIG or ~/.kube/config)
    // through client-go, reformatting it and dropping its comments, even when it holds none of
    // our entries. The kit removes ours itself, byte for byte: k3d gets a scratch kubeconfig.
    const scratch = mkdtempSync(join(tmpdir(), 'openshell-k3d-delete-'));
    const kubeconfig = join(scratch, 'kubeconfig');
    writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\n', { mode: 0o600 });
    try {
      await ctx.log.progress(`deleting k3d cluster ${s.cluster}`, $w({ timeout: '180s', env: { ...$.env, KUBECONFIG: kubeconfig } })`k3d cluster delete ${s.cluster}`.quiet(false));
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  // k3d removes a registry it created with the cluster; one reused from earlier may remain.
  if ((await k3dList('registry')).some((r) => r.name === s.registryName)) {
    await $w({ timeout: '60s' })`k3d registry delete ${s.registryName}`;
  }
  const swept = await sweepLeftovers(ctx, engine.cli);
  if (swept.length > 0) ctx.log.ok(`removed what an earlier failed create left: ${swept.join(', ')}`);
}

export const down: TaskDefinition = {
  name: 'down',
  summary: 'Delete the local cluster and registry, and remove our kubeconfig entries',
  async main(ctx: TaskContext) {
    const s = ctx.settings;
    const provider = await providerFor(s.provider);
    const state = await provider.state(ctx);

    if (provider.name === 'existing') {
      // Not our cluster: remove only what bootstrap installed.
      if (state.running && existsSync(s.kubeconfig)) {
        ctx.log.step(`removing release ${s.release} and our namespaces from ${state.detail}`);
        const kc = ['--kubeconfig', s.kubeconfig];
        const timeout = (s.timeoutSec + 30) * 1000;
        await ctx.log.progress(`helm uninstall ${s.release}`, $w({ timeout })`helm ${kc} uninstall ${s.release} --namespace ${s.namespace} --ignore-not-found --wait --timeout ${s.timeoutSec}s`);
        await ctx.log.progress('deleting our namespaces', $w({ timeout })`kubectl ${kc} delete namespace -l ${MANAGED_BY_LABEL} --ignore-not-found --wait=true --timeout=${s.timeoutSec}s`);
      }
    } else {
      // Also when there is no cluster: a registry kept from an earlier one, or what a failed create left.
      if (state.exists) ctx.log.step(`deleting ${provider.name} cluster ${s.cluster}`);
      await (provider.name === 'k3d' ? deleteK3dCluster(ctx) : provider.delete!(ctx));
      ctx.log.ok(state.exists ? `cluster ${s.cluster} deleted` : `no cluster ${s.cluster}: nothing to delete`);
      for (const r of removeFromUser({ names: kubeNames(s), env: ctx.env, home: ctx.env.HOME ?? homedir(), dryRun: ctx.dryRun })) {
        ctx.log.ok(`removed context ${kubeNames(s).context} from ${r.file}${ctx.dryRun ? ' (dry run: not written)' : ` (backup: ${r.backup})`}`);
      }
    }
    if (existsSync(s.kubeconfig)) {
      if (ctx.dryRun) ctx.log.info(`[dry-run] would remove ${s.kubeconfig}`);
      else rmSync(s.kubeconfig, { force: true });
      ctx.log.ok(`removed ${s.kubeconfig}`);
    }
    return 0;
  },
};

if (isMain(import.meta)) await runTask(down);
