// The chart as chart maintainers test it, on the test bed's real node with the
// real gateway (the images `sync` builds from the real binaries):
//   - `k8s:chart:publish` pushes the chart to the test bed's registry, and
//     `helm install oci://…` of the pushed artifact (the values bootstrap used)
//     brings the real gateway to Ready;
//   - `helm test` runs the chart's hook pod (a busybox image built here, a
//     value): it passes against the ready gateway and fails once no gateway
//     pod backs the Service;
//   - `ct install` (chart-testing) installs the chart once per ci/ variant the
//     bare node can serve, waits, runs `helm test`, and removes it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CHART_DIR } from '../../scripts/lib/bootstrap.ts';
import { chartMeta } from '../../scripts/lib/chart.ts';
import { busyboxImage } from '../bed/images.ts';
import { SHARED_REGISTRY } from '../bed/kit-node.ts';
import { missingLoop, OpenShellLoop } from '../bed/openshell-loop.ts';
import { busybox, describeRun, missingBusybox, rmTree, tempDir, uniqueName, waitUntil } from '../support/e2e.ts';
import { CI_VARIANTS } from '../chart/support/helm.ts';
import { missingRegistry, missingTools } from '../support/requires.ts';
import { runPublish } from '../support/publish.ts';

const T = { timeout: 600_000 };
const NS = 'openshell';

/**
 * The ci/ variants `ct install` runs on the bare real node, and why the others
 * cannot install there: each needs something outside the chart that this node
 * does not have.
 */
export const CT_INSTALL_VARIANTS = ['defaults', 'dev', 'gvisor', 'kata', 'sandbox-pods', 'spiffe', 'workspace-managed', 'workspace-operator'];
export const CT_INSTALL_LEFT_OUT: Record<string, string> = {
  'cert-manager': 'cert-manager (its CRDs and the letsencrypt ClusterIssuer)',
  'credential-kubernetes-secrets': 'the namespace openshell-credentials its Role and Secrets go into',
  'credential-vault': 'a Vault at vault.vault.svc:8200 with a kubernetes auth role',
  'sidecar-proxy': 'a corporate proxy (proxy.corp.example.com) and its auth Secret corporate-proxy-auth',
  'tls-external': "the operator's server, client, client-CA and external TLS Secrets",
  ha: 'an external PostgreSQL and its URI Secret (openshell-postgres)',
  autoscaling: 'an external PostgreSQL and its URI Secret (openshell-postgres), and a metrics server for the autoscaler',
  openshift: "OpenShift: the Route API (route.openshift.io) and the restricted-v2 SCC that assigns the pods' UIDs (OpenShift mode fixes none)",
  ingress: 'the Gateway API CRDs (gateway.networking.k8s.io) and cert-manager',
  observability: "the Prometheus Operator's ServiceMonitor CRD",
  oidc: 'an OIDC issuer (keycloak.example.com) and its CA ConfigMap (corporate-ca)',
  restricted: 'image digests of the published images (a digest wins over --set tag), pre-created TLS and credential key Secrets, cluster-scoped RBAC applied by an admin (rbac.clusterRole=false)',
};

const skip = missingLoop() || missingTools('ct', 'yamale', 'yamllint') || missingBusybox() || (await missingRegistry(SHARED_REGISTRY));

describe('the chart on a real node with the real gateway: install from the pushed artifact, helm test, ct install', { skip }, () => {
  let home = '';
  let loop: OpenShellLoop;
  let kc = '';
  let testImage = { repository: '', tag: '' };
  const chart = chartMeta();

  const helm = (args: string[], timeoutMs = 300_000) => spawnSync('helm', ['--kubeconfig', kc, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  const gatewayLog = () => loop.kubectl(['-n', NS, 'logs', 'openshell-gateway-0', '--tail', '30']).stdout;

  before(async () => {
    home = tempDir('realnode-chart');
    loop = new OpenShellLoop(home);
    await loop.start();
    kc = loop.env.OPENSHELL_DEV_KUBECONFIG!;
    const ref = await busyboxImage(SHARED_REGISTRY, busybox()!);
    const at = ref.lastIndexOf(':');
    testImage = { repository: ref.slice(0, at), tag: ref.slice(at + 1) };
  });
  after(async () => {
    await loop?.stop();
    rmTree(home);
  });

  test('bootstrap brings the real gateway up (sync of the real binaries, the real agent-sandbox)', T, async () => {
    const sync = await loop.task('sync', ['--gateway-bin', loop.gatewayBin, '--supervisor-bin', loop.supervisorBin]);
    assert.equal(sync.code, 0, describeRun(sync));
    const boot = await loop.task('bootstrap', []);
    assert.equal(boot.code, 0, `${describeRun(boot)}\n${gatewayLog()}`);
  });

  test('helm install of the pushed chart (oci://localhost:5000/…), then helm test passes: /readyz answers through the Service', T, async () => {
    const repo = `openshell-e2e/${uniqueName('realnode-chart')}`;
    const pub = await runPublish(['--registry', `oci://${SHARED_REGISTRY}/${repo}`, '--version', chart.version], home);
    assert.equal(pub.code, 0, describeRun(pub));
    // The values bootstrap installed with (values.dev.yaml and the dev images), then the release from the registry instead.
    const values = helm(['get', 'values', 'openshell', '-n', NS, '-o', 'yaml']);
    assert.equal(values.status, 0, values.stderr);
    const valuesFile = join(home, 'bootstrap-values.yaml');
    writeFileSync(valuesFile, values.stdout);
    const un = helm(['uninstall', 'openshell', '-n', NS, '--wait', '--timeout', '120s']);
    assert.equal(un.status, 0, un.stderr);
    const t0 = performance.now();
    const install = helm([
      'install', 'openshell', `oci://${SHARED_REGISTRY}/${repo}/${chart.name}`, '--version', chart.version, '--plain-http',
      '-n', NS, '-f', valuesFile, '--set', `tests.image.repository=${testImage.repository}`, '--set', `tests.image.tag=${testImage.tag}`,
      '--wait', '--timeout', '180s',
    ]);
    assert.equal(install.status, 0, `${install.stderr}\n${gatewayLog()}`);
    console.log(`# helm install from the registry → gateway Ready: ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    const status = JSON.parse(helm(['status', 'openshell', '-n', NS, '-o', 'json']).stdout) as { chart?: { metadata: { version: string } }; info: { status: string } };
    assert.equal(status.info.status, 'deployed');

    const t1 = performance.now();
    const t = helm(['test', 'openshell', '-n', NS, '--logs', '--timeout', '120s']);
    assert.equal(t.status, 0, t.stderr + t.stdout);
    console.log(`# helm test: ${((performance.now() - t1) / 1000).toFixed(1)}s`);
    assert.match(t.stdout, /TEST SUITE:\s+openshell-test-readyz[\s\S]*Phase:\s+Succeeded/);
    // The test pod's own output: the gateway's readiness body.
    assert.match(t.stdout, /"status":"healthy"/);
  });

  test('helm test fails while no ready gateway backs the Service', T, async () => {
    const scale = loop.kubectl(['-n', NS, 'scale', 'statefulset', 'openshell-gateway', '--replicas=0']);
    assert.equal(scale.status, 0, scale.stderr);
    await waitUntil('the gateway pod is gone', 120_000, () => loop.kubectl(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/component=gateway', '-o', 'name']).stdout.trim() === '');
    const t = helm(['test', 'openshell', '-n', NS, '--logs', '--timeout', '120s']);
    assert.notEqual(t.status, 0, t.stdout);
    assert.match(t.stderr + t.stdout, /openshell-test-readyz/);
    const phase = loop.kubectl(['-n', NS, 'get', 'pod', 'openshell-test-readyz', '-o', 'jsonpath={.status.phase}']).stdout;
    assert.equal(phase, 'Failed');
    const un = helm(['uninstall', 'openshell', '-n', NS, '--wait', '--timeout', '120s']);
    assert.equal(un.status, 0, un.stderr);
  });

  test(`ct install: each installable ci/ variant (${CT_INSTALL_VARIANTS.join(', ')}) installed with --wait, helm test passing, removed`, T, async () => {
    // A copy of the chart whose ci/ holds the variants this node can serve; CT_INSTALL_LEFT_OUT names what each other one needs.
    assert.deepEqual([...CT_INSTALL_VARIANTS, ...Object.keys(CT_INSTALL_LEFT_OUT)].sort(), Object.keys(CI_VARIANTS).sort(), 'every ci/ variant is installed or says why not');
    const charts = join(home, 'ct-charts');
    const dir = join(charts, 'openshell');
    cpSync(CHART_DIR, dir, { recursive: true });
    rmSync(join(dir, 'ci'), { recursive: true });
    mkdirSync(join(dir, 'ci'));
    for (const v of CT_INSTALL_VARIANTS) cpSync(join(CHART_DIR, 'ci', `${v}-values.yaml`), join(dir, 'ci', `${v}-values.yaml`));
    // Variants that keep SQLite on a 1Gi claim each get a hostPath volume the gateway's user may write (no
    // provisioner on this node; the binder picks these before the loop's larger, root-owned workspace volumes).
    for (const v of CT_INSTALL_VARIANTS) {
      const data = join(home, 'ct-data', v);
      mkdirSync(data, { recursive: true });
      chmodSync(data, 0o777);
      const pv = { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: `realnode-chart-${v}` }, spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain', hostPath: { path: data, type: 'Directory' } } };
      assert.equal(loop.kubectl(['apply', '-f', '-'], JSON.stringify(pv)).status, 0);
    }
    const set = [
      'image.repository=openshell-registry:5000/openshell-gateway', 'image.tag=dev', 'image.pullPolicy=Always',
      'supervisor.image.repository=openshell-registry:5000/openshell-supervisor', 'supervisor.image.tag=dev',
      `tests.image.repository=${testImage.repository}`, `tests.image.tag=${testImage.tag}`,
    ].map((s) => `--set=${s}`).join(' ');
    const t0 = performance.now();
    const r = spawnSync('ct', ['install', '--config', '.ct/ct.yaml', '--chart-dirs', charts, '--charts', dir, '--helm-extra-set-args', set, '--helm-extra-args', '--timeout 300s'], {
      cwd: join(CHART_DIR, '..', '..', '..'),
      encoding: 'utf8',
      timeout: 900_000,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, KUBECONFIG: kc },
    });
    const out = r.stdout + r.stderr;
    console.log(`# ct install (${CT_INSTALL_VARIANTS.length} variants): ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    assert.equal(r.status, 0, out.slice(-8000));
    assert.match(out, /All charts installed successfully/);
    for (const v of CT_INSTALL_VARIANTS) assert.match(out, new RegExp(`Installing chart with values file ".*ci/${v}-values\\.yaml"`), v);
    assert.equal([...out.matchAll(/TEST SUITE:\s+openshell-[a-z0-9]+-test-readyz[\s\S]*?Phase:\s+Succeeded/g)].length, CT_INSTALL_VARIANTS.length, out.slice(-8000));
  });
});
