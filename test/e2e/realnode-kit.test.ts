// The kit's tasks against a real node (test/bed/realnode.ts) through the
// `existing` provider: the real agent-sandbox controller (built from
// sigs.k8s.io/agent-sandbox, manifest from its k8s/ kustomization) reconciles a
// Sandbox into a pod that really runs; the doctor's smoke pod really executes
// the supervisor through image-volume and init-container; a pod really runs
// under the restricted Pod Security Standard; `bootstrap` installs the chart and
// the real gateway runs there; `status` is healthy, fails naming the node when
// the kubelet stops, and is healthy again when it is back.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { KitNode, missingKitNode } from '../bed/kit-node.ts';
import type { RealNode } from '../bed/realnode.ts';
import { describeRun, runTask, stackLines, waitUntil } from '../support/e2e.ts';

const T = { timeout: 240_000 };
const supervisorBin = process.env.OPENSHELL_TEST_SUPERVISOR_BIN;
const gatewayBin = process.env.OPENSHELL_TEST_GATEWAY_BIN;
const skip = await missingKitNode();
const noSupervisor = supervisorBin ? false : 'needs the real static supervisor: OPENSHELL_TEST_SUPERVISOR_BIN (the openshell-sandbox that .ci/tools/openshell.sh builds)';

describe('the kit on a real node (existing provider)', { skip }, () => {
  let node: RealNode;
  let env: NodeJS.ProcessEnv = {};
  let app = '';
  const kc = () => node.kubeconfig;

  let kit: KitNode | undefined;

  before(async () => {
    kit = await KitNode.start('realnode-kit', {});
    ({ node, env, app } = kit);
  });

  after(async () => {
    await kit?.stop();
  });

  test('bootstrap applies the real agent-sandbox and the controller rolls out', T, async () => {
    const r = await runTask('bootstrap', [], env, { timeoutMs: 200_000 });
    assert.deepEqual(stackLines(r.out), [], r.out);
    // Without dev images bootstrap stops after the agent-sandbox step, saying to sync.
    if (r.code !== 0) assert.match(r.out, /k8s:dev:sync/, describeRun(r));
    const rollout = spawnSync('kubectl', ['--kubeconfig', kc(), '-n', 'agent-sandbox-system', 'rollout', 'status', 'deployment/agent-sandbox-controller', '--timeout=60s'], { encoding: 'utf8', timeout: 70_000 });
    assert.equal(rollout.status, 0, `${rollout.stderr}\n${describeRun(r)}`);
    const image = node.kubectl(['-n', 'agent-sandbox-system', 'get', 'deployment', 'agent-sandbox-controller', '-o', 'jsonpath={.spec.template.spec.containers[0].image}']).stdout;
    assert.match(image, /openshell-testbed\/agent-sandbox-controller:v0\.5\.5-/);
    // The controller process really runs: its own log lines, up to its reconcile workers.
    let logs = '';
    await waitUntil('the controller to start its workers', 90_000, () => {
      logs = node.kubectl(['-n', 'agent-sandbox-system', 'logs', 'deployment/agent-sandbox-controller']).stdout;
      return /"msg":"Starting workers"/.test(logs);
    }).catch((err: Error) => assert.fail(`${err.message}; controller log:\n${logs}`));
  });

  test('the real controller reconciles a Sandbox into a pod that runs', T, async () => {
    const sandbox = {
      apiVersion: 'agents.x-k8s.io/v1beta1',
      kind: 'Sandbox',
      metadata: { name: 'hello-sandbox', namespace: 'default' },
      spec: { podTemplate: { spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'agent', image: app, command: ['sh', '-c', 'echo sandbox process $$$$ alive; sleep 3600'] }] } } },
    };
    const t0 = performance.now();
    const apply = node.kubectl(['apply', '-f', '-'], JSON.stringify(sandbox));
    assert.equal(apply.status, 0, apply.stderr);
    await waitUntil('the Sandbox pod to run', 120_000, () => node.kubectl(['get', 'pod', 'hello-sandbox', '-o', 'jsonpath={.status.phase}']).stdout === 'Running');
    console.log(`# Sandbox apply → pod Running (real controller): ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    await waitUntil('the sandbox log line', 20_000, () => /sandbox process \d+ alive/.test(node.kubectl(['logs', 'hello-sandbox']).stdout));
    const owner = node.kubectl(['get', 'pod', 'hello-sandbox', '-o', 'jsonpath={.metadata.ownerReferences[0].kind}']).stdout;
    assert.equal(owner, 'Sandbox');
    await waitUntil('the Sandbox to report Ready', 60_000, () => node.kubectl(['get', 'sandbox', 'hello-sandbox', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']).stdout === 'True');
  });

  test("the doctor's smoke pod runs the real supervisor through image-volume and init-container", { ...T, skip: noSupervisor }, async () => {
    const sync = await runTask('sync', ['--only', 'supervisor', '--supervisor-bin', supervisorBin!], env, { timeoutMs: 200_000 });
    assert.equal(sync.code, 0, describeRun(sync));
    for (const method of ['image-volume', 'init-container']) {
      const t0 = performance.now();
      const r = await runTask('doctor', [], { ...env, OPENSHELL_SUPERVISOR_SIDELOAD_METHOD: method }, { timeoutMs: 200_000 });
      console.log(`# doctor with the ${method} smoke pod: ${((performance.now() - t0) / 1000).toFixed(1)}s`);
      const line = r.out.split('\n').find((l) => /\] sideload/.test(l)) ?? '';
      assert.match(line, new RegExp(`\\[pass\\] sideload\\s+${method} .*works: /opt/openshell/bin/openshell-sandbox --version printed "openshell-sandbox \\S+"`), describeRun(r));
    }
  });

  test('restricted Pod Security Standard: a compliant Sandbox pod really runs; a privileged pod is refused', T, async () => {
    const ns = 'locked-down';
    assert.equal(node.kubectl(['create', 'namespace', ns]).status, 0);
    assert.equal(node.kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/enforce-version=latest']).status, 0);
    const restricted = {
      runAsNonRoot: true,
      runAsUser: 65532,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    };
    const sandbox = {
      apiVersion: 'agents.x-k8s.io/v1beta1',
      kind: 'Sandbox',
      metadata: { name: 'restricted', namespace: ns },
      spec: { podTemplate: { spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'agent', image: app, command: ['sh', '-c', 'echo running as $(id -u); sleep 3600'], securityContext: restricted }] } } },
    };
    assert.equal(node.kubectl(['apply', '-f', '-'], JSON.stringify(sandbox)).status, 0);
    await waitUntil('the restricted pod to run', 120_000, () => node.kubectl(['-n', ns, 'get', 'pod', 'restricted', '-o', 'jsonpath={.status.phase}']).stdout === 'Running');
    await waitUntil('its log line', 20_000, () => /running as 65532/.test(node.kubectl(['-n', ns, 'logs', 'restricted']).stdout));
    const privileged = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'privileged', namespace: ns }, spec: { containers: [{ name: 'c', image: app, securityContext: { privileged: true } }] } };
    const r = node.kubectl(['apply', '-f', '-'], JSON.stringify(privileged));
    assert.notEqual(r.status, 0, 'the privileged pod was admitted');
    assert.match(r.stderr, /violates PodSecurity "restricted:latest"/);
  });

  const gatewayBase = process.env.OPENSHELL_TEST_GATEWAY_BASE_IMAGE;
  const noGateway =
    gatewayBin && supervisorBin && gatewayBase
      ? false
      : 'needs the real gateway and supervisor (OPENSHELL_TEST_GATEWAY_BIN, OPENSHELL_TEST_SUPERVISOR_BIN) and a base image with its libraries (OPENSHELL_TEST_GATEWAY_BASE_IMAGE: .ci/testbed/debian-base.sh)';
  // The kit's namespace for the chart, enforcing the restricted standard (made by the test above).
  const lockedEnv = () => ({ ...env, OPENSHELL_DEV_NAMESPACE: 'locked-down', OPENSHELL_SANDBOX_NAMESPACE: 'locked-down' });
  test("bootstrap installs the chart with the real gateway, which runs under the restricted standard", { ...T, skip: noGateway }, async () => {
    const sync = await runTask('sync', ['--gateway-bin', gatewayBin!, '--supervisor-bin', supervisorBin!], { ...env, OPENSHELL_DEV_GATEWAY_BASE_IMAGE: gatewayBase }, { timeoutMs: 600_000 });
    assert.equal(sync.code, 0, describeRun(sync));
    const t0 = performance.now();
    const r = await runTask('bootstrap', [], lockedEnv(), { timeoutMs: 300_000 });
    const gw = ['-n', 'locked-down', 'logs', 'openshell-gateway-0', '--tail', '20'];
    assert.equal(r.code, 0, `${describeRun(r)}\ngateway log:\n${node.kubectl(gw).stdout}${node.kubectl([...gw, '--previous']).stdout}`);
    console.log(`# bootstrap (chart + real gateway rolled out): ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    const pod = JSON.parse(node.kubectl(['-n', 'locked-down', 'get', 'pod', 'openshell-gateway-0', '-o', 'json']).stdout) as {
      status: { phase: string; containerStatuses: Array<{ ready: boolean }> };
      spec: { securityContext?: { runAsNonRoot?: boolean } };
    };
    assert.equal(pod.status.phase, 'Running');
    assert.ok(pod.status.containerStatuses.every((c) => c.ready), 'the gateway container is not ready');
    assert.equal(pod.spec.securityContext?.runAsNonRoot, true);
  });

  test('status: healthy with the gateway up; a stopped kubelet fails it, naming the node; healthy again when the kubelet is back', T, async () => {
    // With the chart installed (the test above), status must be healthy: exit 0.
    const statusEnv = noGateway ? env : lockedEnv();
    const before = await runTask('status', [], statusEnv, { timeoutMs: 60_000 });
    assert.match(before.out, /\[pass\] nodes\s+1 Ready/, describeRun(before));
    if (!noGateway) assert.equal(before.code, 0, describeRun(before));
    await node.stop('kubelet', 'SIGKILL');
    await waitUntil('the node to be NotReady', 60_000, () => node.nodeReady() === 'Unknown');
    const broken = await runTask('status', [], statusEnv, { timeoutMs: 60_000 });
    assert.equal(broken.code, 1, describeRun(broken));
    assert.match(broken.out, /\[FAIL\] nodes\s+realnode NotReady \(NodeStatusUnknown: Kubelet stopped posting node status\.\)/, describeRun(broken));
    assert.match(broken.out, /fix: the node's kubelet/);
    assert.deepEqual(stackLines(broken.out), []);
    await node.startAndWait('kubelet');
    await node.waitReady(60_000);
    // The gateway's readiness may flap while the kubelet catches up: healthy again within a minute.
    let again = before;
    await waitUntil('status to be as before', 90_000, async () => {
      again = await runTask('status', [], statusEnv, { timeoutMs: 60_000 });
      return again.code === before.code && /\[pass\] nodes\s+1 Ready/.test(again.out);
    }).catch(() => assert.fail(describeRun(again)));
  });
});
