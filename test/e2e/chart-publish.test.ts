// `mise run k8s:chart:publish` against the test bed's registry (localhost:5000),
// each run under a repository path of its own: the task process pushes the
// chart and prints its digest; `helm pull` of the pushed artifact renders
// byte for byte what the source chart renders (every variant, same values);
// another version and appVersion land in the artifact's Chart.yaml, its
// Artifact Hub images and its render; and `helm install` from the registry
// deploys on a real API server (kwok: simulated nodes, nothing runs; the real
// node runs it in realnode-chart.test.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { CHART_DIR, DEV_VALUES } from '../../scripts/lib/bootstrap.ts';
import { chartMeta } from '../../scripts/lib/chart.ts';
import { templateArgs, VARIANTS } from '../chart/support/helm.ts';
import { runPublish } from '../support/publish.ts';
import { describeRun, forceDown, kubectlOk, kwokClusterWithCrds, rmTree, tempDir, uniqueName, type TaskRun } from '../support/e2e.ts';
import { missingRegistry, missingTools } from '../support/requires.ts';

const REGISTRY_HOST = process.env.OPENSHELL_TEST_REGISTRY ?? 'localhost:5000';
const T = { timeout: 180_000 };

function helm(args: string[], timeoutMs = 120_000) {
  const r = spawnSync('helm', args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 });
  assert.equal(r.status, 0, `helm ${args.join(' ')}:\n${r.stderr || r.stdout}`);
  return r.stdout;
}

/** The manifest digest the registry itself reports for a tag. */
async function registryDigest(repo: string, tag: string): Promise<string | null> {
  const res = await fetch(`http://${REGISTRY_HOST.replace(/^localhost:/, '127.0.0.1:')}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    signal: AbortSignal.timeout(10_000),
  });
  return res.ok ? res.headers.get('docker-content-digest') : null;
}

const skip = missingTools('helm') || (await missingRegistry(REGISTRY_HOST));

describe(`k8s:chart:publish to the test bed's registry (${REGISTRY_HOST})`, { skip }, () => {
  const chart = chartMeta();
  const repo = `openshell-e2e/${uniqueName('charts')}`;
  const registry = `oci://${REGISTRY_HOST}/${repo}`;
  let home = '';
  let published: TaskRun;

  before(async () => {
    home = tempDir('chart-publish');
    published = await runPublish(['--registry', registry, '--version', chart.version, '--app-version', chart.appVersion], home);
  });
  after(() => rmTree(home));

  test('the task pushes the chart and prints its reference and digest, the registry\'s own', T, async () => {
    assert.equal(published.code, 0, describeRun(published));
    const line = published.stdout.trim();
    const m = /^oci:\/\/(\S+):(\S+)@(sha256:[0-9a-f]{64})$/.exec(line);
    assert.ok(m, `stdout is oci://<ref>:<version>@<digest>: ${JSON.stringify(line)}`);
    assert.equal(m[1], `${REGISTRY_HOST}/${repo}/${chart.name}`);
    assert.equal(m[2], chart.version);
    assert.equal(m[3], await registryDigest(`${repo}/${chart.name}`, chart.version));
    assert.match(published.stderr, new RegExp(`pushed .* \\(digest ${m[3]}\\)`));
  });

  test('helm pull of the pushed chart (by tag and by digest) renders byte for byte what the source renders, for every variant', T, () => {
    const digest = /@(sha256:[0-9a-f]{64})$/.exec(published.stdout.trim())![1]!;
    const pulled = join(home, 'pulled');
    const byDigest = join(home, 'by-digest');
    for (const d of [pulled, byDigest]) mkdirSync(d);
    helm(['pull', `${registry}/${chart.name}`, '--version', chart.version, '--plain-http', '--destination', pulled]);
    const tgz = join(pulled, `${chart.name}-${chart.version}.tgz`);
    assert.deepEqual(readdirSync(pulled), [`${chart.name}-${chart.version}.tgz`]);
    helm(['pull', `${registry}/${chart.name}@${digest}`, '--plain-http', '--destination', byDigest]);
    assert.equal(readdirSync(byDigest).length, 1);
    assert.ok(Object.keys(VARIANTS).length >= 7);
    // The one random value in a render is the credential key the chart generates when no Secret is named
    // (two renders of the source differ there too): both renders name one.
    const kek = ['--set', 'credentialStorage.existingSecret=openshell-kek'];
    for (const [variant, args] of Object.entries(VARIANTS)) {
      for (const source of [tgz, join(byDigest, readdirSync(byDigest)[0]!)]) {
        assert.ok(templateArgs(args).includes(CHART_DIR), 'the source render is of deploy/helm/openshell');
        const fromSource = helm(templateArgs([...args, ...kek]));
        const fromRegistry = helm(templateArgs([...args, ...kek]).map((a) => (a === CHART_DIR ? source : a)));
        assert.ok(fromSource.length > 1000, variant);
        assert.equal(fromRegistry, fromSource, `${variant}: the published chart renders differently`);
      }
    }
  });

  test('another version and appVersion: the artifact\'s Chart.yaml, Artifact Hub images and rendered image tags follow them', T, async () => {
    const r = await runPublish(['--registry', registry, '--version', '0.0.0-e2e.1', '--app-version', '9.8.7'], home);
    assert.equal(r.code, 0, describeRun(r));
    const shown = parse(helm(['show', 'chart', `${registry}/${chart.name}`, '--version', '0.0.0-e2e.1', '--plain-http'])) as { version: string; appVersion: string; annotations: Record<string, string> };
    assert.equal(shown.version, '0.0.0-e2e.1');
    assert.equal(shown.appVersion, '9.8.7');
    assert.deepEqual(
      (parse(shown.annotations['artifacthub.io/images']!) as { image: string }[]).map((i) => i.image),
      chart.images.map((i) => i.image.replace(`:${chart.appVersion}`, ':9.8.7')),
    );
    const out = helm(['template', 'openshell', `${registry}/${chart.name}`, '--version', '0.0.0-e2e.1', '--plain-http', '--api-versions', 'agents.x-k8s.io/v1beta1']);
    assert.match(out, /image: "ghcr\.io\/nvidia\/openshell\/gateway:9\.8\.7"/);
    assert.match(out, /helm\.sh\/chart: openshell-0\.0\.0-e2e\.1/);
    // The source chart is untouched.
    assert.equal(chartMeta().appVersion, chart.appVersion);
  });

  test('bad input is exit 2 naming the flag or setting, its value and what is allowed; nothing is pushed', T, async () => {
    for (const [args, extra, want] of [
      [['--registry', registry, '--version', 'v1.0'], {}, /--version "v1\.0" is not valid: must be a SemVer 2 version/],
      [['--registry', registry, '--app-version', 'latest'], {}, /--app-version "latest" is not valid: must be a SemVer version/],
      [['--registry', 'https://ghcr.io/x'], {}, /--registry "https:\/\/ghcr\.io\/x" is not valid: must be oci:\/\/<host>/],
      [['--registry', registry], { OPENSHELL_CHART_VERSION: '1' }, /OPENSHELL_CHART_VERSION="1" is not valid: must be a SemVer 2 version/],
    ] as const) {
      const r = await runPublish([...args], home, extra);
      assert.equal(r.code, 2, describeRun(r));
      assert.match(r.stderr, want);
      assert.doesNotMatch(r.stderr, /pushing/);
    }
  });
});

describe('helm install from the pushed artifact (kwok: a real API server, simulated nodes)', { skip: skip || missingTools('kwokctl', 'kwok', 'etcd', 'kubectl', 'kube-apiserver') }, () => {
  const chart = chartMeta();
  const repo = `openshell-e2e/${uniqueName('install')}`;
  let home = '';
  let env: NodeJS.ProcessEnv = {};
  let kc = '';

  before(async () => {
    ({ home, kc, env } = await kwokClusterWithCrds('chart-install'));
  });
  after(async () => {
    if (home) await forceDown(env);
    rmTree(home);
  });

  test('publish, then helm install oci://… --version: the release is deployed from the artifact and its gateway rolls out', T, async () => {
    const r = await runPublish(['--registry', `oci://${REGISTRY_HOST}/${repo}`, '--version', chart.version], home);
    assert.equal(r.code, 0, describeRun(r));
    const ref = `oci://${REGISTRY_HOST}/${repo}/${chart.name}`;
    helm(['--kubeconfig', kc, 'install', 'openshell', ref, '--version', chart.version, '--plain-http', '-n', 'openshell', '--create-namespace', '-f', DEV_VALUES, '--wait', '--timeout', '120s'], 150_000);
    const list = JSON.parse(helm(['--kubeconfig', kc, 'list', '-n', 'openshell', '-o', 'json'])) as { name: string; chart: string; status: string; app_version: string }[];
    assert.deepEqual(list.map((x) => [x.name, x.chart, x.status, x.app_version]), [['openshell', `${chart.name}-${chart.version}`, 'deployed', chart.appVersion]]);
    const ready = kubectlOk(kc, ['-n', 'openshell', 'get', 'statefulset', 'openshell-gateway', '-o', 'jsonpath={.status.readyReplicas}']);
    assert.equal(ready, '1');
    // The release's manifest is the pushed chart's: the test hook is in it, as in the source.
    const hooks = helm(['--kubeconfig', kc, 'get', 'hooks', 'openshell', '-n', 'openshell']);
    assert.match(hooks, /name: openshell-test-readyz/);
  });
});
