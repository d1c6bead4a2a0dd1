// The real OpenShell in the loop, on the test bed's real node (kubelet,
// containerd, runc, CNI, kube-proxy, CoreDNS): nothing stands in.
//   sync      the real openshell-gateway (image on the Debian base) and the
//             static openshell-sandbox as the dev supervisor image;
//   bootstrap the real agent-sandbox manifest, then the chart (values.dev.yaml);
//             the real gateway pod gets Ready;
//   create    the real `openshell` CLI creates a sandbox through the gateway's
//             NodePort; the driver's Sandbox becomes a pod whose supervisor
//             (sideloaded by image-volume, then by init-container) connects
//             back to the gateway by its Service name; the CLI returns when
//             the gateway reports the sandbox ready;
//   sideload  a changed static supervisor reaches a running sandbox: pushed as
//             the dev image, the sandbox stopped and started through the
//             gateway (a new pod from the Sandbox's podTemplate), the new
//             binary's sha256 read in the pod, the sandbox Ready again.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { missingLoop, OpenShellLoop } from '../bed/openshell-loop.ts';
import { sha256File } from '../../scripts/lib/sideload.ts';
import { describeRun, rmTree, stackLines, tempDir, waitUntil } from '../support/e2e.ts';

const skip = missingLoop();
const T = { timeout: 600_000 };

describe('the real OpenShell on a real node: sync, bootstrap, sandboxes through the real gateway, sideload', { skip }, () => {
  let home = '';
  let loop: OpenShellLoop;
  const ns = 'openshell';

  before(async () => {
    home = tempDir('realnode-openshell');
    loop = new OpenShellLoop(home);
    await loop.start();
  });

  after(async () => {
    await loop?.stop();
    rmTree(home);
  });

  const gatewayLog = () => loop.kubectl(['-n', ns, 'logs', 'openshell-gateway-0', '--tail', '40']).stdout;

  test('sync builds the real gateway and supervisor images; bootstrap brings the real gateway pod to Ready', T, async () => {
    const sync = await loop.task('sync', ['--gateway-bin', loop.gatewayBin, '--supervisor-bin', loop.supervisorBin]);
    assert.equal(sync.code, 0, describeRun(sync));
    const t0 = performance.now();
    const boot = await loop.task('bootstrap', []);
    assert.deepEqual(stackLines(boot.out), [], boot.out);
    assert.equal(boot.code, 0, `${describeRun(boot)}\ngateway log:\n${gatewayLog()}`);
    console.log(`# bootstrap (real agent-sandbox + chart) → gateway Ready: ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    const ready = loop.kubectl(['-n', ns, 'get', 'pod', 'openshell-gateway-0', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']).stdout;
    assert.equal(ready, 'True', gatewayLog());
    const status = await loop.task('status', []);
    assert.equal(status.code, 0, describeRun(status));
  });

  for (const method of ['image-volume', 'init-container'] as const) {
    test(`a sandbox created with the real CLI runs with the supervisor connected (${method})`, T, async () => {
      if (method === 'init-container') {
        // The gateway reads the method from its config file: bootstrap re-renders it, the gateway restarts.
        const boot = await loop.task('bootstrap', [], { OPENSHELL_SUPERVISOR_SIDELOAD_METHOD: method });
        assert.equal(boot.code, 0, describeRun(boot));
      }
      const name = `sb-${method === 'image-volume' ? 'iv' : 'ic'}`;
      const podName = `default--${name}`;
      const t0 = performance.now();
      const r = loop.createSandbox(name);
      assert.equal(r.status, 0, `openshell sandbox create → ${r.status}\n${r.stderr}\n${r.stdout}\ngateway log:\n${gatewayLog()}\n${loop.kubectl(['-n', ns, 'describe', 'pod', podName]).stdout}`);
      console.log(`# openshell sandbox create (${method}) → ready: ${((performance.now() - t0) / 1000).toFixed(1)}s`);
      const pod = JSON.parse(loop.kubectl(['-n', ns, 'get', 'pod', podName, '-o', 'json']).stdout) as {
        status: { phase: string };
        spec: { volumes: { name: string; image?: unknown; emptyDir?: unknown }[]; initContainers?: { name: string }[] };
      };
      assert.equal(pod.status.phase, 'Running');
      const vol = pod.spec.volumes.find((v) => v.name === 'openshell-supervisor-bin');
      assert.ok(method === 'image-volume' ? vol?.image : vol?.emptyDir, JSON.stringify(pod.spec.volumes));
      assert.equal(loop.phase(name), 'Ready');
      // It dialed the gateway by the Service name in grpc_endpoint: the node's CoreDNS answers it.
      const dns = loop.kubectl(['-n', ns, 'exec', podName, '-c', 'agent', '--', 'getent', 'hosts', `openshell-gateway.${ns}.svc`]);
      assert.equal(dns.status, 0, dns.stderr);
      const svcIp = loop.kubectl(['-n', ns, 'get', 'service', 'openshell-gateway', '-o', 'jsonpath={.spec.clusterIP}']).stdout;
      assert.match(dns.stdout, new RegExp(`^${svcIp.replaceAll('.', '\\.')}\\s`), dns.stdout);
      // The supervisor in the pod is the one sync pushed.
      const sum = loop.kubectl(['-n', ns, 'exec', podName, '-c', 'agent', '--', 'sha256sum', '/opt/openshell/bin/openshell-sandbox']).stdout.split(' ')[0];
      assert.equal(sum, await sha256File(loop.supervisorBin));
    });
  }

  test('sideload: a changed static supervisor reaches a running sandbox (stopped and started through the gateway, new sha256 in the pod, Ready)', T, async () => {
    const name = 'sb-ic';
    const changed = loop.changedSupervisor(join(home, 'changed'), String(Date.now()));
    const t0 = performance.now();
    const args = [changed, '--sandbox', name, '--cli', join(loop.bin, 'openshell'), '--gateway-endpoint', loop.gatewayUrl];
    const r = await loop.task('sideload', args);
    assert.equal(r.code, 0, `${describeRun(r)}\ngateway log:\n${gatewayLog()}`);
    console.log(`# sideload (push + stop/start + proof): ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    const sum = (await sha256File(changed)).slice(0, 12);
    assert.match(r.out, new RegExp(`${name} \\(${ns}/default--${name}, init-container\\): restarted, Ready, runs the new supervisor \\(sha256 ${sum} in /opt/openshell/bin/openshell-sandbox\\)`), r.out);
    assert.equal(loop.phase(name), 'Ready');
    // Idempotent: a second run finds the pod already current and recreates nothing.
    const again = await loop.task('sideload', args);
    assert.equal(again.code, 0, describeRun(again));
    assert.match(again.out, new RegExp(`${name} \\(${ns}/default--${name}\\): already runs sha256 ${sum}`), again.out);
  });

  // Why sideload stops and starts through the gateway rather than deleting the pod: upstream's answer, pinned.
  test('deleting a sandbox pod: the controller recreates it, but the gateway keeps the sandbox in phase Error', T, async () => {
    const name = 'sb-del';
    const podName = `default--${name}`;
    const r = loop.createSandbox(name);
    assert.equal(r.status, 0, r.stderr);
    const uid = loop.kubectl(['-n', ns, 'get', 'pod', podName, '-o', 'jsonpath={.metadata.uid}']).stdout;
    assert.equal(loop.kubectl(['-n', ns, 'delete', 'pod', podName, '--wait=false']).status, 0);
    await waitUntil('the agent-sandbox controller to recreate the pod', 120_000, () => {
      const p = loop.kubectl(['-n', ns, 'get', 'pod', podName, '-o', 'jsonpath={.metadata.uid} {.status.phase}']).stdout.split(' ');
      return p[0] !== '' && p[0] !== uid && p[1] === 'Running';
    });
    await waitUntil('the gateway to settle on a phase', 60_000, () => loop.phase(name) === 'Error');
    const stop = loop.cli(['sandbox', 'stop', name]);
    assert.notEqual(stop.status, 0);
    assert.match(stop.stderr + stop.stdout, /sandbox must be Ready to stop \(current phase:\s+(│\s+)?Error\)/);
  });
});
