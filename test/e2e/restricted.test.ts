// The chart's gateway pod admitted by a real API server in a namespace
// enforcing the restricted Pod Security Standard (enforce=restricted,
// enforce-version=latest), on a kwok cluster: helm installs the chart with
// values.dev.yaml, the StatefulSet controller's pod passes admission and
// reaches Running. As a control, a privileged pod is rejected there.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { CHART_DIR, DEV_VALUES } from '../../scripts/lib/bootstrap.ts';
import { forceDown, kubectl, kubectlOk, kwokClusterWithCrds, rmTree } from '../support/e2e.ts';
import { missingTools } from '../support/requires.ts';

const NS = 'locked-down';
const T = { timeout: 180_000 };

describe('restricted Pod Security Standard on a real API server (kwok; stand-in agent-sandbox, no controller runs; the real node proves pods run: realnode-kit)', { skip: missingTools('kwokctl', 'kwok', 'etcd', 'kubectl', 'helm', 'kube-apiserver') }, () => {
  let home = '';
  let env: NodeJS.ProcessEnv = {};
  let kc = '';

  before(async () => {
    ({ home, kc, env } = await kwokClusterWithCrds('restricted'));
    kubectlOk(kc, ['create', 'namespace', NS]);
    kubectlOk(kc, [
      'label',
      'namespace',
      NS,
      'pod-security.kubernetes.io/enforce=restricted',
      'pod-security.kubernetes.io/enforce-version=latest',
      'pod-security.kubernetes.io/warn=restricted',
      'pod-security.kubernetes.io/warn-version=latest',
    ]);
  });

  after(async () => {
    if (home) await forceDown(env);
    rmTree(home);
  });

  test('helm installs the chart with values.dev.yaml; no Pod Security warning', T, () => {
    const r = spawnSync('helm', ['--kubeconfig', kc, 'install', 'openshell', CHART_DIR, '-n', NS, '-f', DEV_VALUES, '--wait', '--timeout', '120s'], {
      encoding: 'utf8',
      timeout: 150_000,
    });
    assert.equal(r.status, 0, `helm install: ${r.stderr || r.stdout}`);
    assert.doesNotMatch(r.stderr + r.stdout, /violate PodSecurity/i);
  });

  test('the gateway pod was admitted and is Running (kwok\'s simulated status: nothing runs)', T, () => {
    const pods = JSON.parse(
      kubectlOk(kc, ['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/instance=openshell,app.kubernetes.io/component=gateway', '-o', 'json']),
    ) as { items: Array<{ metadata: { name: string }; status: { phase: string }; spec: { securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type: string } } } }> };
    assert.ok(pods.items.length >= 1, 'no gateway pod: the StatefulSet controller could not create one');
    for (const p of pods.items) {
      assert.equal(p.status.phase, 'Running', `${p.metadata.name}`);
      assert.equal(p.spec.securityContext?.runAsNonRoot, true);
      assert.equal(p.spec.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    }
    // No admission failure events on the workload either.
    const events = kubectlOk(kc, ['get', 'events', '-n', NS, '--field-selector', 'reason=FailedCreate', '-o', 'name']).trim();
    assert.equal(events, '', `FailedCreate events: ${events}`);
  });

  test('control: a privileged pod is rejected in the same namespace', T, () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'privileged', namespace: NS },
      spec: { containers: [{ name: 'c', image: 'localhost:5000/openshell-gateway:dev', securityContext: { privileged: true } }] },
    };
    const r = kubectl(kc, ['apply', '-f', '-'], JSON.stringify(pod));
    assert.notEqual(r.status, 0, 'the privileged pod was admitted');
    assert.match(r.stderr, /violates PodSecurity "restricted:latest"/);
    assert.equal(kubectl(kc, ['get', 'pod', '-n', NS, 'privileged']).status, 1);
  });
});
