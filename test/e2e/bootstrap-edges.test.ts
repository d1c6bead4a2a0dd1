// bootstrap's edges on a real API server (kwok provider): a sandbox namespace
// other than the gateway's is created (the chart puts objects in it), and an
// edit to the helm command in the script itself upgrades the release on the
// next run instead of being skipped as "up to date".
import assert from 'node:assert/strict';
import { cpSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeRun, forceDown, KIT_ROOT, kubectlOk, kwokTaskEnv, rmTree, runTask, NODE, tempDir, uniqueName } from '../support/e2e.ts';
import { missingTools } from '../support/requires.ts';
import { spawnSync } from 'node:child_process';

// --skip-image-check: no image is pushed, so no registry is needed.
const skip = missingTools('kwokctl', 'kwok', 'etcd', 'kubectl', 'helm', 'kube-apiserver');

describe('bootstrap on kwok: sandbox namespace and the fingerprint of its own commands', { skip, timeout: 600_000 }, () => {
  const home = tempDir('bootstrap-edges');
  const env = kwokTaskEnv(home, uniqueName('e2e-boot'), { OPENSHELL_SANDBOX_NAMESPACE: 'sandboxes' });
  const kc = env.OPENSHELL_DEV_KUBECONFIG!;
  const revision = () => (JSON.parse(spawnSync('helm', ['--kubeconfig', kc, 'status', 'openshell', '-n', 'openshell', '-o', 'json'], { encoding: 'utf8' }).stdout) as { version: number }).version;

  before(async () => {
    const up = await runTask('up', [], env, { timeoutMs: 180_000 });
    assert.equal(up.code, 0, describeRun(up));
  });
  after(async () => {
    await forceDown(env);
    rmTree(home);
  });

  test('OPENSHELL_SANDBOX_NAMESPACE ≠ OPENSHELL_DEV_NAMESPACE: bootstrap creates it, labelled as ours, and installs', async () => {
    const r = await runTask('bootstrap', ['--skip-image-check'], env, { timeoutMs: 300_000 });
    assert.equal(r.code, 0, describeRun(r));
    const ns = JSON.parse(kubectlOk(kc, ['get', 'namespace', 'sandboxes', '-o', 'json'])) as { metadata: { labels: Record<string, string> } };
    assert.equal(ns.metadata.labels['app.kubernetes.io/managed-by'], 'openshell-k8s-dev');
    assert.match(r.stderr, /helm upgrade --install openshell --wait: done in/, 'the helm wait shows progress');
  });

  test('a re-run changes nothing; after an edit to the helm flags in the script, the next run upgrades', async () => {
    const before = revision();
    const same = await runTask('bootstrap', ['--skip-image-check'], env, { timeoutMs: 300_000 });
    assert.equal(same.code, 0, describeRun(same));
    assert.match(same.stderr, /is up to date/);
    assert.equal(revision(), before);

    // A maintainer's edit: a copy of the kit whose bootstrap runs helm with one more flag.
    const kit = join(home, 'kit');
    for (const f of ['package.json', 'scripts', 'deploy', 'skaffold.yaml']) cpSync(join(KIT_ROOT, f), join(kit, f), { recursive: true });
    symlinkSync(join(KIT_ROOT, 'node_modules'), join(kit, 'node_modules'));
    const script = join(kit, 'scripts', 'k8s-dev', 'bootstrap.ts');
    const text = readFileSync(script, 'utf8');
    const edited = text.replace('--wait --timeout ${s.timeoutSec}s`', '--wait --timeout ${s.timeoutSec}s --description edited`');
    assert.notEqual(edited, text, 'the helm command is in the script');
    writeFileSync(script, edited);
    const r = spawnSync(NODE, [script, '--skip-image-check'], { cwd: kit, env, encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /upgrading release openshell/);
    assert.equal(revision(), before + 1);
    const description = (JSON.parse(spawnSync('helm', ['--kubeconfig', kc, 'status', 'openshell', '-n', 'openshell', '-o', 'json'], { encoding: 'utf8' }).stdout) as { info: { description: string } }).info.description;
    assert.equal(description, 'edited');
  });
});
