// k8s:dev:gateway — run the gateway out-of-cluster against the dev cluster:
// KUBECONFIG and the Kubernetes driver settings from seed 000, then the
// gateway command (default `cargo run -p openshell-server --`) in the OpenShell
// checkout. Arguments that are not the task's own go to the gateway.
import { existsSync } from 'node:fs';
import { ensureNamespace } from '../lib/cluster.ts';
import { connect, getOrUndefined, serverVersion } from '../lib/kube.ts';
import { providerFor } from '../lib/providers/index.ts';
import { chooseMethod } from '../lib/sideload.ts';
import { devImages } from '../lib/bootstrap.ts';
import { $w } from '../lib/sh.ts';
import { findSourceDir } from '../lib/source.ts';
import { isMain, runTask, UserError, type TaskContext, type TaskDefinition } from '../lib/task.ts';

/** The environment seed 000 gives the out-of-cluster gateway. */
export function gatewayEnv(ctx: TaskContext, supervisorImage: string, sideload: string): NodeJS.ProcessEnv {
  const s = ctx.settings;
  return {
    KUBECONFIG: s.kubeconfig,
    OPENSHELL_DRIVERS: 'kubernetes',
    OPENSHELL_SANDBOX_NAMESPACE: s.sandboxNamespace,
    OPENSHELL_SANDBOX_IMAGE: supervisorImage,
    OPENSHELL_SUPERVISOR_SIDELOAD_METHOD: sideload,
  };
}

export const gateway: TaskDefinition = {
  name: 'gateway',
  summary: 'Run the gateway out-of-cluster (cargo run -p openshell-server) with KUBECONFIG and the Kubernetes driver',
  passthrough: 'the gateway',
  async main(ctx: TaskContext) {
    const s = ctx.settings;
    const source = findSourceDir(s);
    if (!existsSync(s.kubeconfig)) throw new UserError(`no kubeconfig at ${s.kubeconfig}: run \`mise run k8s:dev:up\` first`);
    const provider = await providerFor(s.provider);

    // Detect: the cluster answers, the sandbox CRD is there, the sandbox namespace exists.
    const kube = await connect(ctx);
    const version = await serverVersion(kube);
    const sideload = chooseMethod(s.sideloadMethod, version);
    const crd = await getOrUndefined('read the Sandbox CRD', kube.apiext.readCustomResourceDefinition({ name: 'sandboxes.agents.x-k8s.io' }), kube.timeoutMs);
    if (!crd) ctx.log.warn('the agent-sandbox CRDs are not installed: run `mise run k8s:dev:bootstrap` (the gateway cannot create sandboxes without them)');
    await ensureNamespace(ctx, kube, s.sandboxNamespace);

    // Run until Ctrl+C, in the checkout, with the driver's environment.
    const { supervisor } = devImages();
    const env = gatewayEnv(ctx, `${provider.registry(ctx).cluster}/${supervisor.repo}:${supervisor.tag}`, sideload.method);
    for (const [k, v] of Object.entries(env)) ctx.log.info(`${k}=${v}`);
    ctx.log.step(`running \`${s.gatewayCommand}\` in ${source} (Ctrl+C stops it)`);
    // The command is a setting: a shell command line; the arguments follow it as "$@".
    const r = await $w({ cwd: source, env: { ...ctx.env, ...env }, stdio: 'inherit', nothrow: true })`sh -c ${`${s.gatewayCommand} "$@"`} gateway ${ctx.flags.args}`;
    return r.exitCode ?? 1;
  },
};

if (isMain(import.meta)) await runTask(gateway);
