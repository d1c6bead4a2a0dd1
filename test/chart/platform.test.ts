// The chart's platform features, rendered with real helm: OpenShift (detection
// by API version, pods the restricted-v2 SCC admits, the passthrough Route),
// the workload-kind guard, horizontal scale (HPA, rollout and PDB settings),
// runtime classes for Kata and gVisor, and the gateway/driver keys for sandbox
// pods, host aliases, managed SSH ingress, gRPC rate limits and the policy
// posture. test/contract runs the real gateway on every ci/ variant named here.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { missingTools } from '../support/requires.ts';
import { CI_VARIANTS, VARIANTS, find, gatewayEnv, gatewayToml, gatewayWorkload, render, renderError, SANDBOX_API, type K8sObject, type PodSpec } from './support/helm.ts';

const skip = missingTools('helm');
const ci = (variant: string): string[] => {
  const f = CI_VARIANTS[variant];
  assert.ok(f, `ci/${variant}-values.yaml exists`);
  return ['-f', f];
};
const OPENSHIFT_APIS = [SANDBOX_API, 'route.openshift.io/v1', 'security.openshift.io/v1'];

/** Every pod template the chart renders (workloads and hooks alike), by object. */
function podsOf(objs: K8sObject[]): [string, PodSpec][] {
  const out: [string, PodSpec][] = [];
  for (const o of objs) {
    const spec = o.spec as { template?: { spec?: PodSpec }; jobTemplate?: { spec: { template: { spec: PodSpec } } } } | undefined;
    const pod = o.kind === 'Pod' ? (o.spec as PodSpec) : (spec?.template?.spec ?? spec?.jobTemplate?.spec.template.spec);
    if (pod) out.push([`${o.kind}/${o.metadata.name}`, pod]);
  }
  return out;
}

const SCC_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

/**
 * What OpenShift's restricted-v2 SCC refuses or overrides in a pod: fixed
 * UIDs, GIDs and fsGroup (it assigns them from the namespace's range),
 * privilege, escalation, capabilities other than dropping ALL (plus
 * NET_BIND_SERVICE), host namespaces and ports, volume types outside its list,
 * SELinux options (it assigns the level), seccomp other than RuntimeDefault.
 */
function restrictedV2Violations(pod: PodSpec): string[] {
  const v: string[] = [];
  const psc = pod.securityContext ?? {};
  for (const f of ['runAsUser', 'runAsGroup', 'fsGroup', 'supplementalGroups', 'seLinuxOptions']) if (psc[f] !== undefined) v.push(`pod securityContext.${f} is fixed`);
  for (const f of ['hostNetwork', 'hostPID', 'hostIPC', 'hostUsers']) if (pod[f] === true) v.push(`${f} is true`);
  for (const vol of pod.volumes ?? []) {
    const type = Object.keys(vol).find((k) => k !== 'name');
    if (!type || !SCC_VOLUMES.has(type)) v.push(`volume ${String(vol.name)} has type ${type}`);
  }
  const seccomp = (sc: Record<string, unknown> | undefined) => (sc?.seccompProfile as { type?: string } | undefined)?.type;
  for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
    const sc = c.securityContext ?? {};
    for (const f of ['runAsUser', 'runAsGroup', 'seLinuxOptions']) if (sc[f] !== undefined) v.push(`${c.name}: securityContext.${f} is fixed`);
    if (sc.privileged === true) v.push(`${c.name}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) v.push(`${c.name}: allowPrivilegeEscalation is not false`);
    const caps = (sc.capabilities ?? {}) as { drop?: string[]; add?: string[] };
    if (!caps.drop?.includes('ALL')) v.push(`${c.name}: capabilities do not drop ALL`);
    for (const a of caps.add ?? []) if (a !== 'NET_BIND_SERVICE') v.push(`${c.name}: adds ${a}`);
    const s = seccomp(sc) ?? seccomp(psc);
    if (s !== undefined && s !== 'RuntimeDefault') v.push(`${c.name}: seccompProfile ${s}`);
    for (const p of (c.ports ?? []) as { hostPort?: number }[]) if (p.hostPort) v.push(`${c.name}: hostPort`);
  }
  return v;
}

describe('chart: OpenShift', { skip }, () => {
  // Every variant the kit ships (so a new hook or workload is checked the day it lands), plus cert-manager TLS.
  for (const [what, args] of [...Object.entries(VARIANTS), ['cert-manager TLS', ['--set', 'tls.source=certManager']]] as [string, string[]][]) {
    test(`detected from the API versions (${what}): every pod, hooks included, is one restricted-v2 admits`, async () => {
      const objs = await render(args, '1.33.0', OPENSHIFT_APIS);
      const pods = podsOf(objs);
      assert.ok(pods.some(([id]) => id.startsWith('Job/')), 'the hook Job is checked');
      assert.ok(pods.some(([id]) => /^(StatefulSet|Deployment)\//.test(id)), 'the gateway is checked');
      for (const [id, pod] of pods) {
        assert.deepEqual(restrictedV2Violations(pod), [], id);
        // Still non-root and with a RuntimeDefault seccomp profile: restricted-v2 allows both, the restricted PSS needs them.
        assert.equal(pod.securityContext?.runAsNonRoot, true, `${id} runAsNonRoot`);
      }
    });
  }

  test('either OpenShift API group alone turns it on; neither leaves the fixed UIDs; openshift.enabled overrides both ways', async () => {
    const uid = async (apis: string[], extra: string[] = []) => gatewayWorkload(await render(extra, '1.35.0', apis)).spec.template.spec.securityContext?.runAsUser;
    assert.equal(await uid([SANDBOX_API, 'route.openshift.io/v1']), undefined);
    assert.equal(await uid([SANDBOX_API, 'security.openshift.io/v1']), undefined);
    assert.equal(await uid([SANDBOX_API]), 65532);
    assert.equal(await uid([SANDBOX_API], ['--set', 'openshift.enabled=true']), undefined);
    assert.equal(await uid(OPENSHIFT_APIS, ['--set', 'openshift.enabled=false']), 65532);
    // The plain-Kubernetes render is untouched: UID, GID and fsGroup stay fixed in the gateway and the hook.
    for (const [id, pod] of podsOf(await render([], '1.35.0', [SANDBOX_API]))) {
      assert.equal(pod.securityContext?.runAsUser, 65532, id);
      assert.equal(pod.securityContext?.fsGroup, 65532, id);
    }
  });

  test('ci/openshift: a passthrough Route to the gRPC port under a name on the server certificate; sandboxes on kata', async () => {
    const objs = await render(ci('openshift'));
    const route = find(objs, 'Route', 'openshell-gateway') as K8sObject & {
      spec: { host: string; to: { kind: string; name: string }; port: { targetPort: string }; tls: { termination: string; insecureEdgeTerminationPolicy: string } };
    };
    assert.equal(route.apiVersion, 'route.openshift.io/v1');
    assert.equal(route.spec.host, 'openshell.apps.example.com');
    assert.deepEqual(route.spec.to, { kind: 'Service', name: 'openshell-gateway', weight: 100 });
    assert.equal(route.spec.port.targetPort, 'grpc');
    assert.deepEqual(route.spec.tls, { termination: 'passthrough', insecureEdgeTerminationPolicy: 'None' });
    assert.equal(route.metadata.annotations?.['haproxy.router.openshift.io/timeout-tunnel'], '24h');
    const toml = gatewayToml(objs);
    assert.match(toml, /^server_sans = \["openshell\.apps\.example\.com"\]$/m);
    assert.match(toml, /^disable_tls = false$/m);
    assert.match(toml, /^default_runtime_class_name = "kata"$/m);
    const hookArgs = (find(objs, 'Job').spec as { template: { spec: PodSpec } }).template.spec.containers[0]?.args as string[];
    assert.ok(hookArgs.includes('--server-san=openshell.apps.example.com'), 'the generated certificate carries the Route host');
    for (const [id, pod] of podsOf(objs)) assert.deepEqual(restrictedV2Violations(pod), [], id);
    assert.equal(objs.filter((o) => o.kind === 'GRPCRoute').length, 0, 'a Route instead of the Gateway API');
  });

  const refusals: [string, string[], string[], RegExp][] = [
    ['a Route in front of a plaintext gateway', ['--set', 'openshift.route.enabled=true', '--set', 'disableTls=true'], OPENSHIFT_APIS, /openshift\.route\.enabled=true needs disableTls=false/],
    ['a Route host missing from the certificate', ['--set', 'openshift.route.enabled=true', '--set', 'openshift.route.host=gw.apps.example.com'], OPENSHIFT_APIS, /openshift\.route\.host=gw\.apps\.example\.com is not on the gateway's certificate.*tls\.extraServerSans/s],
    ['a Route on a cluster that is not OpenShift', ['--set', 'openshift.route.enabled=true'], [SANDBOX_API], /not an OpenShift cluster.*--api-versions route\.openshift\.io\/v1/s],
    ['an unknown openshift.enabled', ['--set', 'openshift.enabled=maybe'], [SANDBOX_API], /openshift\.enabled.*'auto', true, false|value must be one of 'auto', true, false/s],
  ];
  for (const [what, args, apis, pattern] of refusals) {
    test(`fails: ${what}`, async () => {
      assert.match(await renderError(args, '1.35.0', apis), pattern);
    });
  }
  test('a Route host on the certificate, or operator-provided certificates, renders', async () => {
    const host = ['--set', 'openshift.route.enabled=true', '--set', 'openshift.route.host=gw.apps.example.com'];
    await render([...host, '--set', 'tls.extraServerSans={gw.apps.example.com}'], '1.35.0', OPENSHIFT_APIS);
    await render([...host, '--set', 'tls.source=existing'], '1.35.0', OPENSHIFT_APIS);
  });
});

describe('chart: workload kind guard', { skip }, () => {
  test('empty chooses: StatefulSet (and its headless Service) for SQLite, Deployment for PostgreSQL', async () => {
    const sqlite = await render([]);
    assert.equal(gatewayWorkload(sqlite).kind, 'StatefulSet');
    find(sqlite, 'Service', 'openshell-gateway-headless');
    const pg = await render(['--set', 'database.external.enabled=true', '--set', 'database.external.secretName=pg']);
    assert.equal(gatewayWorkload(pg).kind, 'Deployment');
  });
  test('StatefulSet pinned on PostgreSQL: a StatefulSet with its headless Service, no SQLite volume or claim', async () => {
    const objs = await render(['--set', 'workload.kind=StatefulSet', '--set', 'database.external.enabled=true', '--set', 'database.external.secretName=pg', '--set', 'replicaCount=2']);
    const gw = gatewayWorkload(objs);
    assert.equal(gw.kind, 'StatefulSet');
    assert.equal(gw.spec.replicas, 2);
    assert.equal(gw.spec.volumeClaimTemplates, undefined);
    assert.ok(!(gw.spec.template.spec.containers[0]?.volumeMounts as { name: string }[]).some((m) => m.name === 'data'));
    find(objs, 'Service', 'openshell-gateway-headless');
  });
  test('fails: a Deployment pinned on SQLite, naming what to set', async () => {
    const err = await renderError(['--set', 'workload.kind=Deployment']);
    assert.match(err, /workload\.kind=Deployment needs database\.external\.enabled=true/);
    assert.match(err, /Leave workload\.kind empty/);
  });
  test('fails: an unknown kind, naming the allowed ones', async () => {
    assert.match(await renderError(['--set', 'workload.kind=DaemonSet']), /'', 'StatefulSet', 'Deployment'/);
  });
  test('every replica names itself in the reconciler lease by its pod name (OPENSHELL_REPLICA_ID)', async () => {
    const c = gatewayWorkload(await render([])).spec.template.spec.containers[0];
    assert.deepEqual(c?.env?.find((e) => e.name === 'OPENSHELL_REPLICA_ID')?.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });
  });
});

describe('chart: horizontal scale and rollouts', { skip }, () => {
  const pg = ['--set', 'database.external.enabled=true', '--set', 'database.external.secretName=pg'];
  test('ci/autoscaling: an autoscaling/v2 HPA on the Deployment, which leaves replicas to it; surge-only rollouts; PDB keeps one', async () => {
    const objs = await render(ci('autoscaling'));
    const gw = gatewayWorkload(objs);
    assert.equal(gw.kind, 'Deployment');
    assert.equal(gw.spec.replicas, undefined, 'replicas belong to the autoscaler');
    assert.deepEqual(gw.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const hpa = find(objs, 'HorizontalPodAutoscaler', 'openshell-gateway') as K8sObject & { spec: Record<string, unknown> };
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'openshell-gateway' });
    assert.equal(hpa.spec.minReplicas, 2);
    assert.equal(hpa.spec.maxReplicas, 6);
    assert.deepEqual(hpa.spec.metrics, [
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } },
      { type: 'Resource', resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 80 } } },
    ]);
    assert.deepEqual(hpa.spec.behavior, { scaleDown: { stabilizationWindowSeconds: 600 } });
    const pdb = find(objs, 'PodDisruptionBudget') as K8sObject & { spec: Record<string, unknown> };
    assert.equal(pdb.spec.minAvailable, 1);
  });
  test('a rollout that keeps one replica serving renders: 1 of 2 unavailable, 25% of 1 (rounds down to 0)', async () => {
    const two = gatewayWorkload(await render([...pg, '--set', 'replicaCount=2', '--set', 'gateway.rollingUpdate.maxUnavailable=1']));
    assert.deepEqual(two.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 1 } });
    await render([...pg, '--set', 'gateway.rollingUpdate.maxUnavailable=25%']);
  });
  test('no HPA unless asked; a null target leaves that metric out', async () => {
    assert.equal((await render([])).filter((o) => o.kind === 'HorizontalPodAutoscaler').length, 0);
    const objs = await render([...ci('autoscaling'), '--set', 'autoscaling.targetMemoryUtilizationPercentage=null']);
    const metrics = (find(objs, 'HorizontalPodAutoscaler').spec as { metrics: { resource: { name: string } }[] }).metrics;
    assert.deepEqual(metrics.map((m) => m.resource.name), ['cpu']);
  });
  const refusals: [string, string[], RegExp][] = [
    ['an HPA on SQLite', ['--set', 'autoscaling.enabled=true'], /autoscaling\.enabled=true scales a Deployment, but the gateway is a StatefulSet \(the default SQLite database\).*database\.external\.enabled=true/s],
    ['an HPA on a pinned StatefulSet', [...pg, '--set', 'autoscaling.enabled=true', '--set', 'workload.kind=StatefulSet'], /StatefulSet \(workload\.kind=StatefulSet\)/],
    ['an HPA whose maximum is below its minimum', [...pg, '--set', 'autoscaling.enabled=true', '--set', 'autoscaling.minReplicas=4', '--set', 'autoscaling.maxReplicas=3'], /autoscaling\.maxReplicas=3 is below autoscaling\.minReplicas=4/],
    ['an HPA without a target', [...pg, '--set', 'autoscaling.enabled=true', '--set', 'autoscaling.targetCPUUtilizationPercentage=null'], /needs a target/],
    ['a PDB as large as the HPA minimum', [...pg, '--set', 'autoscaling.enabled=true', '--set', 'podDisruptionBudget.minAvailable=2'], /minAvailable=2 with autoscaling\.minReplicas=2 would block every node drain/],
    ['a rollout that can neither surge nor remove', [...pg, '--set', 'replicaCount=2', '--set', 'gateway.rollingUpdate.maxSurge=0'], /maxUnavailable=0 with maxSurge=0 leaves a rollout no way to proceed/],
    ['a single replica that a rollout may stop first', [...pg, '--set', 'gateway.rollingUpdate.maxUnavailable=1'], /maxUnavailable=1 lets a rollout stop all 1 gateway replica\(s\).*set it below 1/s],
    ['a rollout that may stop every replica (100%)', [...pg, '--set', 'replicaCount=3', '--set', 'gateway.rollingUpdate.maxUnavailable=100%'], /maxUnavailable=100% lets a rollout stop all 3 gateway replica\(s\)/],
  ];
  for (const [what, args, pattern] of refusals) {
    test(`fails: ${what}`, async () => {
      assert.match(await renderError(args), pattern);
    });
  }
});

describe('chart: runtime classes (Kata, gVisor)', { skip }, () => {
  test('ci/kata: a RuntimeClass with its handler, overhead and node selector, and the driver default', async () => {
    const objs = await render(ci('kata'));
    const rc = find(objs, 'RuntimeClass', 'kata') as K8sObject & Record<string, unknown>;
    assert.equal(rc.apiVersion, 'node.k8s.io/v1');
    assert.equal(rc.handler, 'kata-qemu');
    assert.deepEqual(rc.overhead, { podFixed: { cpu: '250m', memory: '160Mi' } });
    assert.deepEqual(rc.scheduling, { nodeSelector: { 'katacontainers.io/kata-runtime': 'true' } });
    assert.match(gatewayToml(objs), /^default_runtime_class_name = "kata"$/m);
  });
  test('ci/gvisor: RuntimeClass gvisor (handler runsc), the driver default', async () => {
    const objs = await render(ci('gvisor'));
    assert.equal((find(objs, 'RuntimeClass', 'gvisor') as K8sObject & { handler: string }).handler, 'runsc');
    assert.match(gatewayToml(objs), /^default_runtime_class_name = "gvisor"$/m);
  });
  test('none by default; a RuntimeClass without a handler is refused', async () => {
    assert.equal((await render([])).filter((o) => o.kind === 'RuntimeClass').length, 0);
    assert.match(await renderError(['--set', 'runtimeClasses.create[0].name=kata']), /handler/);
  });
});

describe('chart: sandbox pods, host aliases, managed SSH ingress, gRPC rate limit, policy posture', { skip }, () => {
  test('ci/sandbox-pods: each value reaches its key in gateway.toml', async () => {
    const toml = gatewayToml(await render(ci('sandbox-pods')));
    const driver = toml.slice(toml.indexOf('[openshell.drivers.kubernetes]'));
    const gateway = toml.slice(toml.indexOf('[openshell.gateway]'), toml.indexOf('\n[', toml.indexOf('[openshell.gateway]') + 1));
    for (const line of [
      'default_image = "registry.example.com/agents/base:2026.11"',
      'image_pull_policy = "IfNotPresent"',
      'image_pull_secrets = ["agents-registry"]',
      'workspace_default_storage_size = "10Gi"',
      'workspace_storage_class = "fast-ssd"',
      'app_armor_profile = "Unconfined"',
      'enable_user_namespaces = true',
      'host_gateway_ip = "192.0.2.10"',
    ]) {
      assert.ok(driver.split('\n').includes(line), `[openshell.drivers.kubernetes] has ${line}`);
    }
    for (const line of ['policy_validation_failure_mode = "retain_last_valid"', 'grpc_rate_limit_requests = 20', 'grpc_rate_limit_window_seconds = 60']) {
      assert.ok(gateway.split('\n').includes(line), `[openshell.gateway] has ${line}`);
    }
  });
  test('defaults: fail_closed, no rate limit, no host aliases, driver defaults left alone', async () => {
    const toml = gatewayToml(await render([]));
    assert.match(toml, /^policy_validation_failure_mode = "fail_closed"$/m);
    for (const key of ['grpc_rate_limit_requests', 'grpc_rate_limit_window_seconds', 'host_gateway_ip', 'default_image', 'image_pull_policy', 'image_pull_secrets', 'workspace_default_storage_size', 'workspace_storage_class', 'app_armor_profile']) {
      assert.doesNotMatch(toml, new RegExp(`^${key} =`, 'm'), key);
    }
  });
  test('OIDC scopes claim (ci/oidc) and the telemetry switch', async () => {
    const objs = await render(ci('oidc'));
    assert.match(gatewayToml(objs), /^scopes_claim = "scope"$/m);
    assert.equal(gatewayEnv(objs, 'OPENSHELL_TELEMETRY_ENABLED'), 'false');
  });
  const refusals: [string, string[], RegExp][] = [
    ['a rate limit without a window', ['--set', 'grpcRateLimit.requests=10'], /grpcRateLimit\.requests=10 without grpcRateLimit\.windowSeconds/],
    ['a window without a limit', ['--set', 'grpcRateLimit.windowSeconds=10'], /grpcRateLimit\.windowSeconds=10 without grpcRateLimit\.requests/],
    ['a negative rate limit', ['--set', 'grpcRateLimit.requests=-1'], /grpcRateLimit\/requests|minimum: got -1, want 0|must be >= 0/],
    ['an unknown policy posture', ['--set', 'sandboxPolicy.validationFailureMode=fail_open'], /'fail_closed', 'retain_last_valid'/],
    ['a host alias that is not an IP', ['--set', 'sandbox.hostGatewayIp=host.example.com'], /hostGatewayIp/],
  ];
  for (const [what, args, pattern] of refusals) {
    test(`fails: ${what}`, async () => {
      assert.match(await renderError(args), pattern);
    });
  }
});
