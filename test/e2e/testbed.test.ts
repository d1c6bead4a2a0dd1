// Proves the test bed itself: the kwok provider brings up a real control plane
// from each Kubernetes version .ci/run built (OPENSHELL_TEST_KUBE_BIN_NEW and
// _OLD), pods schedule and run on simulated nodes, Pod Security admission is
// enforced, CRDs and the service-account token controller work, and delete
// leaves no process and no file behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { clusterDir, clusterProcesses, kwokProvider } from '../../scripts/testbed/kwok-provider.ts';
import { kubeNames, loadSettings } from '../../scripts/lib/settings.ts';
import { history } from '../../scripts/lib/sh.ts';
import { createContext, type TaskContext } from '../../scripts/lib/task.ts';
import { waitUntil } from '../support/e2e.ts';
import { missingEnv, missingTools } from '../support/requires.ts';

const def = { name: 'testbed', summary: '', main: async () => {} };

/** Processes whose command line mentions `needle` (the cluster's own directory). */
function processesMentioning(needle: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(needle)) found.push(`${pid}: ${cmdline.slice(0, 120)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

for (const [label, envName] of [
  ['new', 'OPENSHELL_TEST_KUBE_BIN_NEW'],
  ['old', 'OPENSHELL_TEST_KUBE_BIN_OLD'],
] as const) {
  const skip = missingEnv(envName) || missingTools('kwokctl', 'kwok', 'etcd');
  describe(`kwok test bed, ${label} Kubernetes`, { skip }, () => {
    const cluster = `testbed-${label}-${process.pid}`;
    let work = '';
    let ctx: TaskContext;
    let kubeconfigFile = '';
    let pids: number[] = [];

    const kubectl = (args: string[], input?: string) =>
      spawnSync(join(process.env[envName]!, 'kubectl'), ['--kubeconfig', kubeconfigFile, ...args], {
        input,
        encoding: 'utf8',
        timeout: 90_000,
      });
    const ok = (args: string[], input?: string) => {
      const r = kubectl(args, input);
      assert.equal(r.status, 0, `kubectl ${args.join(' ')}: ${r.stderr || r.stdout}`);
      return r.stdout;
    };

    before(() => {
      work = mkdtempSync(join(tmpdir(), 'openshell-testbed-'));
      const env = {
        ...process.env,
        OPENSHELL_DEV_CLUSTER: cluster,
        OPENSHELL_DEV_CLUSTER_PROVIDER: 'kwok',
        OPENSHELL_DEV_KUBE_BIN_DIR: process.env[envName]!,
        OPENSHELL_DEV_KWOK_DIR: join(work, 'kwok'),
        OPENSHELL_DEV_KUBECONFIG: join(work, 'kubeconfig.yaml'),
        OPENSHELL_DEV_AGENTS: '1',
        OPENSHELL_DEV_TIMEOUT: '90',
      };
      ctx = createContext(def, { argv: [], env, settings: loadSettings({ env, root: work }) });
      kubeconfigFile = join(work, 'kubeconfig.yaml');
    });

    after(async () => {
      // Whatever happened above, leave nothing running.
      if (ctx) await kwokProvider.delete(ctx).catch(() => {});
      if (work) rmSync(work, { recursive: true, force: true });
    });

    test('state() is absent before create, and cheap: it runs no command', async () => {
      const commands = history.length;
      const state = await kwokProvider.state(ctx);
      assert.deepEqual({ exists: state.exists, running: state.running }, { exists: false, running: false });
      assert.deepEqual(history.slice(commands), [], 'state() of an absent cluster ran commands');
    });

    test('create starts the control plane; /version answers; nodes are Ready (kwok-simulated nodes)', async (t) => {
      await kwokProvider.create(ctx);
      writeFileSync(kubeconfigFile, await kwokProvider.kubeconfig(ctx));
      const version = JSON.parse(ok(['get', '--raw', '/version'])) as { gitVersion: string; major: string; minor: string };
      t.diagnostic(`${label}: kube-apiserver ${version.gitVersion}`);
      // Stamped like a release build: clients parse major/minor, not only gitVersion.
      assert.equal(`v${version.major}.${version.minor}`, /^v\d+\.\d+/.exec(version.gitVersion)?.[0], JSON.stringify(version));
      const nodes = ok(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}']);
      assert.deepEqual(nodes.trim().split(' ').sort(), [`kwok-${cluster}-agent-0=True`, `kwok-${cluster}-server-0=True`]);
      pids = clusterProcesses(clusterDir(ctx.settings));
      assert.ok(pids.length >= 5, `expected etcd, apiserver, controller-manager, scheduler, kwok: ${pids.join(' ')}`);
    });

    test('state() is running once created', async () => {
      const state = await kwokProvider.state(ctx);
      assert.equal(state.running, true, state.detail);
      assert.equal(state.exists, true);
    });

    test('kubeconfig() uses our context, cluster and user names', async () => {
      const names = kubeNames(ctx.settings);
      const text = await kwokProvider.kubeconfig(ctx);
      for (const n of [names.context, names.user]) assert.ok(text.includes(`name: ${n}`), `${n} in\n${text}`);
      assert.equal(ok(['config', 'current-context']).trim(), names.context);
      assert.ok(!text.includes('client-key:'), 'certificates are inlined');
    });

    test('a Deployment pod is scheduled on a simulated node and reaches Running', () => {
      ok(['create', 'deployment', 'hello', '--image=localhost:5000/hello:dev', '--replicas=1']);
      ok(['rollout', 'status', 'deployment/hello', '--timeout=60s']);
      const phase = ok(['get', 'pods', '-l', 'app=hello', '-o', 'jsonpath={.items[0].status.phase} {.items[0].spec.nodeName}']);
      assert.match(phase, new RegExp(`^Running kwok-${cluster}-`));
    });

    test('Pod Security admission: a restricted namespace rejects a privileged pod', () => {
      ok(['create', 'namespace', 'locked']);
      ok(['label', 'namespace', 'locked', 'pod-security.kubernetes.io/enforce=restricted']);
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'root', namespace: 'locked' },
        spec: { containers: [{ name: 'c', image: 'localhost:5000/hello:dev', securityContext: { privileged: true } }] },
      };
      const r = kubectl(['apply', '-f', '-'], JSON.stringify(pod));
      assert.notEqual(r.status, 0, 'the privileged pod was admitted');
      assert.match(r.stderr, /violates PodSecurity "restricted/);
    });

    test('CRDs in agents.x-k8s.io are served', () => {
      const crd = {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: 'probes.agents.x-k8s.io' },
        spec: {
          group: 'agents.x-k8s.io',
          names: { kind: 'Probe', plural: 'probes', singular: 'probe' },
          scope: 'Namespaced',
          versions: [{ name: 'v1alpha1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
        },
      };
      ok(['apply', '-f', '-'], JSON.stringify(crd));
      ok(['wait', '--for=condition=Established', 'crd/probes.agents.x-k8s.io', '--timeout=30s']);
      ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'agents.x-k8s.io/v1alpha1', kind: 'Probe', metadata: { name: 'p', namespace: 'default' } }));
      assert.equal(ok(['get', 'probes.agents.x-k8s.io', 'p', '-o', 'jsonpath={.metadata.name}']), 'p');
    });

    test('the service-account token controller fills token Secrets', async () => {
      const secret = {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/service-account-token',
        metadata: { name: 'default-token', namespace: 'default', annotations: { 'kubernetes.io/service-account.name': 'default' } },
      };
      ok(['apply', '-f', '-'], JSON.stringify(secret));
      await waitUntil('the token controller to fill the Secret', 60_000, () => ok(['get', 'secret', 'default-token', '-o', 'jsonpath={.data.token}']) !== '');
    });

    test('delete leaves no process and no file behind; a second delete is a no-op', async () => {
      const dir = clusterDir(ctx.settings);
      await kwokProvider.delete(ctx);
      assert.deepEqual(clusterProcesses(dir, pids), [], 'control-plane processes survive delete');
      assert.deepEqual(processesMentioning(dir), []);
      assert.equal(existsSync(dir), false, `${dir} remains`);
      assert.equal(existsSync(ctx.settings.kwokDir), false, `${ctx.settings.kwokDir} remains: ${existsSync(ctx.settings.kwokDir) ? readdirSync(ctx.settings.kwokDir).join(', ') : ''}`);
      const state = await kwokProvider.state(ctx);
      assert.equal(state.exists, false);
      const before = history.length;
      await kwokProvider.delete(ctx);
      assert.equal(history.length, before, 'a delete of an absent cluster runs nothing');
    });
  });
}
