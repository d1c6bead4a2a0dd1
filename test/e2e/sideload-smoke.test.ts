// The doctor's smoke pod against a real API server (kwok provider: real
// etcd + kube-apiserver, simulated nodes). kwok runs no binary, so what is
// proven here is the pod the API server stored (the seed's volume, the init
// container, the agent's mount and command), the verdict when nothing runs
// (inconclusive, a warning), and the clean-up. On the old control plane the
// API server refuses image volumes outright, and the report recommends
// init-container.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { memoryLogger } from '../../scripts/lib/log.ts';
import { kwokProvider } from '../../scripts/testbed/kwok-provider.ts';
import { loadSettings } from '../../scripts/lib/settings.ts';
import { methodForVersion, parseKubeVersion, type SideloadMethod } from '../../scripts/lib/sideload.ts';
import { proveSideload } from '../../scripts/lib/smoke-pod.ts';
import { createContext, type TaskContext } from '../../scripts/lib/task.ts';
import { waitUntil } from '../support/e2e.ts';
import { missingEnv, missingTools } from '../support/requires.ts';

const def = { name: 'e2e-sideload-smoke', summary: '', main: async () => {} };
const IMAGE = 'openshell-registry:5000/openshell-supervisor:dev';

interface StoredPod {
  spec: {
    volumes?: Array<Record<string, unknown> & { name: string }>;
    initContainers?: Array<{ name: string; command?: string[] }>;
    containers: Array<{ name: string; command?: string[]; args?: string[]; volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }> }>;
  };
}

for (const [label, envName] of [
  ['new', 'OPENSHELL_TEST_KUBE_BIN_NEW'],
  ['old', 'OPENSHELL_TEST_KUBE_BIN_OLD'],
] as const) {
  const skip = missingEnv(envName) || missingTools('kwokctl', 'kwok', 'etcd');
  describe(`doctor smoke pod on a kwok cluster, ${label} Kubernetes (kwok runs no binary: the stored pod spec is asserted)`, { skip }, () => {
    const cluster = `sideload-${label}-${process.pid}`.slice(0, 32);
    let work = '';
    let ctx: TaskContext;
    let kubeconfigFile = '';
    let minor = 0;
    const kubectl = (...args: string[]) => spawnSync(join(process.env[envName]!, 'kubectl'), ['--kubeconfig', kubeconfigFile, ...args], { encoding: 'utf8', timeout: 60_000 });

    before(async () => {
      work = mkdtempSync(join(tmpdir(), 'openshell-sideload-smoke-'));
      kubeconfigFile = join(work, 'kubeconfig.yaml');
      const env = {
        ...process.env,
        PATH: `${process.env[envName]}:${process.env.PATH}`,
        OPENSHELL_DEV_CLUSTER: cluster,
        OPENSHELL_DEV_CLUSTER_PROVIDER: 'kwok',
        OPENSHELL_DEV_KUBE_BIN_DIR: process.env[envName]!,
        OPENSHELL_DEV_KWOK_DIR: join(work, 'kwok'),
        OPENSHELL_DEV_KUBECONFIG: kubeconfigFile,
        OPENSHELL_DEV_AGENTS: '1',
        OPENSHELL_DEV_TIMEOUT: '90',
        OPENSHELL_SANDBOX_NAMESPACE: 'openshell',
        OPENSHELL_SUPERVISOR_SIDELOAD_METHOD: '',
      };
      ctx = createContext(def, { argv: [], env, log: memoryLogger(false), settings: loadSettings({ env, root: work, home: work }) });
      await kwokProvider.create(ctx);
      writeFileSync(kubeconfigFile, await kwokProvider.kubeconfig(ctx));
      // A fresh control plane: admission needs the default service account, which a controller creates.
      await waitUntil('the default service account', 60_000, () => kubectl('get', 'serviceaccount', 'default', '-n', 'default').status === 0);
      minor = parseKubeVersion(JSON.parse(kubectl('get', '--raw', '/version').stdout) as { gitVersion?: string }).minor;
      assert.ok(minor >= 29, `unexpected server version 1.${minor}`);
    });

    after(async () => {
      if (ctx) await kwokProvider.delete(ctx).catch(() => {});
      if (work) rmSync(work, { recursive: true, force: true });
    });

    async function prove(method: SideloadMethod | undefined) {
      const stored: StoredPod[] = [];
      const names: string[] = [];
      const result = await proveSideload(ctx, {
        ...(method ? { method } : {}),
        image: IMAGE,
        // The window opens once the pod is Running (onCreated waits for that), and
        // kwok never ends a Running pod: its length does not decide the verdict.
        timeoutSec: 2,
        pollMs: 500,
        tryOther: true,
        onCreated: async (pod) => {
          names.push(pod.name);
          await waitUntil(`kwok to mark smoke pod ${pod.name} Running`, 60_000, () => kubectl('get', 'pod', pod.name, '-n', pod.namespace, '-o', 'jsonpath={.status.phase}').stdout.trim() === 'Running');
          const r = kubectl('get', 'pod', pod.name, '-n', pod.namespace, '-o', 'json');
          assert.equal(r.status, 0, r.stderr);
          stored.push(JSON.parse(r.stdout) as StoredPod);
        },
      });
      return { result, stored, names };
    }

    async function assertGone(names: string[]) {
      for (const name of names) {
        await waitUntil(`smoke pod ${name} to be cleaned up`, 60_000, () => kubectl('get', 'pod', name, '-n', 'default', '--ignore-not-found', '-o', 'name').stdout.trim() === '');
      }
    }

    test('auto: the method the version rule picks is the one the API server stored', async (t) => {
      const { result, stored, names } = await prove(undefined);
      const expected = methodForVersion({ major: 1, minor });
      t.diagnostic(`1.${minor} → ${expected}: ${result.status}: ${result.detail}`);
      assert.ok(stored.length >= 1);
      const first = stored[0]!;
      const vol = first.spec.volumes?.find((v) => v.name === 'openshell-supervisor-bin');
      if (expected === 'image-volume') assert.deepEqual(vol, { name: 'openshell-supervisor-bin', image: { reference: IMAGE, pullPolicy: 'IfNotPresent' } });
      else assert.deepEqual(vol, { name: 'openshell-supervisor-bin', emptyDir: {} });
      const agent = first.spec.containers[0]!;
      assert.deepEqual(agent.command, ['/opt/openshell/bin/openshell-sandbox']);
      assert.deepEqual(agent.args, ['--version']);
      assert.deepEqual(agent.volumeMounts?.find((m) => m.name === 'openshell-supervisor-bin'), { name: 'openshell-supervisor-bin', mountPath: '/opt/openshell/bin', readOnly: true });
      // Nothing runs on kwok: no verdict, a warning rather than a false "ok".
      assert.equal(result.status, 'warn', result.detail);
      assert.match(result.detail, /not proven: pod still Running/);
      await assertGone(names);
    });

    test('init-container: emptyDir plus the copy-self init container, stored as sent, then removed', async () => {
      const { stored, names } = await prove('init-container');
      const spec = stored[0]!.spec;
      assert.deepEqual(spec.volumes?.find((v) => v.name === 'openshell-supervisor-bin'), { name: 'openshell-supervisor-bin', emptyDir: {} });
      assert.deepEqual(spec.initContainers?.[0]?.command, ['/openshell-sandbox', 'copy-self', '/opt/openshell/bin/openshell-sandbox']);
      await assertGone(names);
    });

    test('image-volume: served as an image volume source (1.35+), or refused with the API\'s own error and init-container recommended', async (t) => {
      const { result, stored, names } = await prove('image-volume');
      t.diagnostic(`${result.status}: ${result.detail}`);
      if (minor >= 35) {
        assert.deepEqual(stored[0]!.spec.volumes?.find((v) => v.name === 'openshell-supervisor-bin')?.image, { reference: IMAGE, pullPolicy: 'IfNotPresent' });
        assert.equal(result.status, 'warn');
      } else {
        assert.equal(result.status, 'fail');
        assert.match(result.detail, /the API server refused the pod/);
        assert.match(result.fix ?? '', /OPENSHELL_SUPERVISOR_SIDELOAD_METHOD=init-container/);
      }
      await assertGone(names);
    });
  });
}
