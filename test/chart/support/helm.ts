// Real helm, shared by the chart tests: renders are memoised per argument
// list (each test file renders a (variant, version) once) and at most
// HELM_PARALLELISM helm processes run at a time (the chart tier runs on 2 cores).
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const repoRoot = join(import.meta.dirname, '../../..');
export const chartDir = join(repoRoot, 'deploy/helm/openshell');
export const devValues = join(chartDir, 'values.dev.yaml');
export const SANDBOX_API = 'agents.x-k8s.io/v1beta1';
export const KUBE_VERSIONS = ['1.29.0', '1.33.0', '1.35.0', '1.36.0'] as const;

/** Every ci/ variant file (chart-testing's layout: ci/<variant>-values.yaml), by variant name. */
export const CI_VARIANTS: Record<string, string> = Object.fromEntries(
  readdirSync(join(chartDir, 'ci'))
    .filter((f) => /^[a-z0-9-]+-values\.yaml$/.test(f))
    .sort()
    .map((f) => [f.slice(0, -'-values.yaml'.length), join(chartDir, 'ci', f)]),
);

/** Variants: the defaults, the real values.dev.yaml, and every file in ci/ except ci/defaults and ci/dev (those two repeat the first two). */
export const VARIANTS: Record<string, string[]> = {
  defaults: [],
  dev: ['-f', devValues],
  ...Object.fromEntries(Object.entries(CI_VARIANTS).filter(([v]) => v !== 'defaults' && v !== 'dev').map(([v, f]) => [v, ['-f', f]])),
};

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

const HELM_PARALLELISM = Math.max(1, Number(process.env.HELM_PARALLELISM ?? 2));
let running = 0;
const queue: (() => void)[] = [];

async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= HELM_PARALLELISM) await new Promise<void>((resolve) => queue.push(resolve));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    queue.shift()?.();
  }
}

const memo = new Map<string, Promise<HelmResult>>();

/** Run helm once per distinct argument list. */
export function helm(args: string[]): Promise<HelmResult> {
  const key = JSON.stringify(args);
  let p = memo.get(key);
  if (!p) {
    p = slot(
      () =>
        new Promise<HelmResult>((resolve) => {
          execFile('helm', args, { cwd: repoRoot, maxBuffer: 32 * 1024 * 1024, timeout: 60_000 }, (err, stdout, stderr) => {
            const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
            resolve({ code, stdout, stderr });
          });
        }),
    );
    memo.set(key, p);
  }
  return p;
}

export function templateArgs(extra: string[], kubeVersion = '1.35.0', apiVersions: string[] = [SANDBOX_API]): string[] {
  return [
    'template',
    'openshell',
    chartDir,
    '--namespace',
    'openshell',
    '--kube-version',
    kubeVersion,
    ...apiVersions.flatMap((a) => ['--api-versions', a]),
    ...extra,
  ];
}

export function parseObjects(yamlText: string): K8sObject[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJSON() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

/** Render or throw with helm's stderr. */
export async function render(extra: string[], kubeVersion = '1.35.0', apiVersions: string[] = [SANDBOX_API]): Promise<K8sObject[]> {
  const r = await helm(templateArgs(extra, kubeVersion, apiVersions));
  if (r.code !== 0) throw new Error(`helm template ${extra.join(' ')} (kube ${kubeVersion}) failed:\n${r.stderr}`);
  return parseObjects(r.stdout);
}

/** Render expecting failure; returns helm's stderr. */
export async function renderError(extra: string[], kubeVersion = '1.35.0', apiVersions: string[] = [SANDBOX_API]): Promise<string> {
  const r = await helm(templateArgs(extra, kubeVersion, apiVersions));
  if (r.code === 0) throw new Error(`helm template ${extra.join(' ')} unexpectedly succeeded`);
  return r.stderr;
}

export function find(objs: K8sObject[], kind: string, name?: string): K8sObject {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!o) throw new Error(`no ${kind}${name ? `/${name}` : ''} in [${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}]`);
  return o;
}

// ---- Typed access to the gateway pod ------------------------------------------

export interface Container {
  name: string;
  image: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  securityContext?: Record<string, unknown>;
  [key: string]: unknown;
}
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Record<string, unknown>[];
  securityContext?: Record<string, unknown>;
  [key: string]: unknown;
}
export interface WorkloadSpec {
  replicas?: number;
  selector: { matchLabels: Record<string, string> };
  template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  [key: string]: unknown;
}

export function gatewayWorkload(objs: K8sObject[]): K8sObject & { spec: WorkloadSpec } {
  const w = objs.find((o) => (o.kind === 'StatefulSet' || o.kind === 'Deployment') && o.metadata.name === 'openshell-gateway');
  if (!w) throw new Error('no gateway workload openshell-gateway');
  return w as K8sObject & { spec: WorkloadSpec };
}

export function gatewayEnv(objs: K8sObject[], name: string): string | undefined {
  const c = gatewayWorkload(objs).spec.template.spec.containers.find((x) => x.name === 'gateway');
  return c?.env?.find((e) => e.name === name)?.value;
}

export function gatewayToml(objs: K8sObject[]): string {
  const cm = find(objs, 'ConfigMap', 'openshell-gateway-config') as K8sObject & { data: Record<string, string> };
  const toml = cm.data['gateway.toml'];
  if (toml === undefined) throw new Error('ConfigMap has no gateway.toml');
  return toml;
}

// ---- Kubernetes schema ----------------------------------------------------------

const require = createRequire(import.meta.url);
const modelsDir = dirname(require.resolve('kubernetes-models/package.json'));

/** Built-in kinds the chart emits → kubernetes-models module path. */
const MODEL_PATHS: Record<string, string> = {
  'apps/v1/StatefulSet': 'apps/v1/StatefulSet',
  'apps/v1/Deployment': 'apps/v1/Deployment',
  'v1/Service': 'v1/Service',
  'v1/ServiceAccount': 'v1/ServiceAccount',
  'v1/ConfigMap': 'v1/ConfigMap',
  'v1/Secret': 'v1/Secret',
  'v1/Namespace': 'v1/Namespace',
  'v1/Pod': 'v1/Pod',
  'policy/v1/PodDisruptionBudget': 'policy/v1/PodDisruptionBudget',
  'networking.k8s.io/v1/NetworkPolicy': 'networking.k8s.io/v1/NetworkPolicy',
  'rbac.authorization.k8s.io/v1/Role': 'rbac.authorization.k8s.io/v1/Role',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'rbac.authorization.k8s.io/v1/RoleBinding',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'rbac.authorization.k8s.io/v1/ClusterRole',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'rbac.authorization.k8s.io/v1/ClusterRoleBinding',
  'batch/v1/Job': 'batch/v1/Job',
  'autoscaling/v2/HorizontalPodAutoscaler': 'autoscaling/v2/HorizontalPodAutoscaler',
  'node.k8s.io/v1/RuntimeClass': 'node.k8s.io/v1/RuntimeClass',
};

/** Custom resources: no OpenAPI model offline, so the fields we rely on are checked by hand. */
export const CUSTOM_KINDS = new Set([
  'gateway.networking.k8s.io/v1/Gateway',
  'gateway.networking.k8s.io/v1/GRPCRoute',
  'monitoring.coreos.com/v1/ServiceMonitor',
  'cert-manager.io/v1/Certificate',
  'cert-manager.io/v1/Issuer',
  'route.openshift.io/v1/Route',
]);

type ModelCtor = new (data: unknown) => { validate(): void };

export async function validateAgainstKubernetes(obj: K8sObject): Promise<void> {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const path = MODEL_PATHS[key];
  if (!path) throw new Error(`no Kubernetes model for ${key}`);
  const mod = (await import(`kubernetes-models/${path}`)) as Record<string, ModelCtor>;
  const Ctor = mod[obj.kind];
  if (!Ctor) throw new Error(`kubernetes-models/${path} exports no ${obj.kind}`);
  new Ctor(obj).validate();
}

const fieldCache = new Map<string, Set<string>>();

/** Property names of a kubernetes-models interface, read from its .d.ts. */
export function knownFields(modelPath: string): Set<string> {
  let set = fieldCache.get(modelPath);
  if (!set) {
    const dts = readFileSync(join(modelsDir, `${modelPath}.d.ts`), 'utf8');
    const body = dts.slice(dts.indexOf('export interface'), dts.indexOf('\n}', dts.indexOf('export interface')));
    set = new Set([...body.matchAll(/^ {4}"([A-Za-z0-9_$]+)"\??:/gm)].map((m) => m[1] as string));
    if (set.size === 0) throw new Error(`no fields parsed from ${modelPath}.d.ts`);
    fieldCache.set(modelPath, set);
  }
  return set;
}

function unknownIn(where: string, value: unknown, modelPath: string): string[] {
  if (value === undefined || value === null || typeof value !== 'object') return [];
  const known = knownFields(modelPath);
  return Object.keys(value).filter((k) => !known.has(k)).map((k) => `${where}.${k}`);
}

const SPEC_MODELS: Record<string, string> = {
  StatefulSet: 'apps/v1/StatefulSetSpec',
  Deployment: 'apps/v1/DeploymentSpec',
  Service: 'v1/ServiceSpec',
  PodDisruptionBudget: 'policy/v1/PodDisruptionBudgetSpec',
  NetworkPolicy: 'networking.k8s.io/v1/NetworkPolicySpec',
  Job: 'batch/v1/JobSpec',
  HorizontalPodAutoscaler: 'autoscaling/v2/HorizontalPodAutoscalerSpec',
};

/** Unknown fields at the levels typos hurt most: object, spec, pod spec, containers, security contexts. */
export function unknownFields(obj: K8sObject): string[] {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const path = MODEL_PATHS[key];
  if (!path) return [];
  const out = unknownIn(obj.kind, obj, path);
  const specModel = SPEC_MODELS[obj.kind];
  const spec = obj.spec as Record<string, unknown> | undefined;
  if (specModel && spec) out.push(...unknownIn(`${obj.kind}.spec`, spec, specModel));
  const template = spec?.template as { spec?: PodSpec } | undefined;
  const pod = template?.spec;
  if (pod) {
    out.push(...unknownIn(`${obj.kind}.pod`, pod, 'v1/PodSpec'));
    out.push(...unknownIn(`${obj.kind}.pod.securityContext`, pod.securityContext, 'v1/PodSecurityContext'));
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
      out.push(...unknownIn(`${obj.kind}.${c.name}`, c, 'v1/Container'));
      out.push(...unknownIn(`${obj.kind}.${c.name}.securityContext`, c.securityContext, 'v1/SecurityContext'));
    }
  }
  return out;
}

// ---- Pod Security Standard "restricted" ---------------------------------------------

const RESTRICTED_VOLUME_TYPES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

/** Violations of the "restricted" profile (v1.29+ rules), empty when the pod would be admitted. */
export function restrictedViolations(pod: PodSpec): string[] {
  const v: string[] = [];
  const psc = pod.securityContext ?? {};
  for (const f of ['hostNetwork', 'hostPID', 'hostIPC']) if (pod[f] === true) v.push(`${f} is true`);
  for (const vol of pod.volumes ?? []) {
    const type = Object.keys(vol).find((k) => k !== 'name');
    if (!type || !RESTRICTED_VOLUME_TYPES.has(type)) v.push(`volume ${String(vol.name)} has type ${type}`);
  }
  const seccompType = (sc: Record<string, unknown> | undefined) => (sc?.seccompProfile as { type?: string } | undefined)?.type;
  for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
    const sc = c.securityContext ?? {};
    if (sc.privileged === true) v.push(`${c.name}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) v.push(`${c.name}: allowPrivilegeEscalation is not false`);
    const nonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot;
    if (nonRoot !== true) v.push(`${c.name}: runAsNonRoot is not true`);
    if ((sc.runAsUser ?? psc.runAsUser) === 0) v.push(`${c.name}: runAsUser is 0`);
    const seccomp = seccompType(sc) ?? seccompType(psc);
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') v.push(`${c.name}: seccompProfile is ${seccomp}`);
    const caps = (sc.capabilities ?? {}) as { drop?: string[]; add?: string[] };
    if (!caps.drop?.includes('ALL')) v.push(`${c.name}: capabilities do not drop ALL`);
    for (const a of caps.add ?? []) if (a !== 'NET_BIND_SERVICE') v.push(`${c.name}: adds capability ${a}`);
    for (const p of (c.ports ?? []) as { hostPort?: number }[]) if (p.hostPort) v.push(`${c.name}: hostPort`);
  }
  return v;
}

/**
 * The sideload method the chart resolves for a cluster version (auto rule in
 * `openshell.supervisor.sideloadMethod`), as the gateway reads it from
 * gateway.toml. For comparing with the scripts' TypeScript rule.
 */
export async function chartSideloadMethod(kubeVersion: string, explicit?: string): Promise<string> {
  const extra = ['--show-only', 'templates/configmap.yaml'];
  if (explicit !== undefined) extra.push('--set', `supervisor.sideloadMethod=${explicit}`);
  const method = /^supervisor_sideload_method = "(.*)"$/m.exec(gatewayToml(await render(extra, kubeVersion)))?.[1];
  if (method === undefined) throw new Error('gateway.toml has no supervisor_sideload_method');
  return method;
}
