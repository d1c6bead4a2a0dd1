// The Helm release the dev loop installs, as bootstrap and status read it.
import { $ } from 'zx';
import type { Settings } from './settings.ts';
import type { TaskContext } from './task.ts';
import { UserError } from './task.ts';

export interface ReleaseStatus {
  status: string;
  revision: string;
}

/** `helm status`: undefined when the release is not installed; an error when helm fails otherwise. */
export async function releaseStatus(ctx: TaskContext): Promise<ReleaseStatus | undefined> {
  const s = ctx.settings;
  const r = await $({ nothrow: true, timeout: '60s' })`helm --kubeconfig ${s.kubeconfig} status ${s.release} --namespace ${s.namespace} -o json`;
  if (!r.ok) {
    if (/not found/i.test(r.stderr)) return undefined;
    throw new UserError(`helm status ${s.release} failed: ${r.stderr.trim().split('\n').pop()}`);
  }
  const info = JSON.parse(r.stdout) as { info?: { status?: string }; version?: number };
  return { status: info.info?.status ?? 'unknown', revision: String(info.version ?? '') };
}

/** The chart's gateway pods and workload, for this release. */
export function gatewaySelector(s: Pick<Settings, 'release'>): string {
  return `app.kubernetes.io/instance=${s.release},app.kubernetes.io/component=gateway`;
}
