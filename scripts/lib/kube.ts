// The Kubernetes API, for tasks that talk to it. client-node is imported lazily
// (it costs ~1 s at start-up) and only ever loads our own kubeconfig file. Every
// call has an explicit timeout; watches are not used. 404 and 409 are states the
// callers test for (isNotFound, isConflict), not crashes.
import { existsSync } from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import type { TaskContext } from './task.ts';
import { UserError } from './task.ts';

export type ClientNode = typeof k8s;

export interface Kube {
  lib: ClientNode;
  config: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  apiext: k8s.ApiextensionsV1Api;
  version: k8s.VersionApi;
  objects: k8s.KubernetesObjectApi;
  /** Timeout (ms) applied by call(). */
  timeoutMs: number;
}

export const API_TIMEOUT_MS = 15_000;

let libPromise: Promise<ClientNode> | undefined;
export function loadClientNode(): Promise<ClientNode> {
  libPromise ??= import('@kubernetes/client-node');
  return libPromise;
}

/** A client for the dev cluster, from its own kubeconfig file. */
export async function connect(ctx: TaskContext, kubeconfig = ctx.settings.kubeconfig, timeoutMs = API_TIMEOUT_MS): Promise<Kube> {
  if (!existsSync(kubeconfig)) {
    throw new UserError(`no kubeconfig at ${kubeconfig}: run \`mise run k8s:dev:up\` first (or set OPENSHELL_DEV_KUBECONFIG)`);
  }
  const lib = await loadClientNode();
  const config = new lib.KubeConfig();
  try {
    config.loadFromFile(kubeconfig);
  } catch (err) {
    throw new UserError(`${kubeconfig} cannot be loaded: ${(err as Error).message}`);
  }
  return {
    lib,
    config,
    core: config.makeApiClient(lib.CoreV1Api),
    apps: config.makeApiClient(lib.AppsV1Api),
    apiext: config.makeApiClient(lib.ApiextensionsV1Api),
    version: config.makeApiClient(lib.VersionApi),
    objects: lib.KubernetesObjectApi.makeApiClient(config),
    timeoutMs,
  };
}

export class TimeoutError extends Error {}

/** One API call with a deadline. */
export async function call<T>(what: string, work: Promise<T>, timeoutMs = API_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what}: no answer from the API server within ${timeoutMs / 1000}s`)), timeoutMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function statusCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } };
  for (const c of [e?.code, e?.statusCode, e?.response?.statusCode]) if (typeof c === 'number') return c;
  return undefined;
}
export const isNotFound = (err: unknown) => statusCode(err) === 404;
export const isConflict = (err: unknown) => statusCode(err) === 409;

/** The value, or undefined on 404. */
export async function getOrUndefined<T>(what: string, work: Promise<T>, timeoutMs = API_TIMEOUT_MS): Promise<T | undefined> {
  try {
    return await call(what, work, timeoutMs);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export interface ServerVersion {
  major: number;
  minor: number;
  gitVersion: string;
}

export interface KubeVersion {
  major: number;
  minor: number;
}

/** "v1.35.1-k3s1", "1.29", "v1.30.4-gke.100", or {major:"1", minor:"31+"} → {1, 35}. Some builds report
 * major/minor as "": then gitVersion decides. */
export function parseKubeVersion(v: string | { major?: string; minor?: string; gitVersion?: string }): KubeVersion {
  if (typeof v !== 'string') {
    const major = Number.parseInt(v.major ?? '', 10);
    const minor = Number.parseInt((v.minor ?? '').replace(/\D.*$/, ''), 10);
    if (Number.isInteger(major) && Number.isInteger(minor)) return { major, minor };
    return parseKubeVersion(v.gitVersion ?? '');
  }
  const m = /^v?(\d+)\.(\d+)(?:\D|$)/.exec(v.trim());
  if (!m) throw new Error(`not a Kubernetes version: ${JSON.stringify(v)}`);
  return { major: Number(m[1]), minor: Number(m[2]) };
}

export function parseVersion(v: { major?: string; minor?: string; gitVersion?: string }): ServerVersion {
  const { major, minor } = parseKubeVersion(v);
  return { major, minor, gitVersion: v.gitVersion || `v${major}.${minor}` };
}

export async function serverVersion(kube: Kube): Promise<ServerVersion> {
  const info = await call('GET /version', kube.version.getCode(), kube.timeoutMs);
  return parseVersion(info);
}

/** Poll `check` until it returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(what: string, timeoutSec: number, check: () => Promise<T | undefined>, intervalMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutSec * 1000;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      throw new UserError(`timed out after ${timeoutSec}s waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}; raise OPENSHELL_DEV_TIMEOUT if the cluster is just slow`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
