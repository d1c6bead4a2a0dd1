// A real Kubernetes node for the test bed: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, containerd 2.x with runc, CNI
// (bridge + host-local + loopback + portmap + firewall), a kubelet joined to
// that control plane and kube-proxy, all under ONE state directory, on free
// ports. Pods really run. Built from the binaries `.ci/tools/build.sh` makes;
// the settings and the four host workarounds are those of
// /work/shared/notes/real-node.md (cgroup v1, no CAP_SYS_RESOURCE, dockerd's
// FORWARD DROP, a hostname that does not resolve).
//
// Needs root. One real node per host at a time (the kubelet's device-plugin
// socket and the iptables chains are host-wide): `up` refuses a second one and
// names the first. `down` stops everything and removes every trace it left on
// the host (processes, mounts, network namespaces, the bridge, KUBE-/CNI-
// iptables chains, cgroups, /var/lib/cni results, host directories it created);
// `leftovers()` lists any that remain.
//
//   node test/bed/realnode.ts up <dir>     start (or find running) and print the kubeconfig
//   node test/bed/realnode.ts down <dir>   stop and clean up
//   node test/bed/realnode.ts check <dir>  list what a stopped node left behind
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, dirname, join, resolve } from 'node:path';

/** Where a real node's binaries come from (all directories). */
export interface NodeBinaries {
  /** kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy */
  kube: string;
  /** etcd */
  etcd: string;
  /** containerd, containerd-shim-runc-v2, ctr */
  containerd: string;
  /** runc */
  runc: string;
  /** bridge, host-local, loopback, portmap, firewall */
  cni: string;
  /** coredns (optional: without it the node has no cluster DNS and pods resolve no Service names) */
  coredns?: string;
}

export interface NodeOptions {
  bins: NodeBinaries;
  /** The pod sandbox ("pause") image, pullable from one of `registries`. */
  pauseImage: string;
  /** Registry host names pods use → the http URL containerd pulls from (e.g. openshell-registry:5000 → http://127.0.0.1:5000). */
  registries: Record<string, string>;
  /** Seconds to wait for the node to be Ready (default 120). */
  readyTimeoutSec?: number;
  /** Called with each progress line. */
  log?: (line: string) => void;
}

/** What `up` records in <dir>/state.json; `down` works from it alone. */
export interface NodeState {
  id: string;
  dir: string;
  nodeName: string;
  kubeVersion: string;
  kubeMinor: number;
  bins: NodeBinaries;
  ports: Record<'etcd' | 'etcdPeer' | 'apiserver' | 'kubelet' | 'kubeletHealthz' | 'kcm' | 'scheduler' | 'proxyHealthz' | 'proxyMetrics' | 'dnsReady', number>;
  /** /run/osrn-<id>: containerd's sockets and state, runc's root, network namespaces */
  runDir: string;
  bridge: string;
  cniNetwork: string;
  podCidr: string;
  nodeIp: string;
  serviceCidr: string;
  /** The kubelet's clusterDNS: CoreDNS on the node IP, port 53 (unset without bins.coredns). */
  clusterDns?: string;
  cgroupRoot: string;
  /** Host directories that did not exist before `up` (removed by `down`). */
  createdHostDirs: string[];
  pauseImage: string;
  registries: Record<string, string>;
}

export const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'coredns', 'containerd', 'kubelet', 'kube-proxy'] as const;
export type Component = (typeof COMPONENTS)[number];

/** Host-wide marker of the one running real node: holds its state directory. */
const OWNER_FILE = '/run/openshell-realnode.owner';
/** Directories the kubelet, containerd and libcni write to outside the state directory. */
// (Not /run/containerd: its s/ holds the shim sockets of every containerd on the host, dockerd's too.)
const HOST_DIRS = ['/var/lib/kubelet', '/var/lib/cni', '/var/log/containers', '/var/log/pods', '/opt/containerd', '/etc/cni', '/opt/cni', '/run/netns'];
const SERVICE_IP = '10.96.0.1';
/** Fixed paths only a kubelet writes to. */
const KUBELET_PATHS = ['/var/lib/kubelet', '/var/log/pods', '/var/log/containers'];

export class RealNodeError extends Error {}

// --- environment ----------------------------------------------------------------

/** The binary directories from the test bed's exports; undefined names what is missing. */
export function binariesFromEnv(env: NodeJS.ProcessEnv = process.env, kubeVar = 'OPENSHELL_TEST_KUBE_BIN_NEW'): { bins?: NodeBinaries; missing: string[] } {
  const missing: string[] = [];
  const dir = (name: string, bins: string[]) => {
    const d = env[name];
    if (!d) {
      missing.push(`${name} (bash .ci/run exports it)`);
      return '';
    }
    const absent = bins.filter((b) => !isExecutable(join(d, b)));
    if (absent.length > 0) missing.push(`${absent.join(', ')} in ${name}=${d}`);
    return d;
  };
  const etcdOnPath = which('etcd', env);
  const bins: NodeBinaries = {
    kube: dir(kubeVar, ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'kubelet', 'kube-proxy']),
    etcd: env.OPENSHELL_TEST_ETCD_BIN ? dir('OPENSHELL_TEST_ETCD_BIN', ['etcd']) : etcdOnPath ? dirname(etcdOnPath) : (missing.push('etcd on PATH'), ''),
    containerd: dir('OPENSHELL_TEST_CONTAINERD_BIN', ['containerd', 'containerd-shim-runc-v2', 'ctr']),
    runc: dir('OPENSHELL_TEST_RUNC_BIN', ['runc']),
    cni: dir('OPENSHELL_TEST_CNI_BIN', ['bridge', 'host-local', 'loopback', 'portmap', 'firewall']),
    ...(env.OPENSHELL_TEST_COREDNS_BIN ? { coredns: dir('OPENSHELL_TEST_COREDNS_BIN', ['coredns']) } : {}),
  };
  return missing.length > 0 ? { missing } : { bins, missing };
}

/**
 * Why a real node cannot run here, or false. Tests pass this to `skip`.
 * A real node runs only when asked (OPENSHELL_TEST_REAL_NODE=1, exported by
 * .ci/run), as root, with the binaries and the pause image.
 */
export function missingRealNode(env: NodeJS.ProcessEnv = process.env, kubeVar = 'OPENSHELL_TEST_KUBE_BIN_NEW'): false | string {
  if (env.OPENSHELL_TEST_REAL_NODE !== '1') return 'a real node runs only when asked: OPENSHELL_TEST_REAL_NODE=1 (bash .ci/run sets it)';
  if (process.getuid?.() !== 0) return 'a real node needs root (kubelet, containerd, CNI)';
  const { missing } = binariesFromEnv(env, kubeVar);
  if (missing.length > 0) return `a real node needs ${missing.join('; ')}`;
  if (!env.OPENSHELL_TEST_PAUSE_IMAGE) return 'a real node needs OPENSHELL_TEST_PAUSE_IMAGE (.ci/testbed/realnode.sh builds and pushes it)';
  for (const tool of ['openssl', 'iptables', 'ip', 'mount', 'umount']) {
    if (!which(tool, env)) return `a real node needs ${tool} on PATH`;
  }
  if (existsSync(OWNER_FILE)) {
    const other = readFileSync(OWNER_FILE, 'utf8').trim();
    if (other && anyAlive(other)) return `another real node runs on this host (${other}); stop it: node test/bed/realnode.ts down ${other}`;
  }
  return false;
}

/** Node options from the test bed's exports (throws naming what is missing). */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env, kubeVar = 'OPENSHELL_TEST_KUBE_BIN_NEW'): NodeOptions {
  const { bins, missing } = binariesFromEnv(env, kubeVar);
  if (!bins) throw new RealNodeError(`cannot start a real node: missing ${missing.join('; ')}`);
  const pauseImage = env.OPENSHELL_TEST_PAUSE_IMAGE;
  if (!pauseImage) throw new RealNodeError('cannot start a real node: OPENSHELL_TEST_PAUSE_IMAGE is not set (.ci/testbed/realnode.sh builds the pause image)');
  const port = (env.OPENSHELL_TEST_REGISTRY ?? 'localhost:5000').split(':')[1] ?? '5000';
  const url = `http://127.0.0.1:${port}`;
  return {
    bins,
    pauseImage,
    // What the kit's settings call the registry (openshell-registry:5000 in pods, localhost:5000 on the host).
    registries: { [`localhost:${port}`]: url, [`127.0.0.1:${port}`]: url, [`openshell-registry:5000`]: url },
    log: (l) => process.stderr.write(`[realnode] ${l}\n`),
  };
}

// --- small helpers --------------------------------------------------------------

function which(bin: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const d of (env.PATH ?? '').split(delimiter)) if (d && isExecutable(join(d, bin))) return join(d, bin);
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    return statSync(path).isFile() && (statSync(path).mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

function sh(argv: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input: opts.input, timeout: opts.timeoutMs ?? 60_000, env: opts.env ?? process.env });
}

function must(argv: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
  const r = sh(argv, opts);
  if (r.status !== 0) throw new RealNodeError(`${argv.join(' ')} → exit ${r.status ?? r.signal}: ${(r.stderr || r.stdout || String(r.error ?? '')).trim()}`);
  return r.stdout;
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((res, rej) => {
      const s = createServer();
      s.once('error', rej);
      s.listen({ port: 0, host: '127.0.0.1' }, () => res(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>, explain?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new RealNodeError(`timed out after ${timeoutMs / 1000}s waiting for ${what}${explain ? `: ${explain()}` : ''}`);
    await sleep(200);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** This process and its ancestors (a CLI whose arguments name the state directory is not a leftover). */
function selfAndAncestors(): Set<number> {
  const out = new Set<number>();
  for (let pid = process.pid; pid > 1 && !out.has(pid); ) {
    out.add(pid);
    try {
      pid = Number(/^\d+ \(.*\) \S (\d+)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] ?? 0);
    } catch {
      break;
    }
  }
  return out;
}

function pidsMentioning(needle: string): number[] {
  const found: number[] = [];
  const mine = selfAndAncestors();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || mine.has(Number(p))) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ').includes(needle) && alive(Number(p))) found.push(Number(p));
    } catch {
      // gone
    }
  }
  return found;
}

function anyAlive(dir: string): boolean {
  return pidsMentioning(resolve(dir) + '/').length > 0;
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Mount points (from /proc/self/mountinfo) at or under any of `prefixes`, deepest first. */
export function mountsUnder(...prefixes: string[]): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4]?.replace(/\\040/g, ' ');
    if (mp && prefixes.some((p) => mp === p || mp.startsWith(p + '/'))) out.push(mp);
  }
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

/** Mounted cgroup hierarchies: v1 controllers and the v2 unified one. */
function cgroupMounts(): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    const fstype = post?.split(' ')[0];
    const mp = pre?.split(' ')[4];
    if (mp && (fstype === 'cgroup' || fstype === 'cgroup2')) out.push(mp);
  }
  return out;
}

/** Split one `iptables -S` line into arguments (double quotes group words). */
export function splitRule(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

const OUR_CHAIN = /^(KUBE|CNI)-/;
const IPTABLES = ['iptables', 'ip6tables', 'iptables-legacy', 'ip6tables-legacy'];
const TABLES = ['filter', 'nat', 'mangle', 'raw'];

/** KUBE-/CNI- chains present on the host, as "<tool> <table> <chain>". */
export function ourChains(): string[] {
  const found: string[] = [];
  for (const tool of IPTABLES) {
    if (!which(tool)) continue;
    for (const table of TABLES) {
      const r = sh([tool, '-w', '5', '-t', table, '-S'], { timeoutMs: 15_000 });
      if (r.status !== 0) continue;
      for (const line of r.stdout.split('\n')) {
        const [verb, chain] = line.split(' ');
        if (verb === '-N' && chain && OUR_CHAIN.test(chain)) found.push(`${tool} ${table} ${chain}`);
      }
    }
  }
  return found;
}

/** Remove every KUBE-/CNI- chain and every jump to one, in all tables (one real node per host owns them). */
function sweepChains(): void {
  for (const tool of IPTABLES) {
    if (!which(tool)) continue;
    for (const table of TABLES) {
      const r = sh([tool, '-w', '5', '-t', table, '-S'], { timeoutMs: 15_000 });
      if (r.status !== 0) continue;
      const lines = r.stdout.split('\n');
      const chains = lines.map((l) => l.split(' ')).filter(([v, c]) => v === '-N' && c && OUR_CHAIN.test(c)).map(([, c]) => c!);
      if (chains.length === 0) continue;
      // Jumps from the built-in (and other foreign) chains into ours.
      for (const line of lines) {
        const args = splitRule(line);
        if (args[0] !== '-A' || OUR_CHAIN.test(args[1] ?? '')) continue;
        const j = args.indexOf('-j');
        if (j >= 0 && OUR_CHAIN.test(args[j + 1] ?? '')) sh([tool, '-w', '5', '-t', table, '-D', ...args.slice(1)]);
      }
      for (const c of chains) sh([tool, '-w', '5', '-t', table, '-F', c]);
      for (const c of chains) sh([tool, '-w', '5', '-t', table, '-X', c]);
    }
  }
}

function genId(dir: string): string {
  return createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 8);
}

/** A /24 for pods that no route on this host uses yet, from 10.244.0.0/16 upwards. */
function pickPodSubnet(): { cidr: string; gateway: string } {
  const routes = sh(['ip', '-4', 'route', 'show']).stdout + sh(['ip', '-4', 'addr', 'show']).stdout;
  for (let second = 244; second < 250; second++) {
    for (let third = 0; third < 256; third++) {
      const prefix = `10.${second}.${third}.`;
      if (!routes.includes(prefix)) return { cidr: `${prefix}0/24`, gateway: `${prefix}1` };
    }
  }
  throw new RealNodeError('no free /24 in 10.244.0.0–10.249.255.0 for the pod network');
}

// --- files --------------------------------------------------------------------------

function write(path: string, content: string, mode?: number): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content, mode !== undefined ? { mode } : undefined);
}

function kubeconfig(server: string, ca: string, user: string, token: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: realnode`,
    `  cluster: {server: "${server}", certificate-authority: "${ca}"}`,
    'users:',
    `- name: ${user}`,
    `  user: {token: "${token}"}`,
    'contexts:',
    `- name: realnode`,
    `  context: {cluster: realnode, user: ${user}}`,
    'current-context: realnode',
    '',
  ].join('\n');
}

function makePki(pki: string, nodeIp: string): void {
  mkdirSync(pki, { recursive: true });
  const ossl = (...args: string[]) => must(['openssl', ...args]);
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', '/CN=openshell-realnode-ca', '-keyout', join(pki, 'ca.key'), '-out', join(pki, 'ca.crt'));
  const leaf = (name: string, subj: string, ext: string) => {
    write(join(pki, `${name}.ext`), ext);
    ossl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', subj, '-keyout', join(pki, `${name}.key`), '-out', join(pki, `${name}.csr`));
    ossl('x509', '-req', '-in', join(pki, `${name}.csr`), '-CA', join(pki, 'ca.crt'), '-CAkey', join(pki, 'ca.key'), '-CAcreateserial', '-days', '3650', '-extfile', join(pki, `${name}.ext`), '-out', join(pki, `${name}.crt`));
  };
  leaf(
    'apiserver',
    '/CN=kube-apiserver',
    `subjectAltName=IP:127.0.0.1,IP:${SERVICE_IP},IP:${nodeIp},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n`,
  );
  leaf('apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', 'extendedKeyUsage=clientAuth\n');
  ossl('genrsa', '-out', join(pki, 'sa.key'), '2048');
  ossl('rsa', '-in', join(pki, 'sa.key'), '-pubout', '-out', join(pki, 'sa.pub'));
}

function token(): string {
  return createHash('sha256').update(`${Date.now()}${Math.random()}`).digest('hex').slice(0, 32);
}

// --- the node ---------------------------------------------------------------------

export class RealNode {
  readonly dir: string;
  state: NodeState | undefined;
  private log: (line: string) => void;
  /** Milliseconds from `up` to each milestone (etcd, apiserver, containerd, node Ready). */
  readonly timings: Record<string, number> = {};

  constructor(dir: string, log?: (line: string) => void) {
    this.dir = resolve(dir);
    this.log = log ?? (() => {});
    const f = join(this.dir, 'state.json');
    if (existsSync(f)) this.state = JSON.parse(readFileSync(f, 'utf8')) as NodeState;
  }

  /** The admin kubeconfig (inside the state directory). */
  get kubeconfig(): string {
    return join(this.dir, 'kubeconfig');
  }

  /** Environment for the kit's tasks with the `existing` provider against this node. */
  kitEnv(): Record<string, string> {
    return {
      OPENSHELL_DEV_CLUSTER_PROVIDER: 'existing',
      KUBECONFIG: this.kubeconfig,
      OPENSHELL_DEV_CONTEXT: 'realnode',
    };
  }

  private st(): NodeState {
    if (!this.state) throw new RealNodeError(`${this.dir} holds no real node (no state.json): start one with node test/bed/realnode.ts up ${this.dir}`);
    return this.state;
  }

  private logFile(c: Component): string {
    return join(this.dir, 'logs', `${c}.log`);
  }

  private pidFile(c: Component): string {
    return join(this.dir, 'run', `${c}.pid`);
  }

  pid(c: Component): number | undefined {
    try {
      const pid = Number(readFileSync(this.pidFile(c), 'utf8').trim());
      return pid > 0 && alive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** The components this node runs (CoreDNS only with its binary). */
  components(): Component[] {
    return COMPONENTS.filter((c) => c !== 'coredns' || this.st().clusterDns !== undefined);
  }

  running(c: Component): boolean {
    return this.pid(c) !== undefined;
  }

  /** kubectl against this node as admin. */
  kubectl(args: string[], input?: string, timeoutMs = 60_000): SpawnSyncReturns<string> {
    return sh([join(this.st().bins.kube, 'kubectl'), '--kubeconfig', this.kubeconfig, ...args], { input, timeoutMs });
  }

  /** ctr against this node's containerd (namespace k8s.io). */
  ctr(args: string[], timeoutMs = 30_000): SpawnSyncReturns<string> {
    const s = this.st();
    return sh([join(s.bins.containerd, 'ctr'), '--address', join(s.runDir, 'containerd.sock'), '--namespace', 'k8s.io', ...args], { timeoutMs });
  }

  private argv(c: Component): string[] {
    const s = this.st();
    const d = this.dir;
    const pki = join(d, 'pki');
    const k = (b: string) => join(s.bins.kube, b);
    switch (c) {
      case 'etcd':
        return [
          join(s.bins.etcd, 'etcd'),
          '--name', 'realnode',
          '--data-dir', join(d, 'etcd'),
          '--listen-client-urls', `http://127.0.0.1:${s.ports.etcd}`,
          '--advertise-client-urls', `http://127.0.0.1:${s.ports.etcd}`,
          '--listen-peer-urls', `http://127.0.0.1:${s.ports.etcdPeer}`,
          '--initial-advertise-peer-urls', `http://127.0.0.1:${s.ports.etcdPeer}`,
          '--initial-cluster', `realnode=http://127.0.0.1:${s.ports.etcdPeer}`,
          '--listen-metrics-urls', '',
          '--log-level', 'warn',
          '--quota-backend-bytes', String(2 * 1024 ** 3),
        ];
      case 'kube-apiserver':
        return [
          k('kube-apiserver'),
          '--etcd-servers', `http://127.0.0.1:${s.ports.etcd}`,
          '--bind-address', s.nodeIp,
          '--secure-port', String(s.ports.apiserver),
          '--advertise-address', s.nodeIp,
          '--tls-cert-file', join(pki, 'apiserver.crt'),
          '--tls-private-key-file', join(pki, 'apiserver.key'),
          '--client-ca-file', join(pki, 'ca.crt'),
          '--token-auth-file', join(pki, 'tokens.csv'),
          '--authorization-mode', 'Node,RBAC',
          '--enable-admission-plugins', 'NodeRestriction',
          '--allow-privileged=true',
          '--service-account-issuer', 'https://kubernetes.default.svc.cluster.local',
          '--service-account-key-file', join(pki, 'sa.pub'),
          '--service-account-signing-key-file', join(pki, 'sa.key'),
          '--service-cluster-ip-range', s.serviceCidr,
          // The node's host name does not resolve here: reach the kubelet by its IP.
          '--kubelet-preferred-address-types', 'InternalIP,Hostname',
          '--kubelet-client-certificate', join(pki, 'apiserver-kubelet-client.crt'),
          '--kubelet-client-key', join(pki, 'apiserver-kubelet-client.key'),
          '--endpoint-reconciler-type', 'lease',
          '--profiling=false',
        ];
      case 'kube-controller-manager':
        return [
          k('kube-controller-manager'),
          '--kubeconfig', join(d, 'etc', 'controller-manager.kubeconfig'),
          '--bind-address', '127.0.0.1',
          '--secure-port', String(s.ports.kcm),
          '--root-ca-file', join(pki, 'ca.crt'),
          '--service-account-private-key-file', join(pki, 'sa.key'),
          '--controllers', '*,-nodeipam',
          '--leader-elect=false',
          // Each controller acts as its own ServiceAccount (the bootstrap RBAC roles expect that).
          '--use-service-account-credentials=true',
          // A stopped kubelet shows as NotReady within seconds, not the default 50 s (fault tests).
          '--node-monitor-period', '2s',
          '--node-monitor-grace-period', '16s',
        ];
      case 'kube-scheduler':
        return [k('kube-scheduler'), '--kubeconfig', join(d, 'etc', 'scheduler.kubeconfig'), '--bind-address', '127.0.0.1', '--secure-port', String(s.ports.scheduler), '--leader-elect=false'];
      case 'containerd':
        return [join(s.bins.containerd, 'containerd'), '--config', join(d, 'etc', 'containerd', 'config.toml')];
      case 'coredns':
        return [join(s.bins.coredns ?? '', 'coredns'), '-conf', join(d, 'etc', 'Corefile')];
      case 'kubelet':
        return [
          k('kubelet'),
          '--config', join(d, 'etc', 'kubelet-config.yaml'),
          '--kubeconfig', join(d, 'etc', 'kubelet.kubeconfig'),
          '--root-dir', join(d, 'kubelet'),
          '--cert-dir', join(d, 'kubelet', 'pki'),
          '--hostname-override', s.nodeName,
          '--node-ip', s.nodeIp,
          '--v', '2',
        ];
      case 'kube-proxy':
        return [
          k('kube-proxy'),
          '--kubeconfig', join(d, 'etc', 'kube-proxy.kubeconfig'),
          '--proxy-mode', 'iptables',
          '--cluster-cidr', s.podCidr,
          '--hostname-override', s.nodeName,
          '--healthz-bind-address', `127.0.0.1:${s.ports.proxyHealthz}`,
          '--metrics-bind-address', `127.0.0.1:${s.ports.proxyMetrics}`,
          '--conntrack-max-per-core', '0',
          '--conntrack-tcp-timeout-established', '0',
          '--conntrack-tcp-timeout-close-wait', '0',
        ];
    }
  }

  /** Start one component in the background (its own session; survives this process). */
  start(c: Component): number {
    const existing = this.pid(c);
    if (existing) return existing;
    const s = this.st();
    mkdirSync(join(this.dir, 'logs'), { recursive: true });
    mkdirSync(join(this.dir, 'run'), { recursive: true });
    const out = openSync(this.logFile(c), 'a');
    const [bin, ...args] = this.argv(c);
    // containerd finds its shim on PATH: ours first, not the host's.
    const env = { ...process.env, PATH: [s.bins.containerd, s.bins.runc, process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'].join(delimiter) };
    const child = spawn(bin!, args, { detached: true, stdio: ['ignore', out, out], env, cwd: this.dir });
    closeSync(out);
    child.unref();
    if (!child.pid) throw new RealNodeError(`${c} did not start: ${bin}`);
    writeFileSync(this.pidFile(c), String(child.pid));
    return child.pid;
  }

  /** Stop one component: SIGTERM, then SIGKILL after `graceMs`. `signal` SIGKILL kills at once (fault tests). */
  async stop(c: Component, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
    const pid = this.pid(c);
    if (!pid) return;
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    const deadline = Date.now() + graceMs;
    while (alive(pid) && Date.now() < deadline) await sleep(100);
    if (alive(pid)) {
      this.log(`${c} (pid ${pid}) did not stop in ${graceMs / 1000}s; killing it`);
      process.kill(pid, 'SIGKILL');
      while (alive(pid)) await sleep(50);
    }
    rmSync(this.pidFile(c), { force: true });
  }

  private async waitHealthy(c: Component, timeoutMs: number): Promise<void> {
    const s = this.st();
    const dead = () => !this.running(c);
    const explain = () => `${c} log (${this.logFile(c)}):\n${tail(this.logFile(c))}`;
    const check = async (): Promise<boolean> => {
      if (dead()) throw new RealNodeError(`${c} exited during start-up; ${explain()}`);
      switch (c) {
        case 'etcd':
          return httpOk(`http://127.0.0.1:${s.ports.etcd}/health`);
        case 'kube-apiserver':
          return this.kubectl(['get', '--raw', '/readyz'], undefined, 5000).status === 0;
        case 'containerd':
          return existsSync(join(s.runDir, 'containerd.sock')) && this.ctr(['version'], 5000).status === 0;
        case 'kubelet':
          return httpOk(`http://127.0.0.1:${s.ports.kubeletHealthz}/healthz`);
        case 'kube-proxy':
          return httpOk(`http://127.0.0.1:${s.ports.proxyHealthz}/livez`);
        case 'coredns':
          // `ready`: every plugin (the kubernetes one: its first list of Services) is ready.
          return httpOk(`http://127.0.0.1:${s.ports.dnsReady}/ready`);
        default:
          return true;
      }
    };
    await waitFor(`${c} to answer`, timeoutMs, check, explain);
  }

  /** Start (or restart) a component and wait until it answers. */
  async startAndWait(c: Component, timeoutMs = 60_000): Promise<void> {
    this.start(c);
    await this.waitHealthy(c, timeoutMs);
  }

  /** The node's Ready condition: "True", "False", "Unknown", or undefined when there is no Node yet. */
  nodeReady(): string | undefined {
    const r = this.kubectl(['get', 'node', this.st().nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'], undefined, 10_000);
    return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
  }

  async waitReady(timeoutMs = 120_000): Promise<void> {
    await waitFor(`node ${this.st().nodeName} to be Ready`, timeoutMs, () => this.nodeReady() === 'True', () => `kubelet log:\n${tail(this.logFile('kubelet'))}`);
  }

  /** Start the node in this directory (find it running if it already is). */
  async up(opts: NodeOptions): Promise<void> {
    const t0 = performance.now();
    const mark = (what: string) => {
      this.timings[what] = performance.now() - t0;
      this.log(`${what} (+${(this.timings[what] / 1000).toFixed(1)}s)`);
    };
    this.log = opts.log ?? this.log;
    if (process.getuid?.() !== 0) throw new RealNodeError('a real node needs root (kubelet, containerd and CNI change the host)');
    if (existsSync(OWNER_FILE)) {
      const other = readFileSync(OWNER_FILE, 'utf8').trim();
      if (other && other !== this.dir && anyAlive(other)) {
        throw new RealNodeError(`another real node runs on this host from ${other} (one per host: the kubelet's device-plugin socket and the iptables chains are host-wide); stop it first: node test/bed/realnode.ts down ${other}`);
      }
    }
    if (this.state && this.components().every((c) => this.running(c)) && this.nodeReady() === 'True') {
      this.log(`already running: ${this.kubeconfig}`);
      return;
    }
    if (this.state) {
      this.log('found a stopped or partial node here: cleaning it up first');
      await this.down();
    }
    mkdirSync(this.dir, { recursive: true });
    const version = must([join(opts.bins.kube, 'kubelet'), '--version']).trim().split(' ').pop() ?? '';
    const minor = Number(/^v1\.(\d+)\./.exec(version)?.[1] ?? NaN);
    if (!Number.isFinite(minor)) throw new RealNodeError(`cannot read the kubelet's version from "${version}" (${opts.bins.kube}/kubelet --version)`);
    const [etcd, etcdPeer, apiserver, kubelet, kubeletHealthz, kcm, scheduler, proxyHealthz, proxyMetrics, dnsReady] = await freePorts(10);
    const id = genId(this.dir);
    const { cidr, gateway } = pickPodSubnet();
    const createdHostDirs = HOST_DIRS.filter((d) => !existsSync(d));
    const s: NodeState = {
      id,
      dir: this.dir,
      nodeName: 'realnode',
      kubeVersion: version,
      kubeMinor: minor,
      bins: opts.bins,
      ports: { etcd: etcd!, etcdPeer: etcdPeer!, apiserver: apiserver!, kubelet: kubelet!, kubeletHealthz: kubeletHealthz!, kcm: kcm!, scheduler: scheduler!, proxyHealthz: proxyHealthz!, proxyMetrics: proxyMetrics!, dnsReady: dnsReady! },
      runDir: `/run/osrn-${id}`,
      bridge: `osrn${id.slice(0, 6)}`,
      cniNetwork: `openshell-realnode-${id}`,
      podCidr: cidr,
      nodeIp: gateway,
      serviceCidr: '10.96.0.0/16',
      ...(opts.bins.coredns ? { clusterDns: gateway } : {}),
      cgroupRoot: `/openshell-realnode-${id}`,
      createdHostDirs,
      pauseImage: opts.pauseImage,
      registries: opts.registries,
    };
    this.state = s;
    writeFileSync(join(this.dir, 'state.json'), JSON.stringify(s, null, 2));
    writeFileSync(OWNER_FILE, this.dir);
    try {
      this.writeConfig();
      this.hostSetup();
      mark('configured (PKI, configs, bridge, cgroups)');
      await this.startAndWait('etcd');
      mark('etcd healthy');
      await this.startAndWait('kube-apiserver', 90_000);
      mark('kube-apiserver ready');
      this.start('kube-controller-manager');
      this.start('kube-scheduler');
      if (s.clusterDns) {
        await this.startAndWait('coredns');
        mark(`CoreDNS ready on ${s.clusterDns}:53 (cluster.local)`);
      }
      await this.startAndWait('containerd');
      mark('containerd answers');
      await this.startAndWait('kubelet');
      await this.startAndWait('kube-proxy');
      await this.waitReady((opts.readyTimeoutSec ?? 120) * 1000);
      // Pods need the default ServiceAccount (the controller-manager makes it).
      await waitFor('the default ServiceAccount', 60_000, () => this.kubectl(['get', 'serviceaccount', 'default', '-n', 'default'], undefined, 5000).status === 0);
      mark(`node ${s.nodeName} Ready (kubelet ${version}, containerd)`);
    } catch (err) {
      this.log(`start failed: ${(err as Error).message}`);
      this.log('cleaning up what was started');
      await this.down().catch((e) => this.log(`cleanup: ${(e as Error).message}`));
      throw err;
    }
  }

  private writeConfig(): void {
    const s = this.st();
    const d = this.dir;
    const pki = join(d, 'pki');
    makePki(pki, s.nodeIp);
    const tokens = { admin: token(), kubelet: token(), kcm: token(), scheduler: token(), proxy: token() };
    write(
      join(pki, 'tokens.csv'),
      [
        `${tokens.admin},admin,admin,"system:masters"`,
        `${tokens.kubelet},system:node:${s.nodeName},kubelet,"system:nodes"`,
        `${tokens.kcm},system:kube-controller-manager,kcm`,
        `${tokens.scheduler},system:kube-scheduler,scheduler`,
        `${tokens.proxy},system:kube-proxy,kube-proxy`,
        '',
      ].join('\n'),
      0o600,
    );
    const server = `https://${s.nodeIp}:${s.ports.apiserver}`;
    const ca = join(pki, 'ca.crt');
    write(this.kubeconfig, kubeconfig(server, ca, 'admin', tokens.admin), 0o600);
    write(join(d, 'etc', 'kubelet.kubeconfig'), kubeconfig(server, ca, `system:node:${s.nodeName}`, tokens.kubelet), 0o600);
    write(join(d, 'etc', 'controller-manager.kubeconfig'), kubeconfig(server, ca, 'system:kube-controller-manager', tokens.kcm), 0o600);
    write(join(d, 'etc', 'scheduler.kubeconfig'), kubeconfig(server, ca, 'system:kube-scheduler', tokens.scheduler), 0o600);
    write(join(d, 'etc', 'kube-proxy.kubeconfig'), kubeconfig(server, ca, 'system:kube-proxy', tokens.proxy), 0o600);

    // containerd 2.x, config version 4, its own sockets and state under runDir.
    const hostsDir = join(d, 'etc', 'containerd', 'certs.d');
    for (const [name, url] of Object.entries(s.registries)) {
      write(join(hostsDir, name, 'hosts.toml'), `server = "${url}"\n\n[host."${url}"]\n  capabilities = ["pull", "resolve"]\n  skip_verify = true\n`);
    }
    write(
      join(d, 'etc', 'containerd', 'config.toml'),
      `version = 4
root = '${join(d, 'containerd')}'
state = '${s.runDir}/containerd'
[plugins]
  [plugins.'io.containerd.server.v1.grpc']
    address = '${s.runDir}/containerd.sock'
  [plugins.'io.containerd.server.v1.ttrpc']
    address = '${s.runDir}/containerd.sock.ttrpc'
  [plugins.'io.containerd.internal.v1.opt']
    path = '${join(d, 'containerd-opt')}'
  [plugins.'io.containerd.nri.v1.nri']
    disable = true
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = '${s.pauseImage}'
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = '${hostsDir}'
  [plugins.'io.containerd.cri.v1.runtime']
    # This host's capability bounding set lacks CAP_SYS_RESOURCE: nothing may lower oom_score_adj.
    restrict_oom_score_adj = true
    netns_mounts_under = '${s.runDir}/netns'
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = '${join(s.bins.runc, 'runc')}'
          Root = '${s.runDir}/runc'
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['${s.bins.cni}']
      conf_dir = '${join(d, 'etc', 'cni')}'
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
`,
    );
    // CNI: our bridge (made by hostSetup, so the kubelet has its node IP at start), then
    // portmap, then firewall: dockerd's FORWARD DROP would drop pod↔pod traffic otherwise.
    write(
      join(d, 'etc', 'cni', '10-realnode.conflist'),
      JSON.stringify(
        {
          cniVersion: '1.0.0',
          name: s.cniNetwork,
          plugins: [
            {
              type: 'bridge',
              bridge: s.bridge,
              isGateway: true,
              ipMasq: true,
              hairpinMode: true,
              ipam: { type: 'host-local', ranges: [[{ subnet: s.podCidr, gateway: s.nodeIp }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(d, 'cni-ipam') },
            },
            { type: 'portmap', capabilities: { portMappings: true } },
            { type: 'firewall', backend: 'iptables' },
          ],
        },
        null,
        2,
      ),
    );
    // CoreDNS as a host process (pods reach it on the node IP, over the bridge): Service and
    // pod names of cluster.local from the API server, everything else from the host's resolver.
    // It listens on port 53 of every host address (the test bed's CoreDNS has no `bind` plugin;
    // one real node per host, nothing else here serves DNS on the host).
    if (s.clusterDns) {
      write(
        join(d, 'etc', 'Corefile'),
        `.:53 {
    errors
    ready 127.0.0.1:${s.ports.dnsReady}
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig ${this.kubeconfig} realnode
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . /etc/resolv.conf
    cache 30
}
`,
      );
    }
    const v = s.kubeMinor;
    write(
      join(d, 'etc', 'kubelet-config.yaml'),
      [
        'apiVersion: kubelet.config.k8s.io/v1beta1',
        'kind: KubeletConfiguration',
        // cgroup v1 hosts: 1.31+ refuse them unless told otherwise.
        ...(v >= 31 ? ['failCgroupV1: false'] : []),
        'failSwapOn: false',
        'cgroupDriver: cgroupfs',
        `cgroupRoot: ${s.cgroupRoot}`,
        `containerRuntimeEndpoint: unix://${s.runDir}/containerd.sock`,
        `address: ${s.nodeIp}`,
        `port: ${s.ports.kubelet}`,
        `healthzPort: ${s.ports.kubeletHealthz}`,
        'healthzBindAddress: 127.0.0.1',
        'readOnlyPort: 0',
        'authentication:',
        '  anonymous: {enabled: false}',
        '  webhook: {enabled: true}',
        `  x509: {clientCAFile: ${join(pki, 'ca.crt')}}`,
        'authorization: {mode: Webhook}',
        'clusterDomain: cluster.local',
        // Pods resolve Service names (the gateway's grpc_endpoint) through CoreDNS on the node IP.
        ...(s.clusterDns ? [`clusterDNS: [${s.clusterDns}]`] : []),
        'resolvConf: /etc/resolv.conf',
        'serializeImagePulls: false',
        'imageGCHighThresholdPercent: 100',
        'imageGCLowThresholdPercent: 99',
        'evictionHard: {memory.available: "100Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}',
        `volumePluginDir: ${join(d, 'volume-plugins')}`,
        ...(v >= 30 ? [`podLogsDir: ${join(d, 'pod-logs')}`] : []),
        'syncFrequency: 10s',
        'nodeStatusUpdateFrequency: 5s',
        // Renewed every quarter of this: within the controller-manager's 16 s grace period.
        'nodeLeaseDurationSeconds: 20',
        '',
      ].join('\n'),
    );
  }

  /** The bridge (its address is the node IP), the cgroup root, the run directory. */
  private hostSetup(): void {
    const s = this.st();
    mkdirSync(join(s.runDir, 'netns'), { recursive: true });
    must(['ip', 'link', 'add', s.bridge, 'type', 'bridge']);
    must(['ip', 'addr', 'add', `${s.nodeIp}/24`, 'dev', s.bridge]);
    must(['ip', 'link', 'set', s.bridge, 'up']);
    for (const m of cgroupMounts()) {
      const dir = join(m, s.cgroupRoot);
      mkdirSync(dir, { recursive: true });
      // cgroup v1 cpuset: a new group starts with no CPUs and no memory nodes.
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        if (existsSync(join(dir, f)) && readFileSync(join(dir, f), 'utf8').trim() === '') writeFileSync(join(dir, f), readFileSync(join(m, f), 'utf8'));
      }
    }
  }

  /** Stop everything and remove every trace on the host. Safe to repeat; works on a half-started or crashed node. */
  async down(): Promise<void> {
    if (!this.state) return;
    const s = this.state;
    // 1. An orderly teardown while the node works: controllers off (nothing re-creates
    //    pods), pods deleted, the kubelet stops their sandboxes (CNI DEL, netns removed).
    if (this.running('kubelet') && this.running('containerd') && this.running('kube-apiserver')) {
      await this.stop('kube-controller-manager');
      await this.stop('kube-scheduler');
      this.kubectl(['delete', 'pods', '--all', '--all-namespaces', '--grace-period=0', '--force', '--wait=false'], undefined, 30_000);
      await waitFor('pods to stop', 30_000, () => this.runningTasks() === 0).catch((e) => this.log(`${(e as Error).message}; killing what is left`));
    }
    // 2. Stop the components, the shims and whatever still runs in the node's cgroups.
    for (const c of ['kube-proxy', 'kubelet', 'coredns', 'kube-scheduler', 'kube-controller-manager'] as const) await this.stop(c);
    this.removeSandboxes();
    await this.stop('containerd');
    this.killLeftovers();
    await this.stop('kube-apiserver');
    await this.stop('etcd');
    this.killLeftovers();
    // 3. Host state: mounts, network namespaces, bridge, iptables, cgroups, files.
    for (const m of mountsUnder(this.dir, s.runDir)) {
      if (sh(['umount', m]).status !== 0) sh(['umount', '-l', m]);
    }
    sh([join(s.bins.kube, 'kube-proxy'), '--cleanup'], { timeoutMs: 30_000 });
    sweepChains();
    if (sh(['ip', 'link', 'show', s.bridge]).status === 0) sh(['ip', 'link', 'del', s.bridge]);
    for (const m of cgroupMounts()) removeCgroupTree(join(m, s.cgroupRoot));
    for (const dir of ['/var/lib/cni/results', '/var/lib/cni/cache/results']) {
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir)) if (f.startsWith(`${s.cniNetwork}-`)) rmSync(join(dir, f), { force: true });
    }
    rmSync(s.runDir, { recursive: true, force: true });
    // The kubelet links every container's log into /var/log/containers (a fixed path).
    for (const link of ourLogLinks(this.dir)) rmSync(link, { force: true });
    // The kubelet's device-plugin socket cannot be moved from /var/lib/kubelet.
    rmSync('/var/lib/kubelet/device-plugins/kubelet.sock', { force: true });
    // Host directories the node created, unless something else has put a file there meanwhile. Only a
    // kubelet writes to its own fixed paths, and one real node runs per host: those go whole (before 1.30
    // the kubelet cannot move its pod logs out of /var/log/pods).
    for (const d of s.createdHostDirs) {
      if (existsSync(d) && (KUBELET_PATHS.includes(d) || !holdsFiles(d))) rmSync(d, { recursive: true, force: true });
    }
    // Keep the logs for a post-mortem; everything else in the state directory goes.
    for (const f of readdirSync(this.dir)) if (f !== 'logs') rmSync(join(this.dir, f), { recursive: true, force: true });
    if (existsSync(OWNER_FILE) && readFileSync(OWNER_FILE, 'utf8').trim() === this.dir) unlinkSync(OWNER_FILE);
    this.state = undefined;
  }

  private runningTasks(): number {
    const r = this.ctr(['tasks', 'ls', '-q'], 10_000);
    return r.status === 0 ? r.stdout.trim().split('\n').filter(Boolean).length : 0;
  }

  /** Kill and delete every container task through containerd (after the kubelet is gone). */
  private removeSandboxes(): void {
    if (!this.running('containerd')) return;
    const tasks = this.ctr(['tasks', 'ls', '-q'], 10_000).stdout.trim().split('\n').filter(Boolean);
    for (const t of tasks) this.ctr(['tasks', 'kill', '-s', 'SIGKILL', t], 10_000);
    for (const t of tasks) this.ctr(['tasks', 'delete', '-f', t], 10_000);
  }

  /** SIGKILL whatever still mentions this node (shims, components) or runs in its cgroups. */
  private killLeftovers(): void {
    const s = this.st();
    const pids = new Set([...pidsMentioning(this.dir + '/'), ...pidsMentioning(s.runDir)]);
    for (const m of cgroupMounts()) for (const p of cgroupProcs(join(m, s.cgroupRoot))) pids.add(p);
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }

  /** What a stopped node left on the host (empty when clean). */
  leftovers(s: NodeState): string[] {
    const found: string[] = [];
    for (const p of [...pidsMentioning(s.dir + '/'), ...pidsMentioning(s.runDir)]) found.push(`process ${p}: ${cmdline(p)}`);
    for (const m of cgroupMounts()) {
      if (existsSync(join(m, s.cgroupRoot))) found.push(`cgroup ${join(m, s.cgroupRoot)}`);
      for (const p of cgroupProcs(join(m, s.cgroupRoot))) found.push(`process ${p} in cgroup ${m}${s.cgroupRoot}`);
    }
    for (const m of mountsUnder(s.dir, s.runDir, '/var/lib/kubelet')) found.push(`mount ${m}`);
    if (sh(['ip', 'link', 'show', s.bridge]).status === 0) found.push(`bridge ${s.bridge}`);
    const links = sh(['ip', '-o', 'link', 'show', 'master', s.bridge]);
    if (links.status === 0 && links.stdout.trim()) found.push(`links on ${s.bridge}: ${links.stdout.trim()}`);
    for (const c of ourChains()) found.push(`iptables chain ${c}`);
    if (existsSync(s.runDir)) found.push(`directory ${s.runDir}`);
    for (const dir of ['/var/lib/cni/results', '/var/lib/cni/cache/results']) {
      if (existsSync(dir)) for (const f of readdirSync(dir)) if (f.startsWith(`${s.cniNetwork}-`)) found.push(`CNI result ${join(dir, f)}`);
    }
    for (const d of s.createdHostDirs) if (existsSync(d) && !holdsFiles(d)) found.push(`directory ${d} (created by the node, empty)`);
    for (const d of s.createdHostDirs) if (existsSync(d) && holdsFiles(d)) found.push(`files in ${d} (created by the node)`);
    for (const l of ourLogLinks(s.dir)) found.push(`log link ${l}`);
    if (existsSync('/var/lib/kubelet/device-plugins/kubelet.sock')) found.push('socket /var/lib/kubelet/device-plugins/kubelet.sock');
    for (const f of existsSync(s.dir) ? readdirSync(s.dir) : []) if (f !== 'logs') found.push(`state ${join(s.dir, f)}`);
    return found;
  }
}

/** Symlinks in /var/log/containers that point into the state directory. */
function ourLogLinks(dir: string): string[] {
  const base = '/var/log/containers';
  if (!existsSync(base)) return [];
  return readdirSync(base).map((f) => join(base, f)).filter((p) => {
    try {
      return readlinkSync(p).startsWith(dir + '/');
    } catch {
      return false;
    }
  });
}

/** Anything but directories below `dir`. */
function holdsFiles(dir: string): boolean {
  try {
    return readdirSync(dir, { withFileTypes: true }).some((e) => !e.isDirectory() || holdsFiles(join(dir, e.name)));
  } catch {
    return false;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 160);
  } catch {
    return '?';
  }
}

function cgroupProcs(dir: string): number[] {
  if (!existsSync(dir)) return [];
  const out: number[] = [];
  const walk = (d: string) => {
    try {
      for (const l of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (l.trim()) out.push(Number(l));
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    } catch {
      // removed meanwhile
    }
  };
  walk(dir);
  return out;
}

/** rmdir a cgroup and its children, deepest first (cgroup files cannot be unlinked; empty groups can be removed). */
function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
  for (let i = 0; i < 50; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch {
      // processes still leaving: retry briefly
      spawnSync('sleep', ['0.1']);
    }
  }
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

// --- CLI ----------------------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  const [cmd, dirArg] = argv;
  if (!cmd || !dirArg || !['up', 'down', 'check'].includes(cmd)) {
    process.stderr.write('usage: node test/bed/realnode.ts up|down|check <state-dir>\n  (env: the test bed\'s exports, see .ci/README.md; OPENSHELL_TEST_KUBE_BIN overrides the kube directory)\n');
    return 2;
  }
  const log = (l: string) => process.stderr.write(`[realnode] ${l}\n`);
  const node = new RealNode(dirArg, log);
  try {
    if (cmd === 'up') {
      const kubeVar = process.env.OPENSHELL_TEST_KUBE_BIN ? 'OPENSHELL_TEST_KUBE_BIN' : 'OPENSHELL_TEST_KUBE_BIN_NEW';
      await node.up(optionsFromEnv(process.env, kubeVar));
      process.stdout.write(`${node.kubeconfig}\n`);
      log(`kubectl --kubeconfig ${node.kubeconfig} get nodes; the kit: OPENSHELL_DEV_CLUSTER_PROVIDER=existing KUBECONFIG=${node.kubeconfig}`);
    } else if (cmd === 'down') {
      const saved = node.state;
      await node.down();
      const left = saved ? node.leftovers(saved) : [];
      if (left.length > 0) {
        log(`stopped, but these remain:\n  ${left.join('\n  ')}`);
        return 1;
      }
      log(saved ? 'stopped; nothing left behind' : `nothing to stop in ${node.dir}`);
    } else {
      if (!node.state) {
        log(`no node state in ${node.dir}`);
        return 0;
      }
      for (const c of node.components()) log(`${c}: ${node.running(c) ? `running (pid ${node.pid(c)})` : 'stopped'}`);
    }
    return 0;
  } catch (err) {
    log(`error: ${(err as Error).message}`);
    return 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  process.exit(await main(process.argv.slice(2)));
}
