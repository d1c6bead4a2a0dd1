// Faults on a real node (test/bed/realnode.ts), through the kit's `existing`
// provider: the kubelet killed while `bootstrap` waits for the agent-sandbox
// controller; containerd restarted under running pods; the registry gone while
// the gateway's image is being pulled. Each gives a clear message (no stack
// trace), loses nothing, and a re-run recovers.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KitNode, missingKitNode } from '../bed/kit-node.ts';
import type { RealNode } from '../bed/realnode.ts';
import { describeRun, fixtureBinary, type PrivateRegistry, runTask, stackLines, waitUntil } from '../support/e2e.ts';

const T = { timeout: 300_000 };
type Status = { name: string; state?: { waiting?: { reason?: string } } };
const skip = await missingKitNode();

describe('faults on a real node', { skip }, () => {
  let home = '';
  let node: RealNode;
  let registry: PrivateRegistry;
  let env: NodeJS.ProcessEnv = {};
  let app = '';

  let kit: KitNode | undefined;

  before(async () => {
    kit = await KitNode.start('realnode-faults', { OPENSHELL_DEV_TIMEOUT: '25', OPENSHELL_DEV_GATEWAY_BASE_IMAGE: 'scratch' });
    ({ home, node, registry, env, app } = kit);
  });

  after(async () => {
    await kit?.stop();
  });

  test('kubelet killed while bootstrap waits: a clear timeout naming the rollout; a re-run after the kubelet is back gets past it', T, async () => {
    let killed = false;
    const r = await runTask('bootstrap', ['--skip-image-check'], env, {
      timeoutMs: 120_000,
      onOutput: (_chunk, soFar) => {
        // The controller's Deployment is applied once bootstrap waits for the CRDs.
        if (!killed && /waiting for \d+ CRD/.test(soFar)) {
          killed = true;
          void node.stop('kubelet', 'SIGKILL');
        }
      },
    });
    assert.ok(killed, `bootstrap never waited for the CRDs:\n${r.out}`);
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.out, /agent-sandbox-controller/, describeRun(r));
    assert.match(r.out, /timed out|did not|not ready|roll out/i, describeRun(r));
    assert.deepEqual(stackLines(r.out), [], r.out);
    // Nothing lost: the CRDs and the controller's Deployment are still there.
    assert.equal(node.kubectl(['get', 'crd', 'sandboxes.agents.x-k8s.io']).status, 0);
    assert.equal(node.kubectl(['-n', 'agent-sandbox-system', 'get', 'deployment', 'agent-sandbox-controller']).status, 0);

    await node.startAndWait('kubelet');
    await node.waitReady(60_000);
    const again = await runTask('bootstrap', ['--skip-image-check'], env, { timeoutMs: 200_000 });
    assert.deepEqual(stackLines(again.out), [], again.out);
    const rollout = node.kubectl(['-n', 'agent-sandbox-system', 'rollout', 'status', 'deployment/agent-sandbox-controller', '--timeout=60s'], undefined, 70_000);
    assert.equal(rollout.status, 0, `${rollout.stderr}\n${describeRun(again)}`);
  });

  test('containerd restarted: running pods keep running, the node stays Ready, new pods start', T, async () => {
    const pod = (name: string) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default' },
      spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: app, command: ['sh', '-c', `echo ${name} up; sleep 3600`] }] },
    });
    assert.equal(node.kubectl(['apply', '-f', '-'], JSON.stringify(pod('before-restart'))).status, 0);
    assert.equal(node.kubectl(['wait', '--for=condition=Ready', 'pod/before-restart', '--timeout=90s'], undefined, 100_000).status, 0);
    const id = node.kubectl(['get', 'pod', 'before-restart', '-o', 'jsonpath={.status.containerStatuses[0].containerID}']).stdout;
    await node.stop('containerd');
    await node.startAndWait('containerd');
    assert.equal(node.kubectl(['apply', '-f', '-'], JSON.stringify(pod('after-restart'))).status, 0);
    const w = node.kubectl(['wait', '--for=condition=Ready', 'pod/after-restart', '--timeout=90s'], undefined, 100_000);
    assert.equal(w.status, 0, w.stderr);
    assert.match(node.kubectl(['logs', 'after-restart']).stdout, /after-restart up/);
    // The first pod's container was never restarted: same container, no restarts.
    assert.equal(node.kubectl(['get', 'pod', 'before-restart', '-o', 'jsonpath={.status.containerStatuses[0].containerID}']).stdout, id);
    assert.equal(node.kubectl(['get', 'pod', 'before-restart', '-o', 'jsonpath={.status.containerStatuses[0].restartCount}']).stdout, '0');
    assert.equal(node.nodeReady(), 'True');
  });

  /** Image pull failures of any container in the release's namespace, as "pod/container: reason". */
  const pullFailures = (): string[] => {
    const pods = JSON.parse(node.kubectl(['-n', 'openshell', 'get', 'pods', '-o', 'json']).stdout || '{"items":[]}') as {
      items: Array<{ metadata: { name: string }; status: { initContainerStatuses?: Status[]; containerStatuses?: Status[] } }>;
    };
    return pods.items.flatMap((p) =>
      [...(p.status.initContainerStatuses ?? []), ...(p.status.containerStatuses ?? [])]
        .filter((c) => /ErrImagePull|ImagePullBackOff/.test(c.state?.waiting?.reason ?? ''))
        .map((c) => `${p.metadata.name}/${c.name}: ${c.state!.waiting!.reason}`),
    );
  };

  test('registry unreachable while the gateway image is pulled: status names ImagePullBackOff and the fix; back when the registry is', T, async () => {
    const bins = join(home, 'bin');
    const sync = await runTask('sync', ['--gateway-bin', fixtureBinary(bins, 'openshell-gateway'), '--supervisor-bin', fixtureBinary(bins, 'openshell-sandbox')], env, { timeoutMs: 200_000 });
    assert.equal(sync.code, 0, describeRun(sync));
    await registry.stop();
    // Bootstrap upgrades the chart; the first pod to pull the gateway image (the certificate hook's,
    // or the gateway's) cannot while the registry is gone.
    const r = await runTask('bootstrap', ['--skip-image-check', '--force'], env, { timeoutMs: 200_000 });
    assert.equal(r.code, 1, describeRun(r));
    assert.deepEqual(stackLines(r.out), [], r.out);
    await waitUntil('a pod of the release to report an image pull failure', 90_000, () => pullFailures().length > 0).catch((err: Error) =>
      assert.fail(`${err.message}\n${describeRun(r)}\n${node.kubectl(['-n', 'openshell', 'get', 'pods', '-o', 'wide']).stdout}`),
    );
    const st = await runTask('status', [], env, { timeoutMs: 60_000 });
    assert.equal(st.code, 1, describeRun(st));
    assert.match(st.out, /\[FAIL\] gateway .*(ErrImagePull|ImagePullBackOff)/, describeRun(st));
    assert.match(st.out, /fix: the node cannot pull .*openshell-gateway.*registry answers/, describeRun(st));
    assert.deepEqual(stackLines(st.out), []);

    // Nothing lost: the registry comes back with its storage; the kubelet's next retry pulls.
    await registry.start();
    await waitUntil('the image pull to succeed', 180_000, () => pullFailures().length === 0);
    const after = await runTask('status', [], env, { timeoutMs: 60_000 });
    assert.doesNotMatch(after.out, /ImagePullBackOff|ErrImagePull/, describeRun(after));
    assert.deepEqual(stackLines(after.out), []);
  });
});
