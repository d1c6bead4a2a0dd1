// How the supervisor binary reaches sandbox pods (seed 002), and how
// k8s:dev:sideload tells that a recreated sandbox pod runs a rebuilt one.
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
import { $ } from 'zx';
import { SettingsError, SIDELOAD_METHODS, type SideloadMethod } from './settings.ts';
import { parseKubeVersion, type KubeVersion } from './kube.ts';

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

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

// ---------------------------------------------------------------------------
// Sandbox pods, from `kubectl get pods -o json`.

export interface SandboxPod {
  name: string;
  namespace: string;
  uid: string;
  /** The agent container (named agent, else the first). */
  container: string;
  /** How this pod got its supervisor (undefined: no supervisor volume). */
  method: SideloadMethod | undefined;
  /** The image an image volume mounts, or the init container's image. */
  image: string | undefined;
  pullPolicy: string | undefined;
}

interface PodJson {
  metadata?: { name?: string; namespace?: string; uid?: string; deletionTimestamp?: string };
  spec?: IPodSpec;
  status?: {
    phase?: string;
    conditions?: { type?: string; status?: string }[];
    initContainerStatuses?: { name?: string; imageID?: string; state?: { terminated?: { exitCode?: number; reason?: string } } }[];
    containerStatuses?: { name?: string; ready?: boolean; state?: { waiting?: { reason?: string; message?: string } } }[];
  };
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
        uid: p.metadata?.uid ?? '',
        container: agent?.name ?? AGENT_CONTAINER,
        method: methodOfPodSpec(spec),
        image: vol?.image?.reference ?? init?.image,
        pullPolicy: vol?.image?.pullPolicy ?? init?.imagePullPolicy,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The OpenShell sandbox behind each pod, from `kubectl get sandboxes -o json`:
 * the driver labels the Sandbox resource (openshell.ai/sandbox-name,
 * openshell.ai/sandbox-workspace), and the controller names the pod after it
 * (or records the pod's name in the agents.x-k8s.io/pod-name annotation).
 */
export function openshellNamesFrom(sandboxListJson: string): Map<string, { name: string; workspace: string }> {
  const list = JSON.parse(sandboxListJson) as { items?: { metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> } }[] };
  const out = new Map<string, { name: string; workspace: string }>();
  for (const b of list.items ?? []) {
    const name = b.metadata?.labels?.['openshell.ai/sandbox-name'];
    const pod = b.metadata?.annotations?.['agents.x-k8s.io/pod-name'] ?? b.metadata?.name;
    if (name && pod) out.set(pod, { name, workspace: b.metadata?.labels?.['openshell.ai/sandbox-workspace'] || 'default' });
  }
  return out;
}

/**
 * Why restarting this pod would not give it the dev supervisor image `devRef`
 * (undefined: it would): no supervisor volume, another image, or a pull
 * policy under which a node that has the tag keeps the old one.
 */
export function supervisorImageProblem(p: SandboxPod, devRef: string): string | undefined {
  if (p.method === undefined) return `no ${SUPERVISOR_VOLUME} volume: not a sandbox pod the Kubernetes driver made`;
  if (p.image !== devRef) return `its supervisor image is ${p.image ?? '(none)'}, not ${devRef}: set the gateway's supervisor image to it (values.dev.yaml does) and create the sandbox again`;
  if (p.pullPolicy !== 'Always') return `it pulls ${devRef} with pullPolicy ${p.pullPolicy ?? '(default: IfNotPresent for a tag)'}: a node that has the tag keeps the old binary (values.dev.yaml sets supervisor.image.pullPolicy=Always)`;
  return undefined;
}

export interface Verdict {
  state: 'waiting' | 'running' | 'updated' | 'unverified' | 'failed';
  detail: string;
  /** init-container: whether the init container ran the pushed digest (undefined: unknown). */
  digestMatches?: boolean;
  pod?: string;
}

/** Has the pod `oldUid` been replaced by one that runs (all containers ready)? A failed start fails now. */
export function judgeRecreated(podJson: string, oldUid: string, digest: string | undefined): Verdict {
  const p = JSON.parse(podJson) as PodJson;
  if (!p.metadata?.uid || p.metadata.uid === oldUid) return { state: 'waiting', detail: 'the old pod is still there' };
  if (p.metadata.deletionTimestamp) return { state: 'waiting', detail: 'the new pod is terminating' };
  const st = p.status ?? {};
  const init = st.initContainerStatuses?.find((c) => c.name === SUPERVISOR_INIT_CONTAINER);
  const term = init?.state?.terminated;
  if (term && term.exitCode !== 0) return { state: 'failed', detail: `the init container ${SUPERVISOR_INIT_CONTAINER} exited ${term.exitCode} (${term.reason ?? ''})` };
  if (st.phase === 'Failed') return { state: 'failed', detail: 'the new pod failed' };
  for (const c of st.containerStatuses ?? []) {
    const w = c.state?.waiting;
    if (w?.reason && /ErrImagePull|ImagePullBackOff|CreateContainerError|CreateContainerConfigError|InvalidImageName|RunContainerError/.test(w.reason)) {
      return { state: 'failed', detail: `${c.name}: ${w.reason}${w.message ? `: ${w.message}` : ''}` };
    }
  }
  const ready = st.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  if (st.phase !== 'Running' || !ready) return { state: 'waiting', detail: `new pod ${st.phase ?? 'Pending'}${st.phase === 'Running' ? ', not Ready' : ''}` };
  const imageId = init?.imageID;
  const digestMatches = init === undefined || digest === undefined || !imageId ? undefined : imageId.endsWith(`@${digest}`);
  return { state: 'running', detail: 'new pod Running and Ready', ...(digestMatches === undefined ? {} : { digestMatches }) };
}
