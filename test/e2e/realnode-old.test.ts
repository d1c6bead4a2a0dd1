// The real node at the oldest Kubernetes the chart supports (1.29.15, kube-old):
// its kubelet config differs (no failCgroupV1, no podLogsDir), image volumes do
// not exist yet, so the doctor's smoke pod proves the init-container sideload
// with the real supervisor; `down` still leaves nothing behind.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { busyboxImage } from '../bed/images.ts';
import { missingRealNode, optionsFromEnv, RealNode, type NodeState } from '../bed/realnode.ts';
import { busybox, describeRun, freePort, PrivateRegistry, rmTree, runTask, taskEnv, tempDir, waitUntil } from '../support/e2e.ts';
import { missingDocker, missingRegistry, missingTools } from '../support/requires.ts';

const T = { timeout: 240_000 };
const KUBE = 'OPENSHELL_TEST_KUBE_BIN_OLD';
const sharedRegistry = process.env.OPENSHELL_TEST_REGISTRY ?? 'localhost:5000';
const supervisorBin = process.env.OPENSHELL_TEST_SUPERVISOR_BIN;
const skip =
  missingRealNode(process.env, KUBE) ||
  missingDocker() ||
  (await missingRegistry(sharedRegistry)) ||
  missingTools('kubectl', 'docker-registry') ||
  (busybox() ? false : 'needs a static busybox (apt-get install busybox-static) for the test image');

describe('a real node at Kubernetes 1.29 (kube-old)', { skip }, () => {
  let home = '';
  let node: RealNode;
  let registry: PrivateRegistry;
  let saved: NodeState | undefined;
  let app = '';

  before(async () => {
    home = tempDir('realnode-old');
    app = await busyboxImage(sharedRegistry, busybox()!);
    registry = new PrivateRegistry(join(home, 'registry'), await freePort());
    await registry.start();
    const opts = optionsFromEnv(process.env, KUBE);
    const url = `http://127.0.0.1:${registry.port}`;
    opts.registries = { ...opts.registries, 'openshell-registry:5000': url, [`localhost:${registry.port}`]: url };
    node = new RealNode(join(home, 'node'));
    await node.up(opts);
    saved = node.state;
  });

  after(async () => {
    await node?.down();
    await registry?.stop();
    rmTree(home);
  });

  test('the 1.29 kubelet joins and a pod really runs', T, async () => {
    assert.match(node.state!.kubeVersion, /^v1\.29\./);
    const info = node.kubectl(['get', 'node', 'realnode', '-o', 'jsonpath={.status.nodeInfo.kubeletVersion}']).stdout;
    assert.equal(info, node.state!.kubeVersion);
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'old', namespace: 'default' }, spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: app, command: ['sh', '-c', 'echo ran on $(hostname); sleep 3600'] }] } };
    assert.equal(node.kubectl(['apply', '-f', '-'], JSON.stringify(pod)).status, 0);
    const w = node.kubectl(['wait', '--for=condition=Ready', 'pod/old', '--timeout=90s'], undefined, 100_000);
    assert.equal(w.status, 0, `${w.stderr}\n${node.kubectl(['describe', 'pod', 'old']).stdout}`);
    await waitUntil('its log line', 20_000, () => /ran on old/.test(node.kubectl(['logs', 'old']).stdout));
  });

  test("the doctor's smoke pod runs the real supervisor through init-container (no image volumes at 1.29)", { ...T, skip: supervisorBin ? false : 'needs OPENSHELL_TEST_SUPERVISOR_BIN (the real static openshell-sandbox)' }, async () => {
    const env = taskEnv(home, {
      ...node.kitEnv(),
      OPENSHELL_DEV_KUBECONFIG: join(home, 'kit-kubeconfig.yaml'),
      OPENSHELL_DEV_REGISTRY_PORT: String(registry.port),
      CONTAINER_ENGINE: 'docker',
      DOCKER_HOST: process.env.DOCKER_HOST,
    });
    assert.equal((await runTask('up', [], env, { timeoutMs: 60_000 })).code, 0);
    const sync = await runTask('sync', ['--only', 'supervisor', '--supervisor-bin', supervisorBin!], env, { timeoutMs: 200_000 });
    assert.equal(sync.code, 0, describeRun(sync));
    // No method set: the doctor chooses by the server version (1.29 → init-container).
    const r = await runTask('doctor', [], env, { timeoutMs: 200_000 });
    const line = r.out.split('\n').find((l) => /\] sideload/.test(l)) ?? '';
    assert.match(line, /\[pass\] sideload\s+init-container .*works: \/opt\/openshell\/bin\/openshell-sandbox --version printed "openshell-sandbox \S+"/, describeRun(r));
  });

  test('down leaves nothing on the host', T, async () => {
    await node.down();
    assert.deepEqual(node.leftovers(saved!), []);
  });
});
