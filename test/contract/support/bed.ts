// The contract tier's test bed: one network namespace (so fixed ports collide
// with nothing else on the machine) holding etcd, a real kube-apiserver with
// the real agent-sandbox CRDs, and a real PostgreSQL; and a way to run a
// container of a rendered pod spec the way the kubelet would: its volumes
// materialised from the API server's ConfigMaps and Secrets, its env resolved,
// the in-cluster ServiceAccount token mounted, a read-only root, its user.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const API_PORT = 6443;
export const PG_PORT = 5432;
const ADMIN_TOKEN = randomBytes(16).toString('hex');

/** Why the tier cannot run here, or false. */
export function missingBed(): false | string {
  if (process.getuid?.() !== 0) return 'needs root (network and mount namespaces, chroot as the pod user)';
  const bin = openshellBin();
  if (!bin) return 'needs the real OpenShell binaries: set OPENSHELL_TEST_OPENSHELL_BIN to the directory .ci/tools/openshell.sh prints (bash .ci/run exports it)';
  if (!existsSync(join(bin, 'openshell-gateway'))) return `no openshell-gateway in OPENSHELL_TEST_OPENSHELL_BIN=${bin}`;
  const kube = kubeBin();
  if (!kube || !existsSync(join(kube, 'kube-apiserver'))) return 'needs kube-apiserver and kubectl: OPENSHELL_TEST_KUBE_BIN_NEW (bash .ci/run exports it)';
  if (!etcdBin()) return 'needs etcd on PATH (bash .ci/run builds it)';
  if (!pgBin()) return 'needs PostgreSQL (Debian postgresql; bash .ci/run installs it)';
  if (!crdDir()) return 'needs the agent-sandbox v0.5.5 CRDs (go mod download sigs.k8s.io/agent-sandbox@v0.5.5)';
  for (const b of ['unshare', 'nsenter', 'chroot', 'curl', 'ip', 'runuser']) {
    if (spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0) return `needs ${b}`;
  }
  return false;
}

export function openshellBin(): string | undefined {
  return process.env.OPENSHELL_TEST_OPENSHELL_BIN || undefined;
}
function kubeBin(): string | undefined {
  return process.env.OPENSHELL_TEST_KUBE_BIN_NEW || join(homedir(), '.cache/openshell-ci/bin/kube-v1.36.3');
}
function etcdBin(): string | undefined {
  const onPath = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return onPath;
  const cached = join(homedir(), '.cache/openshell-ci/bin/etcd-v3.6.16/etcd');
  return existsSync(cached) ? cached : undefined;
}
function pgBin(): string | undefined {
  for (const v of ['17', '16', '15']) {
    const d = `/usr/lib/postgresql/${v}/bin`;
    if (existsSync(join(d, 'postgres'))) return d;
  }
  return undefined;
}
/** k8s/crds of the Go module sigs.k8s.io/agent-sandbox@v0.5.5. */
export function crdDir(): string | undefined {
  const fromGo = spawnSync('go', ['mod', 'download', '-json', 'sigs.k8s.io/agent-sandbox@v0.5.5'], { encoding: 'utf8', timeout: 120_000 });
  let dir: string | undefined;
  if (fromGo.status === 0) dir = (JSON.parse(fromGo.stdout) as { Dir?: string }).Dir;
  dir ??= join(process.env.GOMODCACHE || join(homedir(), 'go/pkg/mod'), 'sigs.k8s.io/agent-sandbox@v0.5.5');
  const crds = join(dir, 'k8s/crds');
  return existsSync(join(crds, 'agents.x-k8s.io_sandboxes.yaml')) ? crds : undefined;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class Bed {
  readonly dir = mkdtempSync(join(tmpdir(), 'openshell-contract-'));
  private holder?: ChildProcess;
  private procs: ChildProcess[] = [];
  readonly kubeconfig = join(this.dir, 'admin.kubeconfig');
  readonly apiCa = join(this.dir, 'pki', 'apiserver.crt');

  get netns(): string {
    return `/proc/${this.holder?.pid}/ns/net`;
  }

  /** argv prefixed to run inside the bed's network namespace. */
  inNet(cmd: string, args: string[]): [string, string[]] {
    return ['nsenter', [`--net=${this.netns}`, cmd, ...args]];
  }

  run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): Run {
    const [c, a] = this.inNet(cmd, args);
    const r = spawnSync(c, a, { encoding: 'utf8', input: opts.input, env: opts.env ?? process.env, timeout: opts.timeout ?? 60_000 });
    return { code: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
  }

  kubectl(args: string[], input?: string): Run {
    return this.run(join(kubeBin() as string, 'kubectl'), ['--kubeconfig', this.kubeconfig, ...args], { input });
  }

  kubectlOk(args: string[], input?: string): string {
    const r = this.kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  }

  /** A background process in the namespace, its output in <dir>/<name>.log. */
  spawnLogged(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const [c, a] = this.inNet(cmd, args);
    const child = spawn(c, a, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(join(this.dir, `${name}.log`));
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.on('close', () => log.end());
    this.procs.push(child);
    return child;
  }

  logOf(name: string): string {
    const p = join(this.dir, `${name}.log`);
    return existsSync(p) ? readFileSync(p, 'utf8') : '';
  }

  async start(): Promise<void> {
    this.holder = spawn('unshare', ['--net', 'sleep', '1000000'], { stdio: 'ignore' });
    await sleep(200);
    if (this.run('ip', ['link', 'set', 'lo', 'up']).code !== 0) throw new Error('cannot bring up lo in the bed namespace');
    // etcd
    this.spawnLogged('etcd', etcdBin() as string, [
      '--data-dir', join(this.dir, 'etcd'),
      '--listen-client-urls', 'http://127.0.0.1:2379', '--advertise-client-urls', 'http://127.0.0.1:2379',
      '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
      '--initial-cluster', 'default=http://127.0.0.1:2380', '--unsafe-no-fsync',
    ]);
    // kube-apiserver: admin by static token, ServiceAccount tokens signed by our key, RBAC on.
    mkdirSync(join(this.dir, 'pki'), { recursive: true });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(this.dir, 'pki/sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(this.dir, 'pki/tokens.csv'), `${ADMIN_TOKEN},admin,admin,system:masters\n`);
    this.spawnLogged('kube-apiserver', join(kubeBin() as string, 'kube-apiserver'), [
      '--etcd-servers=http://127.0.0.1:2379', `--secure-port=${API_PORT}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1',
      `--cert-dir=${join(this.dir, 'pki')}`, `--token-auth-file=${join(this.dir, 'pki/tokens.csv')}`, '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc', `--service-account-key-file=${join(this.dir, 'pki/sa.key')}`,
      `--service-account-signing-key-file=${join(this.dir, 'pki/sa.key')}`, '--service-cluster-ip-range=10.96.0.0/16',
    ]);
    writeFileSync(this.kubeconfig, kubeconfigText(ADMIN_TOKEN));
    await this.waitFor('kube-apiserver /readyz', () => this.kubectl(['get', '--raw', '/readyz']).code === 0, 90_000);
    // The real agent-sandbox CRDs.
    this.kubectlOk(['apply', '--server-side', '-f', crdDir() as string]);
    this.kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd/sandboxes.agents.x-k8s.io']);
    await this.waitFor('agents.x-k8s.io/v1beta1 served', () => this.kubectl(['get', '--raw', '/apis/agents.x-k8s.io/v1beta1']).code === 0, 30_000);
  }

  /** Debian's PostgreSQL, its own cluster in the bed. Returns a URI maker. */
  async startPostgres(): Promise<(db: string) => string> {
    const data = join(this.dir, 'pg');
    mkdirSync(data);
    const pgUid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(data, pgUid, pgUid);
    chmodSync(this.dir, 0o755);
    const bin = pgBin() as string;
    const init = spawnSync('runuser', ['-u', 'postgres', '--', join(bin, 'initdb'), '-D', data, '-U', 'openshell', '--auth=trust'], { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`initdb: ${init.stderr}`);
    this.spawnLogged('postgres', 'runuser', ['-u', 'postgres', '--', join(bin, 'postgres'), '-D', data, '-h', '127.0.0.1', '-p', String(PG_PORT), '-k', data]);
    await this.waitFor('PostgreSQL', () => this.run('runuser', ['-u', 'postgres', '--', join(bin, 'pg_isready'), '-h', '127.0.0.1', '-p', String(PG_PORT)]).code === 0, 30_000);
    return (db: string) => {
      const r = this.run('runuser', ['-u', 'postgres', '--', join(bin, 'createdb'), '-h', '127.0.0.1', '-p', String(PG_PORT), '-U', 'openshell', db]);
      if (r.code !== 0) throw new Error(`createdb ${db}: ${r.stderr}`);
      return `postgresql://openshell@127.0.0.1:${PG_PORT}/${db}`;
    };
  }

  async waitFor(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (await ok()) return;
      await sleep(250);
    }
    throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
  }

  /** GET a URL from inside the namespace: [HTTP status (0 when no response), body, curl's exit code]. */
  curl(url: string, extra: string[] = []): { status: number; body: string; exit: number | null; stderr: string } {
    const out = join(this.dir, 'curl.out');
    rmSync(out, { force: true });
    const r = this.run('curl', ['-sS', '--max-time', '10', '-o', out, '-w', '%{http_code}', ...extra, url]);
    return { status: Number(r.stdout) || 0, body: existsSync(out) ? readFileSync(out, 'utf8') : '', exit: r.code, stderr: r.stderr };
  }

  async stop(): Promise<void> {
    for (const p of this.procs.reverse()) p.kill('SIGTERM');
    await sleep(500);
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGKILL');
    this.holder?.kill('SIGKILL');
    // OPENSHELL_TEST_KEEP=1 keeps the logs and files for a look after a failure.
    if (process.env.OPENSHELL_TEST_KEEP === '1') console.log(`contract bed kept at ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

function kubeconfigText(token: string, server = `https://127.0.0.1:${API_PORT}`): string {
  return [
    'apiVersion: v1', 'kind: Config', 'current-context: bed',
    'clusters:', '- name: bed', '  cluster:', `    server: ${server}`, '    insecure-skip-tls-verify: true',
    'users:', '- name: u', '  user:', `    token: ${token}`,
    'contexts:', '- name: bed', '  context:', '    cluster: bed', '    user: u',
  ].join('\n');
}

// ---- Running a rendered container like a kubelet would ---------------------------

export interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } } }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: { runAsUser?: number; runAsGroup?: number; readOnlyRootFilesystem?: boolean };
}
export interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  securityContext?: { runAsUser?: number; runAsGroup?: number; fsGroup?: number };
  containers: Container[];
  volumes?: Record<string, unknown>[];
}

/**
 * What OpenShift's restricted-v2 SCC gives a pod that fixes no user: a UID and
 * an fsGroup from the namespace's range (openshift.io/sa.scc.uid-range), group
 * 0 as its primary group, the fsGroup as a supplementary one.
 */
export interface SccAssignment {
  uid: number;
  fsGroup: number;
}
/** A typical first UID of a namespace's range on OpenShift. */
export const OPENSHIFT_RANGE_START = 1000680000;

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Start `binary` as container `container` of pod `podName` in `namespace`:
 * the image's entrypoint is the binary, the container's args follow, then
 * `extraArgs` (only where a test must deviate, and says why).
 */
export function runContainer(
  bed: Bed,
  opts: { logName: string; namespace: string; podName: string; pod: PodSpec; container: Container; binary: string; entrypoint: string; extraArgs?: string[]; hosts?: string[]; scc?: SccAssignment },
): ChildProcess {
  const { namespace, podName, pod, container, scc } = opts;
  const root = join(bed.dir, `${opts.logName}.vol`);
  mkdirSync(root, { recursive: true });
  const uid = scc?.uid ?? container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser ?? 0;
  const gid = scc ? 0 : (container.securityContext?.runAsGroup ?? pod.securityContext?.runAsGroup ?? 0);
  // Under an SCC the kubelet gives volumes to the assigned fsGroup (group read, setgid dirs) and the files stay root's.
  const own = (f: string, mode: number) => {
    if (scc) {
      chownSync(f, 0, scc.fsGroup);
      chmodSync(f, mode | 0o440);
    } else {
      chownSync(f, uid, gid);
      chmodSync(f, mode);
    }
  };
  const mounts: [string, string, boolean][] = []; // host dir, path in container, read-only
  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name as string, v]));
  const secretData = (ns: string, name: string): Record<string, string> => {
    const s = JSON.parse(bed.kubectlOk(['-n', ns, 'get', 'secret', name, '-o', 'json'])) as { data?: Record<string, string> };
    return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  };
  for (const [i, m] of (container.volumeMounts ?? []).entries()) {
    const vol = volumes.get(m.name);
    const host = join(root, `v${i}`);
    mkdirSync(host, { recursive: true });
    if (vol?.configMap || vol?.secret) {
      const cm = vol.configMap as { name: string } | undefined;
      const sec = vol.secret as { secretName: string; defaultMode?: number; items?: { key: string; path: string }[] } | undefined;
      const data = cm
        ? (JSON.parse(bed.kubectlOk(['-n', namespace, 'get', 'configmap', cm.name, '-o', 'json'])) as { data: Record<string, string> }).data
        : secretData(namespace, (sec as { secretName: string }).secretName);
      const items = sec?.items ?? Object.keys(data).map((k) => ({ key: k, path: k }));
      for (const it of items) {
        const f = join(host, it.path);
        mkdirSync(dirname(f), { recursive: true });
        writeFileSync(f, data[it.key] ?? '');
        // The kubelet gives the pod's fsGroup read access; here the file belongs to the pod user (or, under an SCC, to its fsGroup).
        own(f, sec?.defaultMode ?? 0o644);
      }
      mounts.push([host, m.mountPath, true]);
    } else if (vol === undefined || vol.emptyDir !== undefined || vol.persistentVolumeClaim !== undefined) {
      // emptyDir, or the StatefulSet's volumeClaimTemplate (no volume entry): a fresh writable directory.
      if (scc) own(host, 0o2770);
      else chownSync(host, uid, gid);
      mounts.push([host, m.mountPath, false]);
    } else {
      throw new Error(`volume ${m.name}: unsupported type ${Object.keys(vol).join(',')}`);
    }
  }
  // The in-cluster ServiceAccount token, as the kubelet projects it.
  // What the container runtime adds: HOSTNAME (the pod name), PATH, and HOME from the image's
  // passwd entry (the kit's distroless image: nonroot, 65532, /home/nonroot), on the read-only root.
  // An SCC-assigned UID has no passwd entry: the runtime sets HOME=/ (read-only here).
  const env: Record<string, string> = { HOSTNAME: podName, PATH: '/usr/local/bin:/usr/bin:/bin', HOME: scc ? '/' : '/home/nonroot' };
  if (pod.automountServiceAccountToken !== false) {
    const sa = pod.serviceAccountName ?? 'default';
    const token = bed.kubectlOk(['-n', namespace, 'create', 'token', sa, '--duration', '1h']).trim();
    const host = join(root, 'sa');
    mkdirSync(host, { recursive: true });
    writeFileSync(join(host, 'token'), token);
    writeFileSync(join(host, 'ca.crt'), readFileSync(bed.apiCa));
    writeFileSync(join(host, 'namespace'), namespace);
    chmodSync(host, 0o755);
    mounts.push([host, '/var/run/secrets/kubernetes.io/serviceaccount', true]);
    env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
    env.KUBERNETES_SERVICE_PORT = String(API_PORT);
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) env[e.name] = secretData(namespace, e.valueFrom.secretKeyRef.name)[e.valueFrom.secretKeyRef.key] ?? '';
    else if (e.valueFrom?.fieldRef) env[e.name] = e.valueFrom.fieldRef.fieldPath === 'metadata.namespace' ? namespace : podName;
  }
  const rootfs = join(root, 'rootfs');
  mkdirSync(rootfs, { recursive: true });
  const lines = [
    'set -e',
    `R=${q(rootfs)}`,
    'mount -t tmpfs -o mode=755 rootfs "$R"',
    'mkdir -p "$R/usr/lib" "$R/usr/local/bin" "$R/etc" "$R/proc" "$R/dev" "$R/tmp" "$R/home/nonroot"',
    `chown ${uid}:${gid} "$R/home/nonroot"`,
    'mount --bind /usr/lib "$R/usr/lib"',
    'ln -s usr/lib "$R/lib"',
    '[ -d /usr/lib64 ] && mkdir -p "$R/usr/lib64" && mount --bind /usr/lib64 "$R/usr/lib64" && ln -s usr/lib64 "$R/lib64" || true',
    `touch "$R${opts.entrypoint}" && mount --bind ${q(opts.binary)} "$R${opts.entrypoint}"`,
    `printf '%s\\n' ${['127.0.0.1 localhost', '::1 localhost', ...(opts.hosts ?? [])].map(q).join(' ')} > "$R/etc/hosts"`,
    'mount --rbind /dev "$R/dev"',
    'mount -t proc proc "$R/proc"',
    ...mounts.flatMap(([h, p, ro]) => [
      `mkdir -p "$R"${q(p)}`,
      `mount --bind ${q(h)} "$R"${q(p)}`,
      ...(ro ? [`mount -o remount,bind,ro "$R"${q(p)}`] : []),
    ]),
    container.securityContext?.readOnlyRootFilesystem ? 'mount -o remount,ro "$R"' : ':',
    `exec env -i ${Object.entries(env).map(([k, v]) => q(`${k}=${v}`)).join(' ')} /usr/sbin/chroot --userspec=${uid}:${gid}${scc ? ` --groups=${scc.fsGroup}` : ''} "$R" ${[opts.entrypoint, ...(container.args ?? []), ...(opts.extraArgs ?? [])].map(q).join(' ')}`,
  ];
  const script = join(root, 'start.sh');
  writeFileSync(script, `${lines.join('\n')}\n`);
  return bed.spawnLogged(opts.logName, 'unshare', ['--mount', '--propagation', 'private', 'sh', script]);
}
