// The main loop end to end, each task run as a process the way a contributor
// runs it: `up` → `bootstrap` → `status` → `down` on the kwok provider (a real
// kube-apiserver with simulated nodes), against the newest and the oldest
// Kubernetes the kit supports. Proves the CRDs are Established, the chart is
// installed into the real API server, the gateway pods are Running, the
// sideload method is chosen from the real server version, re-runs change
// nothing, and nothing is left behind. On the newest version it also merges
// into a user's own kubeconfig (OPENSHELL_DEV_MERGE_KUBECONFIG=true) and points
// the `existing` provider at the same cluster.
//
// Stand-ins, named in the tests: kwok's nodes run nothing, so "Running" and
// "rolled out" are kwok's simulated status; the agent-sandbox controller is the
// fixture manifest's (test/fixtures/agent-sandbox), whose image does not exist;
// the gateway and supervisor images are built from busybox, not OpenShell. The
// images go to a private registry of this file's own (never localhost:5000).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  describeRun,
  fixtureBinary,
  missingPrivateRegistry,
  type PrivateRegistry,
  startPrivateRegistry,
  forceDown,
  kubectl,
  kubectlOk,
  kwokTaskEnv,
  missingBusybox,
  processesMentioning,
  rmTree,
  runTask,
  stackLines,
  taskEnv,
  tempDir,
  uniqueName,
  waitUntil,
} from '../support/e2e.ts';
import { missingDocker, missingEnv, missingTools } from '../support/requires.ts';

const NS = 'openshell';
const RELEASE = 'openshell';
const GATEWAY_SELECTOR = `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=gateway`;
const T = { timeout: 180_000 };

// A user's own kubeconfig: unrelated entries, comments, odd spacing. Merging
// must keep every byte of it; `down` must give it back byte for byte.
const USER_KUBECONFIG = `# my kubeconfig: hand-edited, keep this comment
apiVersion: v1
kind: Config
preferences: {}
clusters:
  # production, do not touch
  - name: prod
    cluster:
      server: https://prod.example.com:6443   # the VIP
      insecure-skip-tls-verify: true
users:
  - name: prod-admin
    user:
      token: "s3cr3t"
contexts:
  - name: prod
    context:
      cluster: prod
      user: prod-admin
      namespace: payments
current-context: prod
`;

// status counts the registry and the dev images in it as part of a healthy loop,
// and bootstrap checks for the images: the flow needs its own registry and an
// engine to push them (no --skip-image-check fallback).
const toolsSkip = missingTools('kwokctl', 'kwok', 'etcd', 'kubectl', 'helm') || missingPrivateRegistry() || missingDocker() || missingBusybox();

interface Variant {
  label: string;
  /** Directory of the control-plane binaries; undefined: the default PATH. */
  binDir: string | undefined;
  viaSetting: boolean;
  skip: false | string;
  merge: boolean;
  existing: boolean;
}

const variants: Variant[] = [
  {
    label: 'newest Kubernetes (kube-apiserver from PATH)',
    binDir: process.env.OPENSHELL_TEST_KUBE_BIN_NEW,
    viaSetting: false,
    skip: toolsSkip || (process.env.OPENSHELL_TEST_KUBE_BIN_NEW ? false : missingTools('kube-apiserver', 'kube-controller-manager', 'kube-scheduler')),
    merge: true,
    existing: true,
  },
  {
    label: 'oldest Kubernetes (OPENSHELL_DEV_KUBE_BIN_DIR)',
    binDir: process.env.OPENSHELL_TEST_KUBE_BIN_OLD,
    viaSetting: true,
    skip: toolsSkip || missingEnv('OPENSHELL_TEST_KUBE_BIN_OLD'),
    merge: false,
    existing: false,
  },
];

/** Lines of `text` that appear, in order, in `inside`. */
function isSubsequence(text: string, inside: string): boolean {
  const want = text.split('\n');
  let i = 0;
  for (const line of inside.split('\n')) if (i < want.length && line === want[i]) i++;
  return i === want.length;
}

function ok(r: Awaited<ReturnType<typeof runTask>>): void {
  assert.equal(r.code, 0, describeRun(r));
  assert.deepEqual(stackLines(r.out), [], `a stack trace in:\n${r.out}`);
}

for (const v of variants) {
  describe(`flow on kwok, ${v.label} (stand-in agent-sandbox: kwok runs no controller)`, { skip: v.skip }, () => {
    const cluster = uniqueName(v.viaSetting ? 'e2e-flow-old' : 'e2e-flow-new');
    let home = '';
    let env: NodeJS.ProcessEnv = {};
    let kc = '';
    let userKc = '';
    let registry: PrivateRegistry | undefined;
    let expectedMethod = '';
    let gitVersion = '';
    const rv: Record<string, string> = {};

    const gatewayWorkload = () => {
      const list = JSON.parse(kubectlOk(kc, ['get', 'statefulsets,deployments', '-n', NS, '-l', GATEWAY_SELECTOR, '-o', 'json'])) as {
        items: Array<{ kind: string; metadata: { name: string; resourceVersion: string }; spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string; value?: string }> }> } } } }>;
      };
      assert.equal(list.items.length, 1, 'one gateway workload');
      return list.items[0]!;
    };
    const releaseSecrets = () => kubectlOk(kc, ['get', 'secrets', '-n', NS, '-l', `owner=helm,name=${RELEASE}`, '-o', 'jsonpath={range .items[*]}{.metadata.name}@{.metadata.resourceVersion} {end}']).trim();
    const cmVersion = (ns: string, name: string) => kubectlOk(kc, ['get', 'configmap', '-n', ns, name, '-o', 'jsonpath={.metadata.resourceVersion}']).trim();

    before(async () => {
      home = tempDir('flow');
      kc = join(home, 'kubeconfig.yaml');
      userKc = join(home, '.kube', 'config');
      const path = !v.viaSetting && v.binDir ? `${v.binDir}${delimiter}${process.env.PATH}` : process.env.PATH;
      registry = await startPrivateRegistry(join(home, 'registry'));
      const registryPort = String(registry.port);
      env = kwokTaskEnv(home, cluster, {
        PATH: path,
        OPENSHELL_DEV_REGISTRY_PORT: registryPort,
        ...(v.viaSetting ? { OPENSHELL_DEV_KUBE_BIN_DIR: v.binDir } : {}),
        ...(v.merge ? { OPENSHELL_DEV_MERGE_KUBECONFIG: 'true' } : {}),
      });
      if (v.merge) {
        mkdirSync(join(home, '.kube'), { recursive: true });
        writeFileSync(userKc, USER_KUBECONFIG, { mode: 0o600 });
      }
      // The dev images (busybox stand-ins for the gateway and supervisor), pushed to this file's registry.
      const bins = join(home, 'bin');
      const r = await runTask('sync', ['--gateway-bin', fixtureBinary(bins, 'gw'), '--supervisor-bin', fixtureBinary(bins, 'sup')], taskEnv(home, { OPENSHELL_DEV_REGISTRY_PORT: registryPort, OPENSHELL_DEV_GATEWAY_BASE_IMAGE: 'scratch', CONTAINER_ENGINE: 'docker', DOCKER_HOST: process.env.DOCKER_HOST }), { timeoutMs: 300_000 });
      assert.equal(r.code, 0, describeRun(r));
    });

    after(async () => {
      // Whatever happened above: no cluster, no process, no file.
      if (home) await forceDown(env);
      await registry?.stop();
      rmTree(home);
    });

    test('up creates the cluster, writes its kubeconfig and waits for Ready nodes', T, async (t) => {
      const r = await runTask('up', [], env, { timeoutMs: 180_000 });
      ok(r);
      t.diagnostic(`up: ${(r.ms / 1000).toFixed(1)}s`);
      assert.match(r.out, new RegExp(`creating kwok cluster ${cluster}`));
      assert.match(r.out, /ready: 2 node\(s\) Ready/);
      assert.equal(kubectlOk(kc, ['config', 'current-context']).trim(), `kwok-${cluster}`);
      // gitVersion, not minor: binaries built from Go modules may leave major/minor empty.
      gitVersion = (JSON.parse(kubectlOk(kc, ['get', '--raw', '/version'])) as { gitVersion: string }).gitVersion;
      const minor = Number(/^v1\.(\d+)\./.exec(gitVersion)?.[1]);
      expectedMethod = minor >= 35 ? 'image-volume' : 'init-container';
      t.diagnostic(`kube-apiserver ${gitVersion}: expecting sideload ${expectedMethod}`);
      if (v.viaSetting) assert.equal(minor, 29, `the oldest supported Kubernetes is 1.29, got ${gitVersion}`);
      else assert.ok(minor >= 35, `the newest Kubernetes should support image volumes, got ${gitVersion}`);
      rv.hosting = cmVersion('kube-public', 'local-registry-hosting');
      const hosting = kubectlOk(kc, ['get', 'configmap', '-n', 'kube-public', 'local-registry-hosting', '-o', 'jsonpath={.data.localRegistryHosting\\.v1}']);
      assert.match(hosting, new RegExp(`host: localhost:${registry!.port}`));
    });

    if (v.merge) {
      test('OPENSHELL_DEV_MERGE_KUBECONFIG=true: our context joins the user kubeconfig, every unrelated byte kept', () => {
        const merged = readFileSync(userKc, 'utf8');
        assert.ok(isSubsequence(USER_KUBECONFIG.trimEnd(), merged), `lost or reordered bytes of the user kubeconfig:\n${merged}`);
        const contexts = kubectlOk(userKc, ['config', 'get-contexts', '-o', 'name']).trim().split('\n').sort();
        assert.deepEqual(contexts, [`kwok-${cluster}`, 'prod']);
        assert.equal(kubectlOk(userKc, ['config', 'current-context']).trim(), 'prod', 'current-context is the user\'s');
        // Our context in the user's file reaches the cluster.
        kubectlOk(userKc, ['--context', `kwok-${cluster}`, 'get', 'nodes']);
        assert.equal(readFileSync(`${userKc}.openshell-dev.bak`, 'utf8'), USER_KUBECONFIG, 'the backup is the file as it was');
      });
    } else {
      test('without MERGE the user kubeconfig is never created', () => {
        assert.equal(existsSync(userKc), false, `${userKc} was created`);
      });
    }

    test('a second up changes nothing and says so', T, async (t) => {
      const kcBefore = readFileSync(kc, 'utf8');
      const userBefore = v.merge ? readFileSync(userKc, 'utf8') : undefined;
      const r = await runTask('up', [], env, { timeoutMs: 60_000 });
      ok(r);
      t.diagnostic(`no-op up: ${(r.ms / 1000).toFixed(1)}s`);
      assert.match(r.out, new RegExp(`ok\\s+cluster ${cluster} is running`));
      assert.doesNotMatch(r.out, /creating|starting|merged context|registry advertised|kubeconfig (created|updated)/);
      assert.equal(readFileSync(kc, 'utf8'), kcBefore, 'the kubeconfig file was rewritten');
      if (v.merge) assert.equal(readFileSync(userKc, 'utf8'), userBefore, 'the user kubeconfig was rewritten');
      assert.equal(cmVersion('kube-public', 'local-registry-hosting'), rv.hosting, 'local-registry-hosting was updated');
    });

    test('bootstrap: CRDs Established, the fixture controller (stand-in, image does not exist) rolled out on kwok, chart installed, gateway pods Running on kwok (busybox stand-in images)', T, async (t) => {
      const r = await runTask('bootstrap', [], env, { timeoutMs: 180_000 });
      ok(r);
      t.diagnostic(`bootstrap: ${(r.ms / 1000).toFixed(1)}s`);
      assert.match(r.out, new RegExp(`Kubernetes ${gitVersion.replaceAll('.', '\\.')}; supervisor sideload: ${expectedMethod}`));
      assert.match(r.out, /installing release openshell/);
      const established = kubectlOk(kc, ['get', 'crd', 'sandboxes.agents.x-k8s.io', '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}']);
      assert.equal(established, 'True');
      kubectlOk(kc, ['rollout', 'status', '-n', 'agent-sandbox-system', 'statefulset/agent-sandbox-controller', '--timeout=5s']);
      const helm = JSON.parse(
        (await import('node:child_process')).spawnSync('helm', ['--kubeconfig', kc, 'status', RELEASE, '-n', NS, '-o', 'json'], { encoding: 'utf8', timeout: 30_000 }).stdout,
      ) as { info: { status: string }; version: number };
      assert.equal(helm.info.status, 'deployed');
      assert.equal(helm.version, 1);
      const pods = kubectlOk(kc, ['get', 'pods', '-n', NS, '-l', GATEWAY_SELECTOR, '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.phase} {end}']).trim();
      assert.match(pods, /^(\S+=Running ?)+$/, `gateway pods: ${pods}`);
      const w = gatewayWorkload();
      rv.gateway = w.metadata.resourceVersion;
      rv.release = releaseSecrets();
      rv.record = cmVersion(NS, 'openshell-dev-bootstrap');
    });

    test('a second bootstrap changes nothing: same release, gateway and record resourceVersions', T, async (t) => {
      // The controllers keep writing the workload's status after the rollout (available, current
      // revision): wait until it is final, so a later change of resourceVersion is bootstrap's doing.
      await waitUntil('the gateway workload status to be final', 60_000, () => {
        const w = gatewayWorkload() as unknown as {
          kind: string;
          metadata: { generation: number };
          spec: { replicas?: number };
          status?: Record<string, number | string | undefined>;
        };
        const st = w.status ?? {};
        const want = w.spec.replicas ?? 1;
        const counts = ['readyReplicas', 'availableReplicas', 'updatedReplicas'].every((k) => st[k] === want);
        const revision = w.kind !== 'StatefulSet' || (st.currentReplicas === want && st.currentRevision === st.updateRevision);
        return st.observedGeneration === w.metadata.generation && counts && revision;
      });
      rv.gateway = gatewayWorkload().metadata.resourceVersion;
      const r = await runTask('bootstrap', [], env, { timeoutMs: 120_000 });
      ok(r);
      t.diagnostic(`no-op bootstrap: ${(r.ms / 1000).toFixed(1)}s`);
      assert.match(r.out, /agent-sandbox v\S+ already applied/);
      assert.match(r.out, /release openshell is up to date \(revision 1\): nothing to do/);
      assert.doesNotMatch(r.out, /installing|upgrading|applying|restarting/);
      assert.equal(releaseSecrets(), rv.release, 'the Helm release changed');
      assert.equal(gatewayWorkload().metadata.resourceVersion, rv.gateway, 'the gateway workload changed');
      assert.equal(cmVersion(NS, 'openshell-dev-bootstrap'), rv.record, 'the bootstrap record changed');
    });

    test('status is healthy and reports the sideload method the gateway runs with', T, async () => {
      const r = await runTask('status', [], env, { timeoutMs: 60_000 });
      ok(r);
      assert.match(r.out, new RegExp(`\\[pass\\] sideload\\s+${expectedMethod} in force \\(gateway config; Kubernetes ${gitVersion.replaceAll('.', '\\.')}\\)`));
      assert.match(r.out, /\[pass\] release\s+openshell revision 1 deployed/);
      assert.match(r.out, /\[pass\] gateway\s+\S+ \S+: 1\/1 ready/);
      assert.match(r.out, /healthy/);
      const toml = kubectlOk(kc, ['-n', NS, 'get', 'configmap', 'openshell-gateway-config', '-o', 'jsonpath={.data.gateway\\.toml}']);
      assert.match(toml, new RegExp(`^\\s*supervisor_sideload_method = "${expectedMethod}"$`, 'm'), 'the gateway config in the API');
    });

    if (v.existing) {
      describe('the existing provider on the same cluster (KUBECONFIG = the kwok kubeconfig)', () => {
        let exHome = '';
        let exEnv: NodeJS.ProcessEnv = {};
        let kwokKcBytes = '';
        before(() => {
          exHome = tempDir('flow-existing');
          kwokKcBytes = readFileSync(kc, 'utf8');
          exEnv = taskEnv(exHome, {
            OPENSHELL_DEV_CLUSTER_PROVIDER: 'existing',
            KUBECONFIG: kc,
            OPENSHELL_DEV_KUBECONFIG: join(exHome, 'existing.yaml'),
            OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST: env.OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST,
            OPENSHELL_DEV_REGISTRY_PORT: String(registry!.port),
            OPENSHELL_DEV_TIMEOUT: '120',
          });
        });
        after(() => rmTree(exHome));

        test('up copies the current context into the kit file; status is healthy', T, async () => {
          ok(await runTask('up', [], exEnv, { timeoutMs: 60_000 }));
          assert.ok(existsSync(join(exHome, 'existing.yaml')));
          const r = await runTask('status', [], exEnv, { timeoutMs: 60_000 });
          ok(r);
          assert.match(r.out, new RegExp(`\\[pass\\] cluster\\s+.*existing: the current context \\(${gitVersion.replaceAll('.', '\\.')}\\)`));
          assert.match(r.out, new RegExp(`${expectedMethod} in force`));
        });

        test('down removes the release and our namespace, and leaves the cluster alone', T, async () => {
          const r = await runTask('down', [], exEnv, { timeoutMs: 180_000 });
          ok(r);
          assert.equal(kubectl(kc, ['get', 'namespace', NS]).status, 1, `namespace ${NS} remains`);
          assert.equal(
            kubectlOk(kc, ['get', 'secrets', '-A', '-l', `owner=helm,name=${RELEASE}`, '-o', 'name']).trim(),
            '',
            'a Helm release record remains',
          );
          assert.equal(existsSync(join(exHome, 'existing.yaml')), false, 'the kit kubeconfig remains');
          assert.equal(readFileSync(kc, 'utf8'), kwokKcBytes, 'the user kubeconfig (KUBECONFIG) was changed');
          const nodes = kubectlOk(kc, ['get', 'nodes', '-o', 'name']).trim().split('\n');
          assert.equal(nodes.length, 2, 'the cluster is still there');
          assert.ok(existsSync(join(home, '.kwok', 'clusters', cluster)), 'the kwok cluster directory is still there');
          const again = await runTask('down', [], exEnv, { timeoutMs: 60_000 });
          ok(again);
        });

        test('bootstrap installs again through the existing provider; status is healthy', T, async () => {
          ok(await runTask('up', [], exEnv, { timeoutMs: 60_000 }));
          const b = await runTask('bootstrap', [], exEnv, { timeoutMs: 180_000 });
          ok(b);
          assert.match(b.out, /installing release openshell/);
          const s = await runTask('status', [], exEnv, { timeoutMs: 60_000 });
          ok(s);
          assert.match(s.out, /healthy/);
        });
      });
    }

    test('down deletes the cluster and leaves nothing behind', T, async (t) => {
      const r = await runTask('down', [], env, { timeoutMs: 180_000 });
      ok(r);
      t.diagnostic(`down: ${(r.ms / 1000).toFixed(1)}s`);
      const kwokDir = join(home, '.kwok');
      assert.equal(existsSync(kwokDir), false, `${kwokDir} remains`);
      assert.deepEqual(processesMentioning(kwokDir), [], 'control-plane processes remain');
      assert.equal(existsSync(kc), false, 'the kit kubeconfig remains');
      if (v.merge) {
        assert.equal(readFileSync(userKc, 'utf8'), USER_KUBECONFIG, 'the user kubeconfig is not byte-for-byte what it was');
        assert.match(r.out, new RegExp(`removed context kwok-${cluster} from ${userKc.replaceAll('.', '\\.')}`));
      } else {
        assert.equal(existsSync(userKc), false, `${userKc} was created`);
      }
    });

    test('a second down finds nothing and changes nothing', T, async () => {
      const r = await runTask('down', [], env, { timeoutMs: 60_000 });
      ok(r);
      assert.match(r.out, new RegExp(`no cluster ${cluster}: nothing to delete`));
      assert.doesNotMatch(r.out, /removed/);
      if (v.merge) assert.equal(readFileSync(userKc, 'utf8'), USER_KUBECONFIG);
    });
  });
}
