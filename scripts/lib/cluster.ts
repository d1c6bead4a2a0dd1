// Steps on a running cluster that several tasks share: write its kubeconfig,
// wait for its nodes, advertise the registry.
import { homedir } from 'node:os';
import { writeOwnFile, mergeIntoUser, type KubeNames } from './kubeconfig.ts';
import { call, connect, getOrUndefined, waitFor, type Kube } from './kube.ts';
import { $w } from './sh.ts';
import type { ClusterProvider } from './providers/types.ts';
import { hostingConfigMap, HOSTING_NAME, HOSTING_NAMESPACE } from './registry.ts';
import { MANAGED_BY } from './bootstrap.ts';
import { kubeNames } from './settings.ts';
import type { TaskContext } from './task.ts';
import { parse, stringify } from 'yaml';

/** The names our kubeconfig entries use: k3d's/kwok's convention, or the existing context's own. */
export function namesFromKubeconfig(text: string, fallback: KubeNames): KubeNames {
  const cfg = parse(text) as { 'current-context'?: string; contexts?: Array<{ name: string; context: { cluster: string; user: string } }> };
  const ctx = cfg?.contexts?.find((c) => c.name === cfg['current-context']) ?? cfg?.contexts?.[0];
  return ctx ? { context: ctx.name, cluster: ctx.context.cluster, user: ctx.context.user } : fallback;
}

/** Write the cluster's kubeconfig to its own file, and merge it into the user's when asked. */
export async function syncKubeconfig(ctx: TaskContext, provider: ClusterProvider): Promise<void> {
  const s = ctx.settings;
  const text = (await provider.kubeconfig(ctx)).trimEnd() + '\n';
  const change = writeOwnFile(s.kubeconfig, text, ctx.dryRun);
  if (change === 'unchanged') ctx.log.debug(`kubeconfig ${s.kubeconfig} unchanged`);
  else ctx.log.ok(`kubeconfig ${change}${ctx.dryRun ? ' (dry run: not written)' : ''}: ${s.kubeconfig}`);
  if (s.mergeKubeconfig && provider.name !== 'existing') {
    const names = namesFromKubeconfig(text, kubeNames(s));
    const r = mergeIntoUser({ ours: text, names, env: ctx.env, home: ctx.env.HOME ?? homedir(), ownFile: s.kubeconfig, dryRun: ctx.dryRun });
    if (r.change !== 'unchanged') {
      ctx.log.ok(`merged context ${names.context} into ${r.file}${r.backup ? ` (backup: ${r.backup})` : ''}${ctx.dryRun ? ' (dry run: not written)' : ''}`);
    }
  }
}

interface NodeLike {
  metadata?: { name?: string };
  status?: { conditions?: Array<{ type: string; status: string }> };
}

export function readyNodes(nodes: NodeLike[]): { ready: string[]; notReady: string[] } {
  const ready: string[] = [];
  const notReady: string[] = [];
  for (const n of nodes) {
    const ok = n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    (ok ? ready : notReady).push(n.metadata?.name ?? '?');
  }
  return { ready, notReady };
}

/** Wait until at least `expected` nodes exist and all are Ready. */
export async function waitForNodes(ctx: TaskContext, kube: Kube, expected: number): Promise<string[]> {
  return ctx.log.progress(
    `waiting for ${expected} node(s) to be Ready`,
    waitFor(`${expected} Ready node(s)`, ctx.settings.timeoutSec, async () => {
      const list = await call('list nodes', kube.core.listNode(), kube.timeoutMs);
      const { ready, notReady } = readyNodes(list.items);
      return ready.length >= expected && notReady.length === 0 ? ready : undefined;
    }),
  );
}

/**
 * Server-side apply of `objects` as the kit's field manager: every write the kit makes to the
 * cluster goes through here (or another `$w` command), so --dry-run prints it instead.
 * --force-conflicts: the kit owns the fields it sets even where another manager wrote them
 * first (k3d creates kube-public/local-registry-hosting itself with a client-side apply).
 */
export async function apply(ctx: TaskContext, ...objects: object[]): Promise<void> {
  const input = objects.map((o) => stringify(o)).join('---\n');
  await $w({ input, timeout: '60s' })`kubectl --kubeconfig ${ctx.settings.kubeconfig} apply --server-side --force-conflicts --field-manager ${MANAGED_BY} -f -`;
}

/** Create or update kube-public/local-registry-hosting; unchanged when it already says the same. */
export async function advertiseRegistry(ctx: TaskContext, kube: Kube, provider: ClusterProvider): Promise<'created' | 'updated' | 'unchanged'> {
  const wanted = hostingConfigMap(provider.registry(ctx));
  const current = await getOrUndefined('read the registry ConfigMap', kube.core.readNamespacedConfigMap({ name: HOSTING_NAME, namespace: HOSTING_NAMESPACE }), kube.timeoutMs);
  if (current && JSON.stringify(current.data ?? {}) === JSON.stringify(wanted.data)) return 'unchanged';
  await apply(ctx, wanted);
  return current ? 'updated' : 'created';
}

/** Create a namespace (labelled as ours, so `down` on a shared cluster can find it) unless it exists. */
export async function ensureNamespace(ctx: TaskContext, kube: Kube, name: string): Promise<void> {
  const ns = await getOrUndefined(`read namespace ${name}`, kube.core.readNamespace({ name }), kube.timeoutMs);
  if (ns) return;
  await apply(ctx, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'app.kubernetes.io/managed-by': MANAGED_BY } } });
  if (!ctx.dryRun) ctx.log.ok(`namespace ${name} created`);
}

export { connect };
