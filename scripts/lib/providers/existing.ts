// existing: any cluster your kubeconfig already reaches (seed 001: "point e2e
// tests at any cluster"). It never creates or deletes a cluster; `up` copies
// the chosen context into the kit's own kubeconfig file so every other task
// works unchanged, and `down` only removes what the kit installed.
import { registryEndpoints } from '../registry.ts';
import { $ } from 'zx';
import type { TaskContext } from '../task.ts';
import { UserError } from '../task.ts';
import type { ClusterProvider, ClusterState, Lifecycle, RegistryEndpoints } from './types.ts';

/** kubectl against the user's own kubeconfig (not the kit's file), in the chosen context. */
function contextArgs(ctx: TaskContext): string[] {
  return ctx.settings.context ? ['--context', ctx.settings.context] : [];
}

export const existingProvider: ClusterProvider & Lifecycle = {
  name: 'existing',
  tools: ['kubectl'],
  needsEngine: false,
  runsContainers: true,

  async state(ctx): Promise<ClusterState> {
    const what = ctx.settings.context || 'the current context';
    const r = await $({ nothrow: true, timeout: '15s' })`kubectl ${contextArgs(ctx)} version -o json --request-timeout=5s`;
    const serverVersion = /"serverVersion"[\s\S]*?"gitVersion"\s*:\s*"([^"]+)"/.exec(r.stdout)?.[1];
    if (serverVersion) return { exists: true, running: true, detail: `existing: ${what} (${serverVersion})` };
    const why = (r.stderr || r.stdout).trim().split('\n').pop() ?? 'no answer';
    return { exists: true, running: false, detail: `existing: ${what} does not answer (${why})` };
  },

  async create(ctx) {
    throw new UserError(
      `the existing provider never creates clusters: ${ctx.settings.context || 'the current context'} is not usable. Check \`kubectl config get-contexts\` and OPENSHELL_DEV_CONTEXT`,
    );
  },

  async start(ctx) {
    return this.create(ctx);
  },

  async delete() {
    // Not ours to delete.
  },

  async kubeconfig(ctx) {
    return (await $({ timeout: '15s' })`kubectl ${contextArgs(ctx)} config view --minify --flatten --raw`).stdout;
  },

  registry(ctx): RegistryEndpoints {
    return registryEndpoints(ctx.settings);
  },
};
