// The test bed's real node (test/bed/realnode.ts): kubelet + containerd 2.x +
// runc + CNI joined to its own control plane. A pod really runs (its process's
// own output in `kubectl logs`, `kubectl exec` into it, pod-to-pod traffic
// across the bridge, a Service through kube-proxy), and `down` leaves nothing
// on the host: no process, mount, network namespace, bridge, KUBE-/CNI-
// chain, cgroup or CNI result.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { busyboxImage } from '../bed/images.ts';
import { mountsUnder, ourChains, RealNode, missingRealNode, optionsFromEnv, type NodeState } from '../bed/realnode.ts';
import { busybox, rmTree, tempDir, waitUntil } from '../support/e2e.ts';
import { missingDocker, missingRegistry } from '../support/requires.ts';

const T = { timeout: 180_000 };
const registry = process.env.OPENSHELL_TEST_REGISTRY ?? 'localhost:5000';
const skip = missingRealNode() || missingDocker() || (await missingRegistry(registry)) || (busybox() ? false : 'needs a static busybox (apt-get install busybox-static) for the test image');

describe('a real node: kubelet + containerd + runc + CNI', { skip }, () => {
  let dir = '';
  let node: RealNode;
  let image = '';
  let saved: NodeState | undefined;

  before(async () => {
    image = await busyboxImage(registry, busybox()!);
    dir = tempDir('realnode');
    node = new RealNode(dir);
    await node.up(optionsFromEnv());
    saved = node.state;
  });

  after(async () => {
    await node?.down();
    rmTree(dir);
  });

  test('the node is Ready with the real kubelet and containerd 2.x', T, () => {
    const info = JSON.parse(node.kubectl(['get', 'node', 'realnode', '-o', 'jsonpath={.status.nodeInfo}']).stdout) as { kubeletVersion: string; containerRuntimeVersion: string };
    assert.equal(info.kubeletVersion, node.state!.kubeVersion);
    assert.match(info.containerRuntimeVersion, /^containerd:\/\/2\./);
    assert.equal(node.nodeReady(), 'True');
    console.log(`# node start → Ready: ${(node.timings[Object.keys(node.timings).at(-1)!]! / 1000).toFixed(1)}s`);
  });

  test('a pod really runs: its own output in kubectl logs, kubectl exec into it', T, async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'hello', namespace: 'default', labels: { app: 'hello' } },
      spec: {
        terminationGracePeriodSeconds: 0,
        containers: [
          {
            name: 'c',
            image,
            // $$$$: Kubernetes turns $$ into $ (variable expansion), the shell sees $$.
            command: ['sh', '-c', 'echo "hello from pid $$$$ in $(hostname)"; while true; do echo ok | nc -l -p 8080 >/dev/null; done'],
            ports: [{ containerPort: 8080 }],
          },
        ],
      },
    };
    const t0 = performance.now();
    assert.equal(node.kubectl(['apply', '-f', '-'], JSON.stringify(pod)).status, 0);
    const wait = node.kubectl(['wait', '--for=condition=Ready', 'pod/hello', '--timeout=120s'], undefined, 130_000);
    assert.equal(wait.status, 0, `${wait.stderr}\n${node.kubectl(['describe', 'pod', 'hello']).stdout}`);
    console.log(`# pod apply → Running: ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    await waitUntil('the log line', 20_000, () => /hello from pid \d+ in hello/.test(node.kubectl(['logs', 'hello']).stdout));
    const exec = node.kubectl(['exec', 'hello', '--', 'cat', '/proc/1/cmdline']);
    assert.equal(exec.status, 0, exec.stderr);
    assert.match(exec.stdout.replaceAll('\0', ' '), /^sh -c echo "hello from pid/);
    // containerd really holds the container.
    assert.match(node.ctr(['containers', 'ls']).stdout, new RegExp(image.replace(/[.:/]/g, '\\$&')));
  });

  test('pod to pod over the bridge, and a Service through kube-proxy', T, async () => {
    const ip = node.kubectl(['get', 'pod', 'hello', '-o', 'jsonpath={.status.podIP}']).stdout.trim();
    assert.match(ip, /^10\.\d+\.\d+\.\d+$/);
    assert.equal(node.kubectl(['expose', 'pod', 'hello', '--port', '80', '--target-port', '8080']).status, 0);
    const svc = node.kubectl(['get', 'service', 'hello', '-o', 'jsonpath={.spec.clusterIP}']).stdout.trim();
    const client = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'client', namespace: 'default' },
      spec: {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 0,
        containers: [{ name: 'c', image, command: ['sh', '-c', `echo pod: $(nc -w 5 ${ip} 8080 </dev/null); sleep 1; echo service: $(nc -w 5 ${svc} 80 </dev/null)`] }],
      },
    };
    assert.equal(node.kubectl(['apply', '-f', '-'], JSON.stringify(client)).status, 0);
    await waitUntil('the client pod to finish', 90_000, () => node.kubectl(['get', 'pod', 'client', '-o', 'jsonpath={.status.phase}']).stdout === 'Succeeded');
    const out = node.kubectl(['logs', 'client']).stdout;
    assert.match(out, /^pod: ok$/m, out);
    assert.match(out, /^service: ok$/m, out);
  });

  test('down stops everything and leaves nothing on the host', T, async () => {
    const s = saved!;
    // Something to clean: the pods above are still running, with their netns, veths, mounts and chains.
    assert.ok(ourChains().length > 0, 'expected KUBE-/CNI- chains while the node runs');
    assert.ok(mountsUnder(s.runDir).length > 0, 'expected network namespace mounts while pods run');
    const t0 = performance.now();
    await node.down();
    console.log(`# down: ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    assert.deepEqual(node.leftovers(s), []);
    // A second down is a no-op.
    await node.down();
  });
});
