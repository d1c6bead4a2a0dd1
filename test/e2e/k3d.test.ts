// The kit's default provider for real: real k3d creating real clusters from the
// kit's own deploy/k3d/cluster.yaml (one server, one agent, the load balancer,
// the registry), driven by the tasks: `up` → `sync` → `bootstrap` → `status` →
// stop/start → `down`, plus the port-in-use and interrupted-create paths.
//
// One suite, two node images:
//   - the real k3s image (OPENSHELL_DEV_K3S_IMAGE or the kit's default), where it
//     is present or can be pulled: a contributor's laptop, a hosted CI runner;
//   - the test bed's stand-in k3s image (OPENSHELL_TEST_K3S_STANDIN_IMAGE, built
//     by .ci/testbed/k3d-standin/build.sh), where k3s cannot be had: real
//     Kubernetes components started by a script, NOT k3s. Its suite says so in
//     its name. k3d's own tools, load-balancer and registry images are stood in
//     for the same way (K3D_IMAGE_TOOLS, K3D_IMAGE_LOADBALANCER,
//     OPENSHELL_DEV_REGISTRY_IMAGE), through k3d's and the kit's own settings.
//
// Each cluster gets its own name, ports, registry name and kubeconfig, so it
// never meets a contributor's own openshell-dev cluster. The bootstrap step
// runs the gateway for real, so it needs the real OpenShell binaries
// (OPENSHELL_TEST_GATEWAY_BIN, OPENSHELL_TEST_SUPERVISOR_BIN) and an
// agent-sandbox manifest whose controller can run here
// (OPENSHELL_TEST_AGENT_SANDBOX_MANIFEST, with OPENSHELL_TEST_AGENT_SANDBOX_IMAGE
// imported into the nodes by `k3d image import`, or the pinned release online);
// without them that step skips, saying so, and the rest still runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { endpointFor, engineEnv } from '../../scripts/lib/engine.ts';
import { tagDigest } from '../../scripts/lib/registry.ts';
import { K3S_IMAGE } from '../../scripts/lib/settings.ts';
import { busybox, describeRun, fixtureBinary, freePort, kubectl, kubectlOk, listen, missingBusybox, rmTree, runTask, stackLines, taskEnv, tempDir, uniqueName, waitUntil, type TaskRun } from '../support/e2e.ts';
import { missingDocker, missingEnv, missingTools } from '../support/requires.ts';

const T = { timeout: 600_000 };

function ok(r: TaskRun): void {
  assert.equal(r.code, 0, describeRun(r));
  assert.deepEqual(stackLines(r.out), []);
}

/** false when the image is in the engine; else why not. Tests never pull (a pull's time and outcome depend on the network). */
/** busybox with every applet (httpd, nslookup…), FROM scratch, pushed by the host as <host>/e2e/app:v1. */
function pushBusybox(home: string, host: string): string {
  const ctx = join(home, 'app');
  mkdirSync(ctx, { recursive: true });
  spawnSync('cp', [busybox()!, join(ctx, 'busybox')]);
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n');
  const tag = `${host}/e2e/app:v1`;
  for (const argv of [['build', '-q', '-t', tag, ctx], ['push', tag]]) {
    const d = spawnSync('docker', argv, { encoding: 'utf8', timeout: 180_000, env: { ...process.env, DOCKER_BUILDKIT: '0' } });
    assert.equal(d.status, 0, `docker ${argv.join(' ')}: ${d.stderr}`);
  }
  return tag;
}

function missingImage(image: string, what: string): false | string {
  if (spawnSync('docker', ['image', 'inspect', image], { stdio: 'ignore', timeout: 30_000 }).status === 0) return false;
  return `needs ${what} ${image} in the engine: \`docker pull ${image}\` first where a registry is reachable (the tests never pull)`;
}

/** Containers, networks and volumes k3d made for a cluster (and its registry container). */
function k3dObjects(cluster: string, registry: string): string[] {
  const lines = (argv: string[]) => spawnSync('docker', argv, { encoding: 'utf8', timeout: 30_000 }).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  const containers = new Set([
    ...lines(['ps', '-a', '--filter', `label=k3d.cluster=${cluster}`, '--format', 'container {{.Names}}']),
    ...lines(['ps', '-a', '--filter', `name=^${registry}$`, '--format', 'container {{.Names}}']),
  ]);
  return [
    ...containers,
    ...lines(['network', 'ls', '--format', '{{.Name}}']).filter((n) => n === `k3d-${cluster}`).map((n) => `network ${n}`),
    ...lines(['volume', 'ls', '--filter', `label=k3d.cluster=${cluster}`, '--format', 'volume {{.Name}}']),
  ];
}

const USER_KUBECONFIG = `# the user's own kubeconfig: every byte of it must survive
apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://prod.example:6443
  name: prod
contexts:
- context:
    cluster: prod
    user: prod
  name: prod
current-context: prod
users:
- name: prod
  user:
    token: not-a-real-token
`;

/** Every line of `text`, in order, among the lines of `inside`. */
function isSubsequence(text: string, inside: string): boolean {
  const want = text.split('\n');
  let i = 0;
  for (const line of inside.split('\n')) if (i < want.length && line === want[i]) i++;
  return i === want.length;
}

interface Variant {
  title: string;
  skip: false | string;
  image: string;
  /** k3d's and the kit's own settings for the images k3d runs. */
  imageEnv: Record<string, string | undefined>;
  prefix: string;
}

const realImage = process.env.OPENSHELL_DEV_K3S_IMAGE || K3S_IMAGE;
const standinImage = process.env.OPENSHELL_TEST_K3S_STANDIN_IMAGE ?? '';
const common = () => missingTools('k3d', 'kubectl', 'helm') || missingDocker() || missingBusybox();

const variants: Variant[] = [
  {
    title: `flow on real k3d with the real k3s image (${realImage})`,
    skip:
      (missingTools('k3d') && 'needs k3d on PATH (`mise install`)') ||
      common() ||
      (standinImage && 'the test bed runs this flow on its stand-in k3s image (next suite): the real k3s image cannot be pulled here') ||
      missingImage(realImage, 'the k3s image'),
    image: realImage,
    imageEnv: {},
    prefix: 'e2e-k3s',
  },
  {
    title: `flow on real k3d with the test bed's stand-in k3s image (not k3s: real Kubernetes ${standinImage.replace(/^.*:/, '').replace(/-standin.*/, '')} components started by a script)`,
    skip:
      missingEnv('OPENSHELL_TEST_K3S_STANDIN_IMAGE') ||
      missingEnv('K3D_IMAGE_TOOLS') ||
      missingEnv('K3D_IMAGE_LOADBALANCER') ||
      missingEnv('OPENSHELL_TEST_K3D_REGISTRY_IMAGE') ||
      common() ||
      missingImage(standinImage, 'the stand-in k3s image'),
    image: standinImage,
    imageEnv: {
      K3D_IMAGE_TOOLS: process.env.K3D_IMAGE_TOOLS,
      K3D_IMAGE_LOADBALANCER: process.env.K3D_IMAGE_LOADBALANCER,
      OPENSHELL_DEV_REGISTRY_IMAGE: process.env.OPENSHELL_TEST_K3D_REGISTRY_IMAGE,
    },
    prefix: 'e2e-k3d',
  },
];

const realBinaries = process.env.OPENSHELL_TEST_GATEWAY_BIN && process.env.OPENSHELL_TEST_SUPERVISOR_BIN;
const bootstrapSkip: false | string =
  (!realBinaries && 'needs the real OpenShell binaries (OPENSHELL_TEST_GATEWAY_BIN, OPENSHELL_TEST_SUPERVISOR_BIN): the cluster runs the gateway for real') ||
  // No probe of the outside network: a test never dials beyond this machine.
  (!process.env.OPENSHELL_TEST_AGENT_SANDBOX_MANIFEST
    ? 'needs an agent-sandbox manifest whose controller runs here (OPENSHELL_TEST_AGENT_SANDBOX_MANIFEST; .ci/testbed/realnode.sh renders one)'
    : false);

for (const v of variants) {
  describe(v.title, { skip: v.skip }, () => {
    const cluster = uniqueName(v.prefix);
    const registryName = uniqueName(`${v.prefix}-reg`);
    let home = '';
    let env: NodeJS.ProcessEnv = {};
    let kc = '';
    let userKc = '';
    let registryPort = 0;
    let httpPort = 0;
    const ns = 'e2e-k3d';

    before(async () => {
      home = tempDir(v.prefix);
      kc = join(home, 'kubeconfig.yaml');
      userKc = join(home, '.kube', 'config');
      mkdirSync(join(home, '.kube'), { recursive: true });
      writeFileSync(userKc, USER_KUBECONFIG, { mode: 0o600 });
      registryPort = await freePort();
      httpPort = await freePort();
      env = taskEnv(home, {
        OPENSHELL_DEV_CLUSTER_PROVIDER: 'k3d',
        OPENSHELL_DEV_CLUSTER: cluster,
        OPENSHELL_DEV_KUBECONFIG: kc,
        OPENSHELL_DEV_MERGE_KUBECONFIG: 'true',
        OPENSHELL_DEV_HTTP_PORT: String(httpPort),
        OPENSHELL_DEV_REGISTRY_PORT: String(registryPort),
        OPENSHELL_DEV_REGISTRY_NAME: registryName,
        OPENSHELL_DEV_K3S_IMAGE: v.image,
        OPENSHELL_DEV_TIMEOUT: '240',
        CONTAINER_ENGINE: 'docker',
        DOCKER_HOST: process.env.DOCKER_HOST,
        OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST: process.env.OPENSHELL_TEST_AGENT_SANDBOX_MANIFEST,
        // The Dockerfile's distroless base cannot be pulled offline; the fixture binaries are static.
        OPENSHELL_DEV_GATEWAY_BASE_IMAGE: process.env.OPENSHELL_TEST_GATEWAY_BASE_IMAGE ?? (realBinaries ? undefined : 'scratch'),
        ...v.imageEnv,
      });
    });

    after(async () => {
      if (home) {
        await runTask('down', [], env, { timeoutMs: 300_000 });
        const left = k3dObjects(cluster, registryName);
        if (left.length > 0) console.log(`# ${cluster}: down left ${left.join(', ')}`);
      }
      rmTree(home);
    });

    test('up with the HTTP port in use stops before k3d creates anything', T, async () => {
      const { server } = await listen(httpPort);
      try {
        const r = await runTask('up', [], env, { timeoutMs: 120_000 });
        assert.equal(r.code, 2, describeRun(r));
        assert.match(r.out, new RegExp(`OPENSHELL_DEV_HTTP_PORT=${httpPort} is not valid: .*in use`));
        assert.deepEqual(k3dObjects(cluster, registryName), []);
        assert.equal(existsSync(kc), false);
      } finally {
        await new Promise((r) => server.close(r));
      }
    });

    test('an up interrupted while k3d creates the cluster is finished by the next up: 2 nodes Ready, kubeconfig written and merged', T, async (t) => {
      const first = await runTask('up', [], env, { timeoutMs: 300_000, interruptWhen: (out) => /Starting servers/.test(out) });
      t.diagnostic(`interrupted up: exit ${first.code} after ${(first.ms / 1000).toFixed(1)}s; left ${k3dObjects(cluster, registryName).join(', ') || 'nothing'}`);
      assert.notEqual(first.code, 0, `up was not interrupted:\n${first.out}`);
      const r = await runTask('up', [], env, { timeoutMs: 540_000 });
      ok(r);
      if (/half-created/.test(r.out)) t.diagnostic('the next up found the half-created cluster, removed it and created it again');
      t.diagnostic(`up after the interrupt: ${(r.ms / 1000).toFixed(1)}s`);
      assert.match(r.out, /ready: 2 node\(s\) Ready/);
      // The cluster's own file, with k3d's names.
      assert.equal(kubectlOk(kc, ['config', 'current-context']).trim(), `k3d-${cluster}`);
      const nodes = kubectlOk(kc, ['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}']).trim().split('\n').sort();
      assert.deepEqual(nodes, [`k3d-${cluster}-agent-0`, `k3d-${cluster}-server-0`]);
      // Merged into the user's kubeconfig (KUBECONFIG unset: ~/.kube/config), every unrelated byte kept.
      const merged = readFileSync(userKc, 'utf8');
      assert.ok(isSubsequence(USER_KUBECONFIG.trimEnd(), merged), `lost or reordered bytes of the user kubeconfig:\n${merged}`);
      assert.deepEqual(kubectlOk(userKc, ['config', 'get-contexts', '-o', 'name']).trim().split('\n').sort(), [`k3d-${cluster}`, 'prod']);
      assert.equal(kubectlOk(userKc, ['config', 'current-context']).trim(), 'prod');
      kubectlOk(userKc, ['--context', `k3d-${cluster}`, 'get', 'nodes']);
      // The registry, advertised the way kind and skaffold read it.
      const hosting = kubectlOk(kc, ['get', 'configmap', '-n', 'kube-public', 'local-registry-hosting', '-o', 'jsonpath={.data.localRegistryHosting\\.v1}']);
      assert.match(hosting, new RegExp(`host: localhost:${registryPort}`));
      assert.match(hosting, new RegExp(`hostFromClusterNetwork: ${registryName}:5000`));
    });

    test('a second up changes nothing', T, async (t) => {
      const r = await runTask('up', [], env, { timeoutMs: 120_000 });
      ok(r);
      t.diagnostic(`no-op up: ${(r.ms / 1000).toFixed(1)}s`);
      assert.match(r.out, new RegExp(`cluster ${cluster} is running \\(k3d: 1/1 servers, 1/1 agents running\\)`));
      assert.doesNotMatch(r.out, /creating|starting|registry advertised|merged/);
    });

    test('pods on both nodes pull from the registry (its cluster name and the localhost mirror); Service names resolve; a Service answers across nodes', T, async () => {
      // An image the host pushes to localhost:<port>.
      const tag = pushBusybox(home, `localhost:${registryPort}`);
      const pods = `apiVersion: v1
kind: Namespace
metadata: {name: ${ns}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${ns}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {kubernetes.io/hostname: k3d-${cluster}-server-0}
      containers:
      - name: web
        image: ${registryName}:5000/e2e/app:v1
        command: [sh, -c, 'mkdir -p /www && echo hello-from-web > /www/index.html && echo serving && exec httpd -f -p 8080 -h /www']
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ${ns}}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: ${ns}}
spec:
  nodeName: k3d-${cluster}-agent-0
  containers:
  - name: client
    image: ${tag}
    command: [sleep, '3600']
`;
      // Right after Ready, a new namespace's default ServiceAccount may not exist yet: retry.
      await waitUntil('the test pods to be accepted', 60_000, () => kubectl(kc, ['apply', '-f', '-'], pods).status === 0, 1000);
      kubectlOk(kc, ['rollout', 'status', '-n', ns, 'deployment/web', '--timeout=180s'], undefined, 200_000);
      kubectlOk(kc, ['wait', '-n', ns, '--for=condition=Ready', 'pod/client', '--timeout=180s'], undefined, 200_000);
      assert.match(kubectlOk(kc, ['logs', '-n', ns, 'deployment/web']), /serving/);
      const ip = kubectlOk(kc, ['get', 'service', '-n', ns, 'web', '-o', 'jsonpath={.spec.clusterIP}']).trim();
      // DNS (CoreDNS on the server) from the agent: the Service's name resolves to its ClusterIP.
      let lookup = '';
      await waitUntil('web.e2e-k3d.svc.cluster.local to resolve', 60_000, () => {
        lookup = kubectl(kc, ['exec', '-n', ns, 'client', '--', 'nslookup', `web.${ns}.svc.cluster.local`]).stdout;
        return lookup.includes(ip);
      }, 1000).catch((err) => assert.fail(`${(err as Error).message}; last answer:\n${lookup}`));
      // The Service, from the agent to a pod on the server (kube-proxy + routes between nodes).
      // kube-proxy programs a new Service a moment after it exists; until then a packet to the
      // ClusterIP would leave the node by its default route. Wait for the agent's rule, then connect once.
      await waitUntil(`kube-proxy on the agent to program ${ip}`, 60_000, () => spawnSync('docker', ['exec', `k3d-${cluster}-agent-0`, 'iptables-save', '-t', 'nat'], { encoding: 'utf8' }).stdout.includes(`-d ${ip}/32`), 1000);
      const get = kubectlOk(kc, ['exec', '-n', ns, 'client', '--', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${ip} 80`]);
      assert.match(get, /hello-from-web/);
    });

    test('sync pushes both images to the cluster registry', T, async () => {
      const bins = join(home, 'bin');
      const gw = realBinaries ? process.env.OPENSHELL_TEST_GATEWAY_BIN! : fixtureBinary(bins, 'openshell-gateway');
      const sup = realBinaries ? process.env.OPENSHELL_TEST_SUPERVISOR_BIN! : fixtureBinary(bins, 'openshell-sandbox');
      const r = await runTask('sync', ['--gateway-bin', gw, '--supervisor-bin', sup], env, { timeoutMs: 540_000 });
      ok(r);
      for (const repo of ['openshell-gateway', 'openshell-supervisor']) assert.ok(await tagDigest(`localhost:${registryPort}`, repo, 'dev'), `${repo}:dev missing`);
    });

    test('bootstrap installs the chart, the gateway pod runs; status is healthy', { ...T, skip: bootstrapSkip }, async () => {
      // The test bed's agent-sandbox controller image is in its own registry (localhost:5000 on the
      // host, which the nodes cannot reach): `k3d image import` puts it into the nodes.
      const controller = process.env.OPENSHELL_TEST_AGENT_SANDBOX_IMAGE;
      if (controller) {
        if (spawnSync('docker', ['image', 'inspect', controller], { stdio: 'ignore' }).status !== 0) {
          const pull = spawnSync('docker', ['pull', '-q', controller], { encoding: 'utf8', timeout: 120_000 });
          assert.equal(pull.status, 0, `docker pull ${controller}: ${pull.stderr}`);
        }
        const imp = spawnSync('k3d', ['image', 'import', '-c', cluster, controller], { encoding: 'utf8', timeout: 180_000, env });
        assert.equal(imp.status, 0, `k3d image import ${controller}: ${imp.stdout}${imp.stderr}`);
      }
      const b = await runTask('bootstrap', [], env, { timeoutMs: 540_000 });
      ok(b);
      const again = await runTask('bootstrap', [], env, { timeoutMs: 120_000 });
      ok(again);
      assert.match(again.out, /nothing to do/);
      const s = await runTask('status', [], env, { timeoutMs: 120_000 });
      ok(s);
      assert.match(s.out, /image-volume in force/);
      assert.match(s.out, /healthy/);
    });

    test('a stopped cluster is started by up, with its state kept', T, async (t) => {
      const stop = spawnSync('k3d', ['cluster', 'stop', cluster], { encoding: 'utf8', timeout: 180_000, env });
      assert.equal(stop.status, 0, stop.stderr);
      const r = await runTask('up', [], env, { timeoutMs: 540_000 });
      ok(r);
      t.diagnostic(`up on the stopped cluster: ${(r.ms / 1000).toFixed(1)}s`);
      assert.match(r.out, new RegExp(`starting k3d cluster ${cluster}`));
      assert.match(r.out, /ready: 2 node\(s\) Ready/);
      // etcd kept the objects; the workloads run again (k3d drains the server on stop, so web's pod is a new one).
      assert.equal(kubectlOk(kc, ['get', 'service', '-n', ns, 'web', '-o', 'name']).trim(), 'service/web');
      kubectlOk(kc, ['rollout', 'status', '-n', ns, 'deployment/web', '--timeout=180s'], undefined, 200_000);
      kubectlOk(kc, ['wait', '-n', ns, '--for=condition=Ready', 'pod/client', '--timeout=180s'], undefined, 200_000);
    });

    test('down leaves no container, network, volume or kubeconfig entry; a second down is a no-op', T, async (t) => {
      const r = await runTask('down', [], env, { timeoutMs: 300_000 });
      ok(r);
      t.diagnostic(`down: ${(r.ms / 1000).toFixed(1)}s`);
      assert.deepEqual(k3dObjects(cluster, registryName), []);
      assert.equal(existsSync(kc), false);
      // Only our entries went: the user's file is byte for byte what it was (k3d's own delete would reformat it).
      assert.equal(readFileSync(userKc, 'utf8'), USER_KUBECONFIG);
      const again = await runTask('down', [], env, { timeoutMs: 120_000 });
      ok(again);
      assert.match(again.out, /nothing to delete/);
    });
  });
}

// Seed 000's engine table for Podman, proven with k3d itself: the kit's `up`
// and `down` with CONTAINER_ENGINE=podman export DOCKER_HOST and DOCKER_SOCK
// (endpointFor, from XDG_RUNTIME_DIR) and drive real k3d on Podman's Docker
// API, with the stand-in k3s image: both nodes Ready, a pod pulling through the
// localhost mirror, down leaving nothing. Two things Podman needs that Docker
// does not: its init binary, catatonit (k3d runs its nodes with --init), and a
// registry created on Podman's own network (Podman has no "bridge" network,
// which k3d's registries.create assumes): the README's workaround, `k3d
// registry create NAME --default-network podman` before `up`, which attaches it.
const podmanHost = process.env.OPENSHELL_TEST_PODMAN_HOST ?? '';
const podmanRuntimeDir = /^unix:\/\/(.+)\/podman\/podman\.sock$/.exec(podmanHost)?.[1];
const standinImages = [standinImage, process.env.K3D_IMAGE_TOOLS, process.env.K3D_IMAGE_LOADBALANCER, process.env.OPENSHELL_TEST_K3D_REGISTRY_IMAGE].filter((i): i is string => !!i);
const podmanSkip: false | string =
  missingEnv('OPENSHELL_TEST_PODMAN_HOST') ||
  (!podmanRuntimeDir && `OPENSHELL_TEST_PODMAN_HOST=${podmanHost} is not <dir>/podman/podman.sock (the path the kit derives from XDG_RUNTIME_DIR)`) ||
  missingTools('podman', 'k3d', 'kubectl') ||
  missingEnv('OPENSHELL_TEST_K3S_STANDIN_IMAGE') ||
  missingEnv('OPENSHELL_TEST_K3D_REGISTRY_IMAGE') ||
  missingDocker({ ...process.env, DOCKER_HOST: podmanHost }) ||
  missingBusybox() ||
  (!existsSync('/usr/libexec/podman/catatonit') && !existsSync('/usr/bin/catatonit') && 'needs catatonit (apt-get install catatonit): k3d runs its nodes with --init, which Podman serves with catatonit') ||
  false;

describe("k3d on Podman's Docker API (the kit's up and down with CONTAINER_ENGINE=podman) with the test bed's stand-in k3s image", { skip: podmanSkip }, () => {
  const cluster = uniqueName('e2e-k3d-podman');
  const registry = uniqueName('e2e-pod-reg');
  let home = '';
  let env: NodeJS.ProcessEnv = {};
  let podmanApi: NodeJS.ProcessEnv = {};
  const podman = (argv: string[]) => spawnSync('podman', argv, { encoding: 'utf8', timeout: 300_000, env: podmanApi });
  const k3d = (argv: string[]) => spawnSync('k3d', argv, { encoding: 'utf8', timeout: 300_000, env: podmanApi });
  const leftovers = () =>
    [
      ...podman(['ps', '-a', '--filter', `label=k3d.cluster=${cluster}`, '--format', 'container {{.Names}}']).stdout.split('\n'),
      ...podman(['ps', '-a', '--filter', `name=k3d-${registry}`, '--format', 'container {{.Names}}']).stdout.split('\n'),
      ...podman(['network', 'ls', '--format', '{{.Name}}']).stdout.split('\n').filter((n) => n === `k3d-${cluster}`),
      ...podman(['volume', 'ls', '--filter', `label=k3d.cluster=${cluster}`, '--format', 'volume {{.Name}}']).stdout.split('\n'),
    ].filter((l) => l.trim());

  before(async () => {
    home = tempDir('k3d-podman');
    // The kit's table: Podman on Linux with XDG_RUNTIME_DIR → that socket, in DOCKER_HOST and DOCKER_SOCK.
    const endpoint = engineEnv(endpointFor('podman', { platform: 'linux', env: { XDG_RUNTIME_DIR: podmanRuntimeDir }, uid: process.getuid?.() ?? 0, home }));
    assert.equal(endpoint.DOCKER_HOST, podmanHost);
    assert.equal(endpoint.DOCKER_SOCK, podmanHost.slice('unix://'.length));
    podmanApi = { ...process.env, ...endpoint };
    const registryPort = await freePort();
    env = taskEnv(home, {
      CONTAINER_ENGINE: 'podman',
      XDG_RUNTIME_DIR: podmanRuntimeDir,
      CONTAINERS_CONF: process.env.CONTAINERS_CONF,
      CONTAINERS_REGISTRIES_CONF: process.env.CONTAINERS_REGISTRIES_CONF,
      OPENSHELL_DEV_CLUSTER_PROVIDER: 'k3d',
      OPENSHELL_DEV_CLUSTER: cluster,
      OPENSHELL_DEV_KUBECONFIG: join(home, 'kubeconfig.yaml'),
      OPENSHELL_DEV_HTTP_PORT: String(await freePort()),
      OPENSHELL_DEV_REGISTRY_PORT: String(registryPort),
      OPENSHELL_DEV_REGISTRY_NAME: `k3d-${registry}`,
      OPENSHELL_DEV_K3S_IMAGE: standinImage,
      OPENSHELL_DEV_TIMEOUT: '240',
      K3D_IMAGE_TOOLS: process.env.K3D_IMAGE_TOOLS,
      K3D_IMAGE_LOADBALANCER: process.env.K3D_IMAGE_LOADBALANCER,
    });
    // Podman keeps its own images: copy the stand-ins over from Docker.
    const absent = standinImages.filter((i) => podman(['image', 'exists', i]).status !== 0);
    if (absent.length > 0) {
      const load = spawnSync('sh', ['-c', 'docker save "$@" | podman load -q', 'sh', ...absent], { encoding: 'utf8', timeout: 600_000 });
      assert.equal(load.status, 0, `docker save | podman load: ${load.stderr}`);
    }
    const reg = k3d(['registry', 'create', registry, '--default-network', 'podman', '--port', `127.0.0.1:${registryPort}`, '--image', process.env.OPENSHELL_TEST_K3D_REGISTRY_IMAGE!]);
    assert.equal(reg.status, 0, `k3d registry create: ${reg.stdout}${reg.stderr}`);
  });

  after(async () => {
    if (!home) return;
    await runTask('down', [], env, { timeoutMs: 300_000 });
    rmTree(home);
  });

  test('up creates the cluster on Podman and attaches the registry: 2 nodes Ready, a pod pulls through the localhost mirror; a second up changes nothing', T, async (t) => {
    let r = await runTask('up', [], env, { timeoutMs: 540_000 });
    // k3d waits for a node's "successfully registered node" by following its log;
    // Podman 4.3's log stream can end early under load ("stopped returning log
    // lines") and k3d rolls the create back. The kit's answer is a re-run of up.
    if (r.code !== 0 && /stopped returning log lines/.test(r.out)) {
      t.diagnostic(`k3d lost Podman's log stream (${(r.ms / 1000).toFixed(1)}s): re-running up`);
      r = await runTask('up', [], env, { timeoutMs: 540_000 });
    }
    ok(r);
    t.diagnostic(`up on Podman: ${(r.ms / 1000).toFixed(1)}s`);
    // The nodes are Podman's containers (the Docker engine holds none of them).
    assert.match(podman(['ps', '--filter', `label=k3d.cluster=${cluster}`, '--format', '{{.Names}}']).stdout, new RegExp(`k3d-${cluster}-server-0`));
    assert.equal(spawnSync('docker', ['ps', '-q', '--filter', `label=k3d.cluster=${cluster}`], { encoding: 'utf8' }).stdout.trim(), '');
    assert.match(r.out, /ready: 2 node\(s\) Ready/);
    const kc = env.OPENSHELL_DEV_KUBECONFIG!;
    const tag = pushBusybox(home, `localhost:${env.OPENSHELL_DEV_REGISTRY_PORT!}`);
    await waitUntil('the default ServiceAccount', 60_000, () => kubectl(kc, ['get', 'serviceaccount', 'default']).status === 0, 1000);
    kubectlOk(kc, ['run', 'probe', '--image', tag, '--restart=Never', '--command', '--', 'sleep', '600']);
    kubectlOk(kc, ['wait', '--for=condition=Ready', 'pod/probe', '--timeout=120s'], undefined, 150_000);
    const again = await runTask('up', [], env, { timeoutMs: 120_000 });
    ok(again);
    assert.match(again.out, new RegExp(`cluster ${cluster} is running`));
  });

  test('down leaves no container, network or volume in Podman', T, async () => {
    ok(await runTask('down', [], env, { timeoutMs: 300_000 }));
    assert.deepEqual(leftovers(), []);
  });
});

const REGISTRY_IMAGE = 'docker.io/library/registry:2';

/** false when k3d's registry image is not in the engine (so a create must pull it); else why the test does not apply. */
function registryImagePresent(): false | string {
  if (spawnSync('docker', ['image', 'inspect', REGISTRY_IMAGE], { stdio: 'ignore', timeout: 30_000 }).status === 0) return `${REGISTRY_IMAGE} is present, so k3d would get past the registry: the flow suite covers this machine`;
  return false;
}

// Real k3d on a real Docker engine that cannot pull the registry image (k3d's
// default, registry:2): k3d fails half-way and its own rollback fails too,
// leaving a network and a volume.
describe('k3d on an engine that cannot pull images (real k3d, real Docker)', { skip: missingTools('k3d') || missingDocker() || registryImagePresent() }, () => {
  const cluster = uniqueName('e2e-k3d-nopull');
  let home = '';
  let env: NodeJS.ProcessEnv = {};

  before(async () => {
    home = tempDir('k3d-nopull');
    env = taskEnv(home, {
      OPENSHELL_DEV_CLUSTER_PROVIDER: 'k3d',
      OPENSHELL_DEV_CLUSTER: cluster,
      OPENSHELL_DEV_KUBECONFIG: join(home, 'kubeconfig.yaml'),
      OPENSHELL_DEV_HTTP_PORT: String(await freePort()),
      OPENSHELL_DEV_REGISTRY_PORT: String(await freePort()),
      OPENSHELL_DEV_REGISTRY_NAME: uniqueName('e2e-nopull-reg'),
      CONTAINER_ENGINE: 'docker',
      DOCKER_HOST: process.env.DOCKER_HOST,
    });
  });

  after(async () => {
    if (home) await runTask('down', [], env, { timeoutMs: 120_000 });
    rmTree(home);
  });

  test('up fails naming the image it cannot pull, and removes what k3d left behind', T, async (t) => {
    for (let attempt = 1; attempt <= 2; attempt++) {
      const r = await runTask('up', [], env, { timeoutMs: 120_000 });
      // Whether the engine can pull is known only by trying: where it could, this is not the case under test.
      if (attempt === 1 && r.code === 0) return t.skip(`the engine pulled ${REGISTRY_IMAGE} and k3d created the cluster: the flow suite covers this machine`);
      assert.equal(r.code, 1, describeRun(r));
      assert.deepEqual(stackLines(r.out), []);
      assert.match(r.out, new RegExp(`k3d could not create cluster ${cluster}: the engine cannot pull \\S+registry:2`));
      assert.deepEqual(k3dObjects(cluster, 'none'), [], `attempt ${attempt} left k3d objects behind`);
      assert.equal(existsSync(join(home, 'kubeconfig.yaml')), false);
    }
  });

  test('down afterwards finds nothing and succeeds', T, async () => {
    ok(await runTask('down', [], env, { timeoutMs: 120_000 }));
    assert.deepEqual(k3dObjects(cluster, 'none'), []);
  });
});
