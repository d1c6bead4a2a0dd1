// The kwok provider, for the test bed (OPENSHELL_DEV_CLUSTER_PROVIDER=kwok):
// a real control plane on this machine, no container engine.
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the kwok
// controller run as local processes (`kwokctl --runtime binary`, pointed at
// local binaries: nothing is downloaded). kwok simulates the nodes and the
// kubelet, so pods are scheduled and reach Running without running anything.
//
// Files live in <OPENSHELL_DEV_KWOK_DIR>/clusters/<cluster>/ (kwokctl's layout:
// kwok.yaml, kubeconfig.yaml, pki/, logs/, pids/); ports are chosen by kwokctl
// and bound to 127.0.0.1. kwokctl never touches ~/.kube/config (--kubeconfig '').
import { request } from 'node:https';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { isExecutable, kubeNames, SettingsError, type Settings } from '../lib/settings.ts';
import type { ClusterProvider, ClusterState, Lifecycle, RegistryEndpoints } from '../lib/providers/types.ts';
import { registryEndpoints } from '../lib/registry.ts';
import { $ } from 'zx';
import { $w } from '../lib/sh.ts';
import { UserError, type TaskContext } from '../lib/task.ts';

/** Annotation the kwok controller selects the nodes it simulates by. */
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

export function clusterDir(s: Pick<Settings, 'kwokDir' | 'cluster'>): string {
  return join(s.kwokDir, 'clusters', s.cluster);
}

/** The simulated nodes: one server-like node and `agents` agents, Ready with room for pods. */
export function kwokNodes(s: Pick<Settings, 'cluster' | 'agents'>): object[] {
  const node = (name: string, role: 'server' | 'agent') => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
        ...(role === 'server' ? { 'node-role.kubernetes.io/control-plane': 'true', 'node-role.kubernetes.io/master': 'true' } : {}),
      },
    },
    spec: {},
    status: {
      allocatable: { cpu: '8', memory: '32Gi', pods: '110', 'ephemeral-storage': '100Gi' },
      capacity: { cpu: '8', memory: '32Gi', pods: '110', 'ephemeral-storage': '100Gi' },
      nodeInfo: { architecture: 'amd64', operatingSystem: 'linux', kubeletVersion: 'fake', containerRuntimeVersion: 'kwok' },
    },
  });
  const prefix = `kwok-${s.cluster}`;
  return [node(`${prefix}-server-0`, 'server'), ...Array.from({ length: s.agents }, (_, i) => node(`${prefix}-agent-${i}`, 'agent'))];
}


function onPath(ctx: TaskContext, bin: string, ...extraDirs: (string | undefined)[]): string | undefined {
  const dirs = [...extraDirs, ...(ctx.env.PATH ?? '').split(delimiter)];
  for (const dir of dirs) if (dir && isExecutable(join(dir, bin))) return join(dir, bin);
  return undefined;
}

export interface KwokBinaries {
  kubeBinDir: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubectl: string;
  etcd: string;
  kwok: string;
  kwokctl: string;
}

export const KUBE_CONTROL_PLANE_BINARIES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;

/** OPENSHELL_DEV_KUBE_BIN_DIR (a SettingsError when it lacks a binary), else the directory of kube-apiserver on PATH. */
export function kubeBinDir(s: Pick<Settings, 'kubeBinDir'>, env: NodeJS.ProcessEnv): string | undefined {
  if (s.kubeBinDir === '') {
    for (const dir of (env.PATH ?? '').split(delimiter)) if (dir && isExecutable(join(dir, 'kube-apiserver'))) return dir;
    return undefined;
  }
  const missing = KUBE_CONTROL_PLANE_BINARIES.filter((b) => !isExecutable(join(s.kubeBinDir, b)));
  if (missing.length > 0) {
    throw new SettingsError(
      `OPENSHELL_DEV_KUBE_BIN_DIR=${JSON.stringify(s.kubeBinDir)} is not valid: must be a directory holding ${KUBE_CONTROL_PLANE_BINARIES.join(', ')} (missing: ${missing.join(', ')}); bash .ci/run builds them`,
    );
  }
  return s.kubeBinDir;
}

/** Every binary the control plane runs, local only; a UserError naming the setting or tool when one is missing. */
export function kwokBinaries(ctx: TaskContext): KwokBinaries {
  const dir = kubeBinDir(ctx.settings, ctx.env);
  if (dir === undefined) {
    throw new UserError(
      `kwok provider: no kube-apiserver on PATH; set OPENSHELL_DEV_KUBE_BIN_DIR to a directory holding ${KUBE_CONTROL_PLANE_BINARIES.join(', ')} (bash .ci/run builds them with .ci/tools/build.sh kube-new)`,
    );
  }
  const missing = KUBE_CONTROL_PLANE_BINARIES.filter((b) => !isExecutable(join(dir, b)));
  if (missing.length > 0) {
    throw new UserError(`kwok provider: OPENSHELL_DEV_KUBE_BIN_DIR=${dir} lacks ${missing.join(', ')}`);
  }
  const tool = (bin: string, build: string) => {
    const path = onPath(ctx, bin, dir);
    if (!path) throw new UserError(`kwok provider: ${bin} not found on PATH or in ${dir} (build it: .ci/tools/build.sh ${build})`);
    return path;
  };
  return {
    kubeBinDir: dir,
    kubeApiserver: join(dir, 'kube-apiserver'),
    kubeControllerManager: join(dir, 'kube-controller-manager'),
    kubeScheduler: join(dir, 'kube-scheduler'),
    kubectl: tool('kubectl', 'kube-new'),
    etcd: tool('etcd', 'etcd'),
    kwok: tool('kwok', 'kwok'),
    kwokctl: tool('kwokctl', 'kwok'),
  };
}

/** Environment for kwokctl: our work dir, local kubectl, and no user config. */
function kwokEnv(ctx: TaskContext, bins?: KwokBinaries): NodeJS.ProcessEnv {
  return {
    KWOK_WORKDIR: ctx.settings.kwokDir,
    ...(bins ? { KWOK_KUBECTL_BINARY: bins.kubectl } : {}),
  };
}

/** kwokctl's configuration: bind every component to loopback only. */
const KWOKCTL_CONFIG = `kind: KwokctlConfiguration
apiVersion: config.kwok.x-k8s.io/v1alpha1
options:
  bindAddress: 127.0.0.1
`;

function kubeconfigPath(s: Settings): string {
  return join(clusterDir(s), 'kubeconfig.yaml');
}

function serverUrl(s: Settings): string | undefined {
  const path = kubeconfigPath(s);
  if (!existsSync(path)) return undefined;
  return /^\s*server:\s*(\S+)/m.exec(readFileSync(path, 'utf8'))?.[1];
}

/** GET a path of the API server with the cluster's CA; the status code, or an error text. */
function probe(s: Settings, url: string, path: string, timeoutMs = 2000): Promise<{ status: number; body: string } | { error: string }> {
  const caPath = join(clusterDir(s), 'pki', 'ca.crt');
  const ca = existsSync(caPath) ? readFileSync(caPath) : undefined;
  return new Promise((resolve) => {
    const req = request(new URL(path, url), { ca, rejectUnauthorized: ca !== undefined, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs}ms`)));
    req.on('error', (err) => resolve({ error: err.message }));
    req.end();
  });
}

async function registryAnswers(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://localhost:${port}/v2/`, { signal: AbortSignal.timeout(2000) });
    return res.status === 200 || res.status === 401;
  } catch {
    return false;
  }
}

async function waitReady(ctx: TaskContext, bins: KwokBinaries): Promise<void> {
  const kubeconfig = kubeconfigPath(ctx.settings);
  const timeout = `${ctx.settings.timeoutSec}s`;
  await ctx.log.progress('waiting for the simulated nodes to be Ready', $({ timeout: `${ctx.settings.timeoutSec + 10}s` })`${bins.kubectl} --kubeconfig ${kubeconfig} wait --for=condition=Ready nodes --all --timeout=${timeout}`);
}

export const kwokProvider: ClusterProvider & Lifecycle = {
  name: 'kwok',
  tools: ['kwokctl', 'kwok', 'etcd', ...KUBE_CONTROL_PLANE_BINARIES, 'kubectl'],
  needsEngine: false,
  runsContainers: false,

  async state(ctx): Promise<ClusterState> {
    const s = ctx.settings;
    if (!existsSync(join(clusterDir(s), 'kwok.yaml'))) return { exists: false, running: false, detail: 'kwok: absent' };
    const url = serverUrl(s);
    if (!url) return { exists: true, running: false, detail: `kwok: ${clusterDir(s)} has no kubeconfig (half-created; delete it)` };
    const r = await probe(s, url, '/readyz');
    if ('error' in r) return { exists: true, running: false, detail: `kwok: stopped (${url}: ${r.error})` };
    if (r.status !== 200) return { exists: true, running: false, detail: `kwok: API server at ${url} not ready (/readyz: ${r.status})` };
    return { exists: true, running: true, detail: `kwok: ${1 + s.agents} simulated node(s), API server ${url}` };
  },

  async create(ctx) {
    const s = ctx.settings;
    const bins = kwokBinaries(ctx);
    if (!(await registryAnswers(s.registryPort))) {
      ctx.log.warn(
        `no registry answers at localhost:${s.registryPort}/v2/: pushes will fail (kwok pods never pull). Start one: docker-registry serve CONFIG with http.addr 127.0.0.1:${s.registryPort} (bash .ci/run does), or set OPENSHELL_DEV_REGISTRY_PORT`,
      );
    }
    const configDir = mkdtempSync(join(tmpdir(), 'openshell-kwokctl-'));
    const config = join(configDir, 'kwokctl.yaml');
    writeFileSync(config, KWOKCTL_CONFIG);
    try {
      ctx.log.info(`creating kwok cluster ${s.cluster} (kube binaries from ${bins.kubeBinDir})`);
      // Admission (Pod Security, ServiceAccount, ...) and RBAC; RBAC also gives the
      // controller manager the service-account key, so the token controller runs.
      // An empty --kubeconfig: kwokctl leaves ~/.kube/config alone.
      await ctx.log.progress(
        `starting etcd, kube-apiserver, controller-manager, scheduler and kwok for ${s.cluster}`,
        $w({ env: { ...$.env, ...kwokEnv(ctx, bins) }, timeout: `${s.timeoutSec + 30}s` })`${bins.kwokctl} create cluster --name ${s.cluster} --config ${config} --runtime binary --kubeconfig ${''} --kube-admission --kube-authorization --disable-qps-limits --etcd-binary ${bins.etcd} --kube-apiserver-binary ${bins.kubeApiserver} --kube-controller-manager-binary ${bins.kubeControllerManager} --kube-scheduler-binary ${bins.kubeScheduler} --kwok-controller-binary ${bins.kwok} --wait ${s.timeoutSec}s`,
      );
    } finally {
      rmSync(configDir, { recursive: true, force: true });
    }
    const nodes = kwokNodes(s)
      .map((n) => stringifyYaml(n))
      .join('---\n');
    await $w({ input: nodes, timeout: '60s' })`${bins.kubectl} --kubeconfig ${kubeconfigPath(s)} apply -f -`;
    if (!ctx.dryRun) await waitReady(ctx, bins);
  },

  async start(ctx) {
    const bins = kwokBinaries(ctx);
    if (!ctx.dryRun) {
      const dead = forgetDeadComponents(clusterDir(ctx.settings));
      if (dead.length > 0) ctx.log.debug(`kwok cluster ${ctx.settings.cluster}: restarting ${dead.join(', ')}`);
    }
    const s = ctx.settings;
    await ctx.log.progress(`starting kwok cluster ${s.cluster}`, $w({ env: { ...$.env, ...kwokEnv(ctx, bins) }, timeout: `${s.timeoutSec + 30}s` })`${bins.kwokctl} start cluster --name ${s.cluster} --wait ${s.timeoutSec}s`);
    if (!ctx.dryRun) await waitReady(ctx, bins);
  },

  async delete(ctx) {
    const s = ctx.settings;
    const dir = clusterDir(s);
    if (!existsSync(dir)) {
      ctx.log.debug(`kwok cluster ${s.cluster}: absent, nothing to delete`);
      return;
    }
    const pids = clusterProcesses(dir);
    const kwokctl = onPath(ctx, 'kwokctl', s.kubeBinDir || undefined);
    if (kwokctl) {
      // An empty --kubeconfig is refused here; the cluster's own file keeps ~/.kube/config untouched.
      const r = await $w({ env: { ...$.env, ...kwokEnv(ctx) }, timeout: '120s', nothrow: true })`${kwokctl} delete cluster --name ${s.cluster} --kubeconfig ${kubeconfigPath(s)}`;
      if (!r.ok) ctx.log.warn(`kwokctl delete cluster ${s.cluster} failed (exit ${r.exitCode}); removing its processes and files directly\n${(r.stderr || r.stdout).trim()}`);
    } else {
      ctx.log.warn(`kwokctl not found: removing ${dir} only (processes listed in ${join(dir, 'pids')} may remain)`);
    }
    if (ctx.dryRun) return;
    // kwokctl SIGKILLs each component; make sure none survives (a half-created
    // cluster, or kwokctl missing), then clear what may remain on disk and the
    // parent directories when we leave them empty.
    const survivors = await waitGone(pids, dir, 5000);
    for (const pid of survivors) {
      ctx.log.warn(`kwok cluster ${s.cluster}: killing leftover process ${pid}`);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    if (survivors.length > 0) await waitGone(survivors, dir, 5000);
    rmSync(dir, { recursive: true, force: true });
    for (const parent of [dirname(dir), s.kwokDir]) {
      try {
        if (readdirSync(parent).length === 0) rmdirSync(parent);
      } catch {
        // absent or not empty: leave it
      }
    }
  },

  async kubeconfig(ctx) {
    const s = ctx.settings;
    const path = kubeconfigPath(s);
    if (!existsSync(path)) throw new UserError(`kwok cluster ${s.cluster} does not exist (no ${path}); run k8s:dev:up`);
    return renameKubeconfig(readFileSync(path, 'utf8'), s, dirname(path));
  },

  registry(ctx): RegistryEndpoints {
    return registryEndpoints(ctx.settings);
  },
};

/** Live (not zombie) processes recorded in the cluster's pid files whose command line still names the cluster directory. */
export function clusterProcesses(dir: string, candidates?: number[]): number[] {
  let pids = candidates;
  if (!pids) {
    const pidDir = join(dir, 'pids');
    pids = existsSync(pidDir)
      ? readdirSync(pidDir).map((f) => Number(readFileSync(join(pidDir, f), 'utf8').trim())).filter((n) => Number.isInteger(n) && n > 0)
      : [];
  }
  return pids.filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (/^\d+ \(.*\) Z/.test(stat)) return false; // exited, not yet reaped
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
    } catch {
      return false;
    }
  });
}

/**
 * Remove the pid files of components that are no longer running, so `kwokctl start`
 * starts them again: kwokctl skips a component whose recorded process still exists,
 * and a killed process nobody has reaped yet (a zombie) still exists. Returns the
 * components forgotten.
 */
export function forgetDeadComponents(dir: string): string[] {
  const pidDir = join(dir, 'pids');
  if (!existsSync(pidDir)) return [];
  const dead: string[] = [];
  for (const file of readdirSync(pidDir)) {
    const pid = Number(readFileSync(join(pidDir, file), 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && clusterProcesses(dir, [pid]).length > 0) continue;
    rmSync(join(pidDir, file), { force: true });
    dead.push(file.replace(/\.pid$/, ''));
  }
  return dead;
}

async function waitGone(pids: number[], dir: string, ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let alive = clusterProcesses(dir, pids);
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    alive = clusterProcesses(dir, alive);
  }
  return alive;
}

interface KubeconfigDoc {
  clusters?: Array<{ name: string; cluster: Record<string, unknown> }>;
  users?: Array<{ name: string; user: Record<string, unknown> }>;
  contexts?: Array<{ name: string; context: Record<string, unknown> }>;
  'current-context'?: string;
  [key: string]: unknown;
}

/** kwokctl's kubeconfig with our names (kubeNames) and the certificates inlined, so it stands alone. */
export function renameKubeconfig(text: string, s: Pick<Settings, 'cluster' | 'provider'>, baseDir: string): string {
  const doc = parseYaml(text) as KubeconfigDoc;
  const names = kubeNames({ cluster: s.cluster, provider: 'kwok' });
  const inline = (obj: Record<string, unknown>, fileKey: string, dataKey: string) => {
    const file = obj[fileKey];
    if (typeof file === 'string') {
      const path = file.startsWith('/') ? file : join(baseDir, file);
      obj[dataKey] = readFileSync(path).toString('base64');
      delete obj[fileKey];
    }
  };
  const cluster = { ...(doc.clusters?.[0]?.cluster ?? {}) };
  inline(cluster, 'certificate-authority', 'certificate-authority-data');
  const user = { ...(doc.users?.[0]?.user ?? {}) };
  inline(user, 'client-certificate', 'client-certificate-data');
  inline(user, 'client-key', 'client-key-data');
  const out: KubeconfigDoc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: names.cluster, cluster }],
    users: [{ name: names.user, user }],
    contexts: [{ name: names.context, context: { cluster: names.cluster, user: names.user } }],
    'current-context': names.context,
    preferences: {},
  };
  return stringifyYaml(out);
}
