// k8s:dev:watch — the in-cluster loop: `skaffold dev` against the dev
// kubeconfig. Ctrl+C reaches skaffold, which deletes what it deployed; the
// runner waits for it, so no process or release is left behind.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { providerFor } from '../lib/providers/index.ts';
import { useEngine } from '../lib/engine.ts';
import { KIT_ROOT } from '../lib/settings.ts';
import { isMain, runTask, UserError, type TaskContext, type TaskDefinition } from '../lib/task.ts';
import { requireTools } from '../lib/tools.ts';

export const SKAFFOLD_FILE = join(KIT_ROOT, 'skaffold.yaml');

export function skaffoldArgv(ctx: TaskContext, extra: string[]): string[] {
  const s = ctx.settings;
  return [
    'skaffold',
    'dev',
    '--filename',
    SKAFFOLD_FILE,
    '--kubeconfig',
    s.kubeconfig,
    '--namespace',
    s.namespace,
    '--default-repo',
    `localhost:${s.registryPort}`,
    // Ctrl+C: delete the release and what it deployed.
    '--cleanup=true',
    ...extra,
  ];
}

export const watch: TaskDefinition = {
  name: 'watch',
  summary: 'Run skaffold dev against the dev cluster: rebuild, push and roll out on every change; Ctrl+C cleans up',
  passthrough: 'skaffold dev (e.g. -p ha)',
  async main(ctx: TaskContext) {
    const s = ctx.settings;
    if (ctx.run.dryRun) {
      await ctx.run.run({ argv: skaffoldArgv(ctx, ctx.flags.args), mutates: true });
      return 0;
    }
    await requireTools(ctx, 'skaffold', 'helm', 'kubectl');
    if (!existsSync(s.kubeconfig)) throw new UserError(`no kubeconfig at ${s.kubeconfig}: run \`mise run k8s:dev:up\` first`);
    const provider = await providerFor(s.provider);
    const state = await provider.state(ctx);
    if (!state.running) throw new UserError(`cluster ${s.cluster} is not running (${state.detail}): run \`mise run k8s:dev:up\` first`);
    const engine = await useEngine(ctx);
    ctx.log.step(`skaffold dev (engine ${engine.name}; Ctrl+C stops and cleans up)`);
    const r = await ctx.run.run({
      argv: skaffoldArgv(ctx, ctx.flags.args),
      cwd: KIT_ROOT,
      env: { SKAFFOLD_INTERACTIVE: 'false', SKAFFOLD_UPDATE_CHECK: 'false' },
      mode: 'inherit',
      mutates: true,
      check: false,
    });
    return r.code;
  },
};

if (isMain(import.meta)) await runTask(watch);
