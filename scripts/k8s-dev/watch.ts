// k8s:dev:watch — the in-cluster loop: `skaffold dev` against the dev cluster.
// Skaffold builds the images, pushes them to the registry the cluster
// advertises (kube-public/local-registry-hosting: the repositories `sync` pushes
// to), upgrades the release and streams logs. Arguments that are not the
// task's own go to skaffold (`mise run k8s:dev:watch -- -p ha`). Ctrl+C reaches
// skaffold, which deletes what it deployed; the task waits for it, so no
// process or release is left behind.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { useEngine } from '../lib/engine.ts';
import { providerFor } from '../lib/providers/index.ts';
import { HOSTING_NAME, HOSTING_NAMESPACE, hostingHost, registryEndpoints } from '../lib/registry.ts';
import { KIT_ROOT } from '../lib/settings.ts';
import { $ } from 'zx';
import { $w } from '../lib/sh.ts';
import { isMain, runTask, UserError, type TaskContext, type TaskDefinition } from '../lib/task.ts';
import { requireTools } from '../lib/tools.ts';

export const SKAFFOLD_FILE = join(KIT_ROOT, 'skaffold.yaml');

/** The registry host the cluster advertises (KEP-1755), else the kit's own. */
export async function advertisedRegistry(ctx: TaskContext): Promise<string> {
  const s = ctx.settings;
  const r = await $({ nothrow: true, timeout: '15s' })`kubectl --kubeconfig ${s.kubeconfig} -n ${HOSTING_NAMESPACE} get configmap ${HOSTING_NAME} -o jsonpath=${'{.data.localRegistryHosting\\.v1}'}`;
  return (r.ok && hostingHost(r.stdout)) || registryEndpoints(s).host;
}

export const watch: TaskDefinition = {
  name: 'watch',
  summary: 'Run skaffold dev against the dev cluster: rebuild, push and roll out on every change; Ctrl+C cleans up',
  passthrough: 'skaffold dev (e.g. -p ha)',
  async main(ctx: TaskContext) {
    const s = ctx.settings;
    const kc = ['--kubeconfig', s.kubeconfig];
    let registry = registryEndpoints(s).host;
    if (!ctx.dryRun) {
      // Detect: the tools, the cluster, the engine skaffold builds with, the registry it pushes to.
      await requireTools('skaffold', 'helm', 'kubectl');
      if (!existsSync(s.kubeconfig)) throw new UserError(`no kubeconfig at ${s.kubeconfig}: run \`mise run k8s:dev:up\` first`);
      const state = await (await providerFor(s.provider)).state(ctx);
      if (!state.running) throw new UserError(`cluster ${s.cluster} is not running (${state.detail}): run \`mise run k8s:dev:up\` first`);
      const engine = await useEngine(ctx);
      registry = await advertisedRegistry(ctx);
      ctx.log.step(`skaffold dev (engine ${engine.name}, registry ${registry}; Ctrl+C stops and cleans up)`);
    }

    // Run until Ctrl+C: skaffold's own output on the terminal; --cleanup deletes the release on the way out.
    $.env.SKAFFOLD_INTERACTIVE = 'false';
    $.env.SKAFFOLD_UPDATE_CHECK = 'false';
    // skaffold.yaml reads it from the environment (a value from .env included).
    if (s.gatewayBaseImage) $.env.OPENSHELL_DEV_GATEWAY_BASE_IMAGE = s.gatewayBaseImage;
    const r = await $w({ cwd: KIT_ROOT, stdio: 'inherit', nothrow: true })`skaffold dev --filename ${SKAFFOLD_FILE} ${kc} --namespace ${s.namespace} --default-repo ${registry} --cleanup=true ${ctx.flags.args}`;
    return r.exitCode ?? 1;
  },
};

if (isMain(import.meta)) await runTask(watch);
