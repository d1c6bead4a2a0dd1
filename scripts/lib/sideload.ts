// How the supervisor binary reaches sandbox pods (seed 002), and how a rebuilt
// one is hot-swapped into running pods.
//
//   image-volume    the supervisor image (binary at /openshell-sandbox) mounted
//                   read-only at /opt/openshell/bin; no init container.
//   init-container  an emptyDir, filled by an init container running the
//                   supervisor's `copy-self /opt/openshell/bin/openshell-sandbox`.
//
// Either way the agent container mounts the volume read-only at
// /opt/openshell/bin, runs /opt/openshell/bin/openshell-sandbox as root.
//
// The auto rule (Kubernetes 1.35 or newer → image-volume, else init-container)
// is the same rule as the chart's `openshell.supervisor.sideloadMethod`
// template; test/chart/sideload-agreement.test.ts renders the chart for every
// minor 1.29–1.36 and compares.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import { $, $w } from './sh.ts';
import { SettingsError, SIDELOAD_METHODS, type SideloadMethod } from './settings.ts';
import { parseKubeVersion, type KubeVersion } from './kube.ts';
import type { TaskContext } from './task.ts';

export { SIDELOAD_METHODS, type SideloadMethod };

export const SIDELOAD_SETTING = 'OPENSHELL_SUPERVISOR_SIDELOAD_METHOD';
export const SUPERVISOR_VOLUME = 'openshell-supervisor-bin';
export const SUPERVISOR_MOUNT_PATH = '/opt/openshell/bin';
export const SUPERVISOR_BINARY = `${SUPERVISOR_MOUNT_PATH}/openshell-sandbox`;
/** Where the FROM-scratch supervisor image keeps its binary. */
export const SUPERVISOR_IMAGE_BINARY = '/openshell-sandbox';
export const SUPERVISOR_INIT_CONTAINER = 'openshell-supervisor-install';
/** The container the driver overrides (else the pod's first container). */
export const AGENT_CONTAINER = 'agent';
/** First minor with image volumes on by default (beta, enabled) — the chart's threshold. */
export const IMAGE_VOLUME_MIN_MINOR = 35;
export const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];

// ---------------------------------------------------------------------------
// The method: parsed strictly, or chosen by the server version.

/** A method from text; a bad value is a SettingsError naming the allowed ones. Empty → undefined (auto). */
export function parseSideloadMethod(value: string | undefined, name = SIDELOAD_SETTING): SideloadMethod | undefined {
  const v = (value ?? '').trim();
  if (v === '') return undefined;
  if ((SIDELOAD_METHODS as readonly string[]).includes(v)) return v as SideloadMethod;
  throw new SettingsError(`${name}=${JSON.stringify(value)} is not valid: allowed values are ${SIDELOAD_METHODS.join(', ')}, or empty to choose by cluster version`);
}

export { parseKubeVersion, type KubeVersion };

/** The auto rule: image-volume from 1.35 on, init-container before. */
export function methodForVersion(version: string | KubeVersion): SideloadMethod {
  const { major, minor } = typeof version === 'string' ? parseKubeVersion(version) : version;
  return major > 1 || (major === 1 && minor >= IMAGE_VOLUME_MIN_MINOR) ? 'image-volume' : 'init-container';
}

export interface MethodChoice {
  method: SideloadMethod;
  /** setting: explicit OPENSHELL_SUPERVISOR_SIDELOAD_METHOD; version: chosen by the server version. */
  source: 'setting' | 'version';
  reason: string;
}

/** An explicit method wins; else the server version decides. */
export function chooseMethod(explicit: SideloadMethod | undefined, serverVersion: string | KubeVersion | undefined): MethodChoice {
  if (explicit) return { method: explicit, source: 'setting', reason: `${SIDELOAD_SETTING}=${explicit}` };
  if (serverVersion === undefined) {
    throw new Error(`${SIDELOAD_SETTING} is empty (auto) and the server version is unknown: set it, or make the cluster reachable`);
  }
  const v = typeof serverVersion === 'string' ? parseKubeVersion(serverVersion) : serverVersion;
  const method = methodForVersion(v);
  const cmp = method === 'image-volume' ? '>=' : '<';
  return { method, source: 'version', reason: `Kubernetes ${v.major}.${v.minor} ${cmp} 1.${IMAGE_VOLUME_MIN_MINOR} (${SIDELOAD_SETTING} empty)` };
}

export function otherMethod(m: SideloadMethod): SideloadMethod {
  return m === 'image-volume' ? 'init-container' : 'image-volume';
}

// ---------------------------------------------------------------------------
// Pod fragments, exactly as seed 002 (and the driver) emit them.

export interface SupervisorImage {
  /** Image reference, e.g. openshell-registry:5000/openshell-supervisor:dev. */
  image: string;
  /** Empty → omitted (the runtime's default). */
  pullPolicy?: PullPolicy | '' | undefined;
}

/** image-volume: the supervisor image itself; init-container: an emptyDir the init container fills. */
export function supervisorVolume(method: SideloadMethod, img: SupervisorImage): IVolume {
  if (method === 'init-container') return { name: SUPERVISOR_VOLUME, emptyDir: {} };
  return {
    name: SUPERVISOR_VOLUME,
    image: { reference: img.image, ...(img.pullPolicy ? { pullPolicy: img.pullPolicy } : {}) },
  };
}

/** The init container (init-container method only): the binary copies itself into the emptyDir. */
export function supervisorInitContainer(img: SupervisorImage): IContainer {
  return {
    name: SUPERVISOR_INIT_CONTAINER,
    image: img.image,
    ...(img.pullPolicy ? { imagePullPolicy: img.pullPolicy } : {}),
    command: [SUPERVISOR_IMAGE_BINARY, 'copy-self', SUPERVISOR_BINARY],
    securityContext: { runAsUser: 0 },
    volumeMounts: [{ name: SUPERVISOR_VOLUME, mountPath: SUPERVISOR_MOUNT_PATH, readOnly: false }],
  };
}

/** The agent container's read-only mount (both methods). */
export function supervisorVolumeMount(): IVolumeMount {
  return { name: SUPERVISOR_VOLUME, mountPath: SUPERVISOR_MOUNT_PATH, readOnly: true };
}

export interface SideloadFragments {
  volumes: IVolume[];
  initContainers: IContainer[];
  /** What the agent container gains: the command, root, and the mount. */
  agent: { command: string[]; securityContext: { runAsUser: 0 }; volumeMounts: IVolumeMount[] };
}

export function sideloadFragments(method: SideloadMethod, img: SupervisorImage): SideloadFragments {
  return {
    volumes: [supervisorVolume(method, img)],
    initContainers: method === 'init-container' ? [supervisorInitContainer(img)] : [],
    agent: { command: [SUPERVISOR_BINARY], securityContext: { runAsUser: 0 }, volumeMounts: [supervisorVolumeMount()] },
  };
}

/**
 * A copy of `spec` with the sideload applied: the volume, the init container
 * (init-container only) and, on the agent container (named `agent`, else the
 * first), the command override, runAsUser 0 and the read-only mount.
 */
export function applySideload(spec: IPodSpec, method: SideloadMethod, img: SupervisorImage): IPodSpec {
  const f = sideloadFragments(method, img);
  const out: IPodSpec = structuredClone(spec);
  out.volumes = [...(out.volumes ?? []), ...f.volumes];
  if (f.initContainers.length > 0) out.initContainers = [...(out.initContainers ?? []), ...f.initContainers];
  const index = Math.max(0, out.containers.findIndex((c) => c.name === AGENT_CONTAINER));
  const agent = out.containers[index];
  if (agent) {
    agent.command = f.agent.command;
    agent.securityContext = { ...agent.securityContext, runAsUser: 0 };
    agent.volumeMounts = [...(agent.volumeMounts ?? []), ...f.agent.volumeMounts];
  }
  return out;
}

/** Which method a pod spec uses, read back from its volume (undefined: no supervisor volume). */
export function methodOfPodSpec(spec: IPodSpec | undefined): SideloadMethod | undefined {
  const vol = spec?.volumes?.find((v) => v.name === SUPERVISOR_VOLUME);
  if (!vol) return undefined;
  return vol.image ? 'image-volume' : 'init-container';
}

// ---------------------------------------------------------------------------
// The cluster's version, through kubectl (so it shows under --verbose and is scriptable in tests).

/** `kubectlArgs`: what selects the cluster, e.g. ['--kubeconfig', file]. */
export async function kubeServerVersion(kubectlArgs: string[]): Promise<KubeVersion & { gitVersion: string }> {
  const r = await $({ nothrow: true, timeout: '20s' })`kubectl ${kubectlArgs} version -o json`;
  let parsed: { serverVersion?: { major?: string; minor?: string; gitVersion?: string } } | undefined;
  try {
    parsed = JSON.parse(r.stdout) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  const sv = parsed?.serverVersion;
  if (!sv) {
    const why = (r.stderr || r.stdout).trim().split('\n').pop() ?? `exit ${r.exitCode}`;
    throw new Error(`the API server did not report its version (${why})`);
  }
  return { ...parseKubeVersion(sv), gitVersion: sv.gitVersion ?? '' };
}

// ---------------------------------------------------------------------------
// Hot-swap: write beside the old binary, verify, rename into place.

/** One running container to swap into: a pod (kubectl) or, on the test bed, a Docker container. */
export interface SwapTarget {
  name: string;
  namespace?: string | undefined;
  container?: string | undefined;
}

/**
 * How commands reach a target. kubectl in a cluster; docker where a real
 * engine stands in for a kubelet (e2e tests and the benchmark). Each returns
 * the command's words; swapOne runs them with zx.
 */
export interface Cmd {
  argv: string[];
  timeoutMs: number;
}

export interface SwapTransport {
  readonly kind: string;
  label(t: SwapTarget): string;
  copy(t: SwapTarget, localPath: string, remotePath: string): Cmd;
  exec(t: SwapTarget, argv: string[]): Cmd;
}

/** `kubectlArgs`: what selects the cluster, e.g. ['--kubeconfig', file]. */
export function kubectlTransport(kubectlArgs: string[], timeoutMs = 60_000): SwapTransport {
  const ns = (t: SwapTarget) => t.namespace ?? 'default';
  const container = (t: SwapTarget) => ['-c', t.container ?? AGENT_CONTAINER];
  return {
    kind: 'kubectl',
    label: (t) => `${ns(t)}/${t.name}`,
    copy: (t, local, remote) => ({ argv: ['kubectl', ...kubectlArgs, 'cp', local, `${ns(t)}/${t.name}:${remote}`, ...container(t)], timeoutMs }),
    exec: (t, argv) => ({ argv: ['kubectl', ...kubectlArgs, 'exec', '-n', ns(t), t.name, ...container(t), '--', ...argv], timeoutMs }),
  };
}

export function dockerTransport(cli = 'docker', timeoutMs = 60_000): SwapTransport {
  return {
    kind: cli,
    label: (t) => `${cli}:${t.name}`,
    copy: (t, local, remote) => ({ argv: [cli, 'cp', local, `${t.name}:${remote}`], timeoutMs }),
    exec: (t, argv) => ({ argv: [cli, 'exec', t.name, ...argv], timeoutMs }),
  };
}

export type SwapStatus = 'updated' | 'read-only' | 'failed' | 'planned';
export interface SwapOutcome {
  target: SwapTarget;
  label: string;
  status: SwapStatus;
  detail: string;
  ms: number;
}

export interface HotSwapOptions {
  localPath: string;
  /** sha256 of localPath (computed when absent). */
  sha256?: string;
  remotePath?: string;
  concurrency?: number;
  /** Restart the agent container afterwards (kill its PID 1) so the new binary runs now. */
  restart?: boolean;
  /** A unique part for the temporary name (tests pass a fixed one). */
  nonce?: string;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The temporary file beside the binary: same directory, so `mv -f` is an atomic rename. */
export function swapTempPath(remotePath: string, nonce: string): string {
  const slash = remotePath.lastIndexOf('/');
  return `${remotePath.slice(0, slash + 1)}.${remotePath.slice(slash + 1)}.${nonce}.new`;
}

/** Is `path` on a read-only mount, by the container's /proc/self/mounts (the longest mount point that contains it)? */
export function isReadOnlyPath(mounts: string, path: string): boolean {
  let best: { point: string; ro: boolean } | undefined;
  for (const line of mounts.split('\n')) {
    const [, point, , options] = line.split(' ');
    if (!point || options === undefined) continue;
    const p = point.replaceAll('\\040', ' ');
    const inside = p === '/' || path === p || path.startsWith(`${p}/`);
    if (inside && (!best || p.length >= best.point.length)) best = { point: p, ro: options.split(',').includes('ro') };
  }
  return best?.ro ?? false;
}

function dirOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

/**
 * Runs in the container as `sh -c INSTALL_SCRIPT sh TMP SHA256 DEST`: print the
 * sha256 of TMP; if it is not SHA256 remove TMP and exit 3; else chmod 0755 and
 * `mv -f` TMP onto DEST (a rename: atomic on one filesystem, and the running
 * binary's inode is never written to).
 */
export const INSTALL_SCRIPT =
  'sum=$(sha256sum "$1") || exit 2; echo "$sum"; if [ "${sum%% *}" != "$2" ]; then rm -f "$1"; exit 3; fi; chmod 0755 "$1" && mv -f "$1" "$3"';

/** Run `work` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return results;
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function lastLine(r: Result): string {
  return ((r.stderr || r.stdout).trim().split('\n').pop() ?? '').trim() || `exit ${r.code}`;
}

/**
 * Swap one target in three round trips: read the mount table (is the directory read-only?);
 * copy beside the old file; compare sha256 in the container with the local
 * one, chmod, rename into place with `mv -f` (never overwrite a running binary
 * in place). A temporary file left by a failed step is removed.
 */
export async function swapOne(ctx: TaskContext, transport: SwapTransport, target: SwapTarget, opts: HotSwapOptions & { sha256: string }): Promise<SwapOutcome> {
  const start = Date.now();
  const label = transport.label(target);
  const remote = opts.remotePath ?? SUPERVISOR_BINARY;
  const tmp = swapTempPath(remote, opts.nonce ?? `${process.pid}-${Date.now().toString(36)}`);
  const done = (status: SwapStatus, detail: string): SwapOutcome => ({ target, label, status, detail, ms: Date.now() - start });
  const run = async (cmd: Cmd, write: boolean): Promise<Result> => {
    const r = await (write ? $w : $)({ nothrow: true, timeout: cmd.timeoutMs })`${cmd.argv}`;
    return { code: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
  };

  // Read the mount table rather than `test -w`: busybox's test says yes to root even on a read-only mount.
  const probe = await run(transport.exec(target, ['cat', '/proc/self/mounts']), false);
  let note = '';
  if (probe.code !== 0) {
    // Under --dry-run, still show the plan (the probe is the only command that runs).
    if (!ctx.dryRun) return done('failed', `cannot read the container's mounts: ${lastLine(probe)}`);
    note = ` (the read-only probe failed: ${lastLine(probe)})`;
  } else if (isReadOnlyPath(probe.stdout, dirOf(remote))) {
    return done('read-only', `${dirOf(remote)} is a read-only mount`);
  }

  const cp = await run(transport.copy(target, opts.localPath, tmp), true);
  if (cp.code !== 0) {
    if (/read-only/i.test(cp.stderr + cp.stdout)) return done('read-only', `${dirOf(remote)} is read-only: ${lastLine(cp)}`);
    await run(transport.exec(target, ['rm', '-f', tmp]), true);
    return done('failed', `copy failed: ${lastLine(cp)}`);
  }
  // One round trip: sha256 of what arrived (printed, compared here too), then
  // chmod and the atomic rename only if it matches the local sum; else the
  // temporary file goes and the old binary stays.
  const install = await run(transport.exec(target, ['sh', '-c', INSTALL_SCRIPT, 'sh', tmp, opts.sha256, remote]), true);
  if (!ctx.dryRun) {
    const remoteSum = /^([0-9a-f]{64})\s/m.exec(install.stdout)?.[1] ?? '';
    if (install.code === 3) {
      return done('failed', `checksum mismatch, old binary kept: sha256 ${remoteSum.slice(0, 12) || '(none)'} in the container, ${opts.sha256.slice(0, 12)} locally`);
    }
    if (install.code !== 0) {
      await run(transport.exec(target, ['rm', '-f', tmp]), true);
      return done('failed', `verify/rename failed, old binary kept: ${lastLine(install)}`);
    }
  }
  if (opts.restart) await run(transport.exec(target, ['kill', '1']), true);
  if (ctx.dryRun) return done('planned', `would replace ${remote}${note}`);
  return done('updated', `${remote} sha256 ${opts.sha256.slice(0, 12)}${opts.restart ? ', restarted' : ''}`);
}

/** Swap into every target, a few at a time. */
export async function hotSwap(ctx: TaskContext, transport: SwapTransport, targets: readonly SwapTarget[], opts: HotSwapOptions): Promise<SwapOutcome[]> {
  const sha256 = opts.sha256 ?? (await sha256File(opts.localPath));
  return mapLimit(targets, opts.concurrency ?? 4, (t) => swapOne(ctx, transport, t, { ...opts, sha256 }));
}

// ---------------------------------------------------------------------------
// Sandbox pods, from `kubectl get pods -o json`.

export interface SandboxPod extends SwapTarget {
  namespace: string;
  container: string;
  /** How this pod got its supervisor (undefined: no supervisor volume). */
  method: SideloadMethod | undefined;
  /** The image an image volume mounts, or the init container's image. */
  image: string | undefined;
  pullPolicy: string | undefined;
}

interface PodJson {
  metadata?: { name?: string; namespace?: string; deletionTimestamp?: string };
  spec?: IPodSpec;
  status?: { phase?: string };
}

/** Running, not terminating pods, with what the sideload needs to know about each. */
export function sandboxPodsFrom(listJson: string): SandboxPod[] {
  const list = JSON.parse(listJson) as { items?: PodJson[] };
  return (list.items ?? [])
    .filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp && p.metadata?.name)
    .map((p) => {
      const spec = p.spec;
      const containers = spec?.containers ?? [];
      const agent = containers.find((c) => c.name === AGENT_CONTAINER) ?? containers[0];
      const vol = spec?.volumes?.find((v) => v.name === SUPERVISOR_VOLUME);
      const init = spec?.initContainers?.find((c) => c.name === SUPERVISOR_INIT_CONTAINER);
      return {
        name: p.metadata!.name!,
        namespace: p.metadata?.namespace ?? 'default',
        container: agent?.name ?? AGENT_CONTAINER,
        method: methodOfPodSpec(spec),
        image: vol?.image?.reference ?? init?.image,
        pullPolicy: vol?.image?.pullPolicy ?? init?.imagePullPolicy,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** A FROM-scratch supervisor image around one binary (the fallback for read-only image volumes). */
export function supervisorDockerfile(binaryName = 'openshell-sandbox'): string {
  return [
    '# Generated by k8s:dev:sideload: the supervisor binary alone, at the path the image volume and copy-self expect.',
    'FROM scratch',
    `COPY ${binaryName} ${SUPERVISOR_IMAGE_BINARY}`,
    `ENTRYPOINT ["${SUPERVISOR_IMAGE_BINARY}"]`,
    '',
  ].join('\n');
}
