// k8s:dev:watch end to end on the test bed (kwok provider, real skaffold,
// helm, Docker and registry): `skaffold dev` through the task deploys the chart
// with the dev images, pushed to the repositories `sync` pushes to; a change to
// a staged binary triggers a rebuild, push and rollout; Ctrl+C leaves no
// release and no process behind. Stand-ins: busybox for the gateway and
// supervisor binaries, and the gateway image built FROM scratch (no base image
// can be pulled here: OPENSHELL_DEV_GATEWAY_BASE_IMAGE=scratch) in a copy of the kit.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  describeRun,
  fixtureBinary,
  FIXTURE_MANIFEST,
  forceDown,
  KIT_ROOT,
  kubectl,
  kubectlOk,
  kwokTaskEnv,
  missingBusybox,
  missingPrivateRegistry,
  processesMentioning,
  rmTree,
  runTask,
  startPrivateRegistry,
  NODE,
  tempDir,
  uniqueName,
  waitUntil,
  type PrivateRegistry,
} from '../support/e2e.ts';
import { missingDocker, missingTools } from '../support/requires.ts';

const skip =
  missingTools('skaffold', 'kwokctl', 'kwok', 'etcd', 'kubectl', 'helm', 'kube-apiserver') || missingDocker() || missingBusybox() || missingPrivateRegistry();

const home = tempDir('watch');
const env = kwokTaskEnv(home, uniqueName('e2e-watch'), { SKAFFOLD_UPDATE_CHECK: 'false' });
const kc = env.OPENSHELL_DEV_KUBECONFIG!;
const kit = join(home, 'kit');
let registry: PrivateRegistry | undefined;
let host = '';

before(async () => {
  if (skip) return;
  registry = await startPrivateRegistry(join(home, 'registry'));
  env.OPENSHELL_DEV_REGISTRY_PORT = String(registry.port);
  host = registry.host;
  const up = await runTask('up', [], env, { timeoutMs: 180_000 });
  assert.equal(up.code, 0, describeRun(up));
  kubectlOk(kc, ['apply', '--server-side', '-f', '-'], readFileSync(FIXTURE_MANIFEST, 'utf8'));
  kubectlOk(kc, ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  // The kit, copied: its own .build/bin (kwokTaskEnv sets OPENSHELL_DEV_GATEWAY_BASE_IMAGE=scratch).
  for (const f of ['package.json', 'scripts', 'deploy', 'skaffold', 'skaffold.yaml']) cpSync(join(KIT_ROOT, f), join(kit, f), { recursive: true });
  symlinkSync(join(KIT_ROOT, 'node_modules'), join(kit, 'node_modules'));
  mkdirSync(join(kit, '.build', 'bin'), { recursive: true });
  for (const bin of ['openshell-gateway', 'openshell-sandbox']) cpSync(fixtureBinary(join(home, 'bin'), bin), join(kit, '.build', 'bin', bin));
});
after(async () => {
  if (!skip) await forceDown(env);
  await registry?.stop();
  rmTree(home);
});

const gatewayImage = () => {
  const r = kubectl(kc, ['-n', 'openshell', 'get', 'deploy,statefulset', '-l', 'app.kubernetes.io/component=gateway', '-o', 'jsonpath={.items[*].spec.template.spec.containers[0].image}']);
  return r.status === 0 ? r.stdout.trim() : '';
};

test('watch: skaffold dev deploys the dev images, a binary change rolls out, Ctrl+C leaves no release and no process', { skip, timeout: 900_000 }, async () => {
  const child = spawn(NODE, [join(kit, 'scripts', 'k8s-dev', 'watch.ts')], { cwd: kit, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  try {
    // First deploy: the gateway runs the image skaffold pushed to <registry>/openshell-gateway (sync's repository).
    await waitUntil('the first deploy', 300_000, () => gatewayImage().startsWith(`${host}/openshell-gateway:`) && /Deployments stabilized|Press Ctrl\+C to exit|Watching for changes/.test(out), 1000);
    const first = gatewayImage();
    const tag = first.split(':').pop()!;
    const head = await fetch(`http://${host}/v2/openshell-gateway/manifests/${tag}`, { method: 'HEAD', headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(head.status, 200, `the tag skaffold deployed is in sync's repository\n${out.slice(-3000)}`);

    // A source change: the staged gateway binary changes; skaffold rebuilds, pushes, upgrades.
    appendFileSync(join(kit, '.build', 'bin', 'openshell-gateway'), Buffer.from('changed'));
    await waitUntil('the rollout of the rebuilt gateway', 300_000, () => {
      const now = gatewayImage();
      return now !== first && now.startsWith(`${host}/openshell-gateway:`);
    }, 1000);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- watch output ---\n${out.slice(-4000)}`);
  } finally {
    // Ctrl+C: skaffold deletes what it deployed; the task waits, then exits 130.
    child.kill('SIGINT');
  }
  const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 120_000))]);
  assert.equal(code, 130, out.slice(-3000));
  const releases = spawnSync('helm', ['--kubeconfig', kc, 'list', '-A', '-q'], { encoding: 'utf8' }).stdout.trim();
  assert.equal(releases, '', 'no release left');
  assert.deepEqual(processesMentioning(join(kit, 'skaffold.yaml')), [], 'no skaffold left');
  assert.deepEqual(processesMentioning(join(kit, 'scripts')), [], 'no task process left');
});
