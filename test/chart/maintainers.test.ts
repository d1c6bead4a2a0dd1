// What chart maintainers' tooling reads: Chart.yaml's maintainers and Artifact
// Hub annotations, the `helm test` hook, and chart-testing's `ct lint` (the
// binary built from its Go module by .ci/tools/build.sh, with .ct/ct.yaml)
// over every ci/*-values.yaml.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { missingTools } from '../support/requires.ts';
import { CI_VARIANTS, chartDir, find, render, repoRoot, restrictedViolations, VARIANTS, type K8sObject, type PodSpec } from './support/helm.ts';

interface ChartYaml {
  version: string;
  appVersion: string;
  maintainers?: { name: string; email?: string; url?: string }[];
  annotations?: Record<string, string>;
}
const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as ChartYaml;
const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as { image: { repository: string }; supervisor: { image: { repository: string } } };

describe('Chart.yaml: maintainers and Artifact Hub annotations', () => {
  test('maintainers name someone to reach', () => {
    assert.ok(chart.maintainers && chart.maintainers.length > 0, 'maintainers');
    for (const m of chart.maintainers) assert.ok(m.name && (m.email || m.url), JSON.stringify(m));
  });

  test('artifacthub.io/images lists the gateway and supervisor images at the appVersion', () => {
    const images = parse(chart.annotations?.['artifacthub.io/images'] ?? '') as { name: string; image: string }[];
    assert.deepEqual(images, [
      { name: 'gateway', image: `${values.image.repository}:${chart.appVersion}` },
      { name: 'supervisor', image: `${values.supervisor.image.repository}:${chart.appVersion}` },
    ]);
  });

  test('artifacthub.io/license, links and changes are what Artifact Hub parses', () => {
    assert.equal(chart.annotations?.['artifacthub.io/license'], 'Apache-2.0', 'the upstream LICENSE (SPDX id)');
    const links = parse(chart.annotations?.['artifacthub.io/links'] ?? '') as { name: string; url: string }[];
    assert.ok(links.length > 0);
    for (const l of links) assert.match(l.url, /^https:\/\//, l.name);
    const changes = parse(chart.annotations?.['artifacthub.io/changes'] ?? '') as { kind: string; description: string }[];
    assert.ok(changes.length > 0);
    for (const c of changes) {
      assert.ok(['added', 'changed', 'deprecated', 'removed', 'fixed', 'security'].includes(c.kind), c.kind);
      assert.ok(c.description.length > 10, c.description);
    }
  });
});

const skip = missingTools('helm');
const testPod = (objs: K8sObject[]) => find(objs, 'Pod', 'openshell-test-readyz') as K8sObject & { spec: PodSpec };

describe('helm test hook (templates/tests/readyz.yaml)', { skip }, () => {
  for (const [variant, args] of Object.entries(VARIANTS)) {
    test(`${variant}: a test pod asks /readyz on the health port through the gateway Service, under the restricted standard`, async () => {
      const objs = await render(args);
      const pod = testPod(objs);
      assert.equal(pod.metadata.annotations?.['helm.sh/hook'], 'test');
      assert.equal(pod.spec.restartPolicy, 'Never');
      assert.equal(pod.spec.automountServiceAccountToken, false);
      assert.deepEqual(restrictedViolations(pod.spec), []);
      const svc = find(objs, 'Service', 'openshell-gateway') as K8sObject & { spec: { ports: { name: string; port: number }[] } };
      const health = svc.spec.ports.find((p) => p.name === 'health')!.port;
      const cmd = pod.spec.containers[0]!.command as string[];
      assert.equal(cmd[0], 'wget');
      assert.equal(cmd.at(-1), `http://openshell-gateway.openshell.svc:${health}/readyz`);
    });
  }

  test('the image, its digest, the timeout and the port are values; tests.enabled=false drops the pod', async () => {
    const pod = testPod(await render(['--set', 'tests.image.repository=localhost:5000/bb', '--set', 'tests.image.tag=t1', '--set', 'tests.timeoutSeconds=3', '--set', 'service.ports.health=9444']));
    const c = pod.spec.containers[0]!;
    assert.equal(c.image, 'localhost:5000/bb:t1');
    assert.deepEqual(c.command, ['wget', '-q', '-O', '-', 'http://openshell-gateway.openshell.svc:9444/readyz']);
    assert.equal(pod.spec.activeDeadlineSeconds, 3);
    const digest = `sha256:${'a'.repeat(64)}`;
    assert.equal(testPod(await render(['--set', `tests.image.digest=${digest}`])).spec.containers[0]!.image, `docker.io/library/busybox@${digest}`);
    const none = await render(['--set', 'tests.enabled=false']);
    assert.equal(none.filter((o) => o.metadata.annotations?.['helm.sh/hook'] === 'test').length, 0);
  });
});

/** Run a command in the repository root; resolves with its exit code and output. */
function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024, timeout: 180_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr });
    });
  });
}

describe('chart-testing: ct lint', { skip: missingTools('ct', 'yamale', 'yamllint', 'helm') }, () => {
  test('ct lint --charts deploy/helm/openshell passes and lints the chart with every ci/*-values.yaml', { timeout: 180_000 }, async () => {
    // As a maintainer runs it from the repository root: ct finds .ct/ct.yaml itself (its schema path below comes from there).
    const r = await run('ct', ['lint', '--charts', 'deploy/helm/openshell', '--debug']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /All charts linted successfully/);
    // Chart.yaml against the schema (yamale), then yamllint on it and on every values file.
    assert.match(r.out, />>> yamale --schema \.ct\/chart_schema\.yaml deploy\/helm\/openshell\/Chart\.yaml/);
    const linted = [...r.out.matchAll(/>>> helm lint deploy\/helm\/openshell --values deploy\/helm\/openshell\/ci\/(\S+)/g)].map((m) => m[1]);
    const yamllinted = [...r.out.matchAll(/>>> yamllint --config-file \.ct\/lintconf\.yaml deploy\/helm\/openshell\/(\S+)/g)].map((m) => m[1]);
    const ciFiles = Object.values(CI_VARIANTS).map((f) => f.split('/').pop()!).sort();
    assert.ok(ciFiles.length >= 7, ciFiles.join(' '));
    assert.deepEqual([...linted].sort(), ciFiles, 'helm lint ran once per ci/*-values.yaml');
    assert.deepEqual([...yamllinted].sort(), ['Chart.yaml', 'values.yaml', ...ciFiles.map((f) => `ci/${f}`)].sort());
  });

  test('the Chart.yaml schema ct lint applies (yamale) refuses a chart without maintainers', { timeout: 60_000 }, async () => {
    const r = await run('yamale', ['--schema', '.ct/chart_schema.yaml', join('test', 'fixtures', 'chart-yaml', 'no-maintainers.yaml')]);
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /maintainers: Required field missing/);
    const ok = await run('yamale', ['--schema', '.ct/chart_schema.yaml', 'deploy/helm/openshell/Chart.yaml']);
    assert.equal(ok.code, 0, ok.out);
  });
});
