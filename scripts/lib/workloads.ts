// Rollout state of Deployments and StatefulSets, read from their status, and a
// wait that polls it through the API with a deadline.
import { call, waitFor, type Kube } from './kube.ts';
import type { TaskContext } from './task.ts';

export interface WorkloadLike {
  kind?: string;
  metadata?: { name?: string; namespace?: string; generation?: number };
  spec?: { replicas?: number; updateStrategy?: { type?: string } };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
  };
}

/** null when rolled out, else what is still pending (kubectl rollout status's rules). */
export function rolloutPending(w: WorkloadLike): string | null {
  const want = w.spec?.replicas ?? 1;
  const st = w.status ?? {};
  if ((st.observedGeneration ?? 0) < (w.metadata?.generation ?? 0)) return 'waiting for the controller to observe the update';
  if ((st.updatedReplicas ?? 0) < want) return `${st.updatedReplicas ?? 0}/${want} replicas updated`;
  if ((st.readyReplicas ?? 0) < want) return `${st.readyReplicas ?? 0}/${want} replicas ready`;
  if (w.kind === 'Deployment' && (st.availableReplicas ?? 0) < want) return `${st.availableReplicas ?? 0}/${want} replicas available`;
  if (w.kind === 'StatefulSet' && st.updateRevision && st.currentRevision && st.updateRevision !== st.currentRevision && (st.replicas ?? 0) > want) {
    return 'old revision still running';
  }
  return null;
}

export async function readWorkload(kube: Kube, kind: string, namespace: string, name: string): Promise<WorkloadLike> {
  const obj =
    kind === 'StatefulSet'
      ? await call(`read StatefulSet ${namespace}/${name}`, kube.apps.readNamespacedStatefulSet({ name, namespace }), kube.timeoutMs)
      : await call(`read Deployment ${namespace}/${name}`, kube.apps.readNamespacedDeployment({ name, namespace }), kube.timeoutMs);
  return { ...obj, kind } as WorkloadLike;
}

/** Workloads (Deployments and StatefulSets) in a namespace matching a label selector. */
export async function findWorkloads(kube: Kube, namespace: string, labelSelector: string): Promise<WorkloadLike[]> {
  const [deps, sets] = await Promise.all([
    call('list Deployments', kube.apps.listNamespacedDeployment({ namespace, labelSelector }), kube.timeoutMs),
    call('list StatefulSets', kube.apps.listNamespacedStatefulSet({ namespace, labelSelector }), kube.timeoutMs),
  ]);
  return [...deps.items.map((d) => ({ ...d, kind: 'Deployment' })), ...sets.items.map((s) => ({ ...s, kind: 'StatefulSet' }))] as WorkloadLike[];
}

export async function waitForRollout(ctx: TaskContext, kube: Kube, kind: string, namespace: string, name: string): Promise<void> {
  let last = '';
  await ctx.log.progress(
    `waiting for ${kind} ${namespace}/${name} to roll out`,
    waitFor(`${kind} ${namespace}/${name} to roll out`, ctx.settings.timeoutSec, async () => {
      const pending = rolloutPending(await readWorkload(kube, kind, namespace, name));
      if (pending && pending !== last) ctx.log.debug(`${kind} ${name}: ${pending}`);
      last = pending ?? '';
      return pending === null ? true : undefined;
    }),
  );
}
