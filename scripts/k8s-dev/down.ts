// k8s:dev:down — delete the dev cluster and its registry, and remove only our
// kubeconfig entries. Idempotent: a re-run finds nothing and changes nothing.
import { existsSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { $w } from '../lib/sh.ts';
import { removeFromUser } from '../lib/kubeconfig.ts';
import { providerFor } from '../lib/providers/index.ts';
import { kubeNames } from '../lib/settings.ts';
import { isMain, runTask, type TaskContext, type TaskDefinition } from '../lib/task.ts';
import { MANAGED_BY_LABEL } from '../lib/bootstrap.ts';

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
    } else if (state.exists) {
      ctx.log.step(`deleting ${provider.name} cluster ${s.cluster}`);
      await provider.delete(ctx);
      ctx.log.ok(`cluster ${s.cluster} deleted`);
    } else {
      // Still sweep leftovers (a registry kept from an earlier cluster, stray files).
      await provider.delete(ctx);
      ctx.log.ok(`no cluster ${s.cluster}: nothing to delete`);
    }

    if (provider.name !== 'existing') {
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
