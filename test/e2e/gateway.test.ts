// k8s:dev:gateway end to end with the REAL openshell-gateway (built from
// ../shared/openshell by .ci/tools/openshell.sh) against the test bed's real
// kube-apiserver (kwok provider) holding the agent-sandbox CRDs: the task
// writes the config upstream's dev gateway writes, the gateway accepts it
// (every table is deny_unknown_fields) and serves, its log shows the driver
// settings the task printed, and Ctrl+C ends both with exit 130. The
// OpenShell checkout is a stand-in directory (the gateway command is the
// prebuilt binary, not `cargo run`).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  describeRun,
  FIXTURE_MANIFEST,
  forceDown,
  freePort,
  kitCopy,
  kubectlOk,
  kwokTaskEnv,
  processesMentioning,
  rmTree,
  runTask,
  tempDir,
  NODE,
  uniqueName,
  waitUntil,
} from '../support/e2e.ts';
import { missingTools } from '../support/requires.ts';
import { parseToml } from '../support/toml.ts';

const bin = process.env.OPENSHELL_TEST_OPENSHELL_BIN;
const skip =
  missingTools('kwokctl', 'kwok', 'etcd', 'kubectl', 'kube-apiserver') ||
  (bin ? false : 'needs the real openshell-gateway (OPENSHELL_TEST_OPENSHELL_BIN: bash .ci/run builds it with .ci/tools/openshell.sh)');
// The real agent-sandbox CRDs where the test bed assembled them (.ci/testbed/realnode.sh), else the fixture's copy.
const manifest = process.env.OPENSHELL_TEST_AGENT_SANDBOX_MANIFEST || FIXTURE_MANIFEST;

const home = tempDir('gateway');
const checkout = join(home, 'openshell');
const env = kwokTaskEnv(home, uniqueName('e2e-gw'), { OPENSHELL_SOURCE_DIR: checkout, OPENSHELL_TELEMETRY_ENABLED: 'false' });
const kc = env.OPENSHELL_DEV_KUBECONFIG!;

before(async () => {
  if (skip) return;
  mkdirSync(join(checkout, 'crates', 'openshell-server'), { recursive: true });
  writeFileSync(join(checkout, 'Cargo.toml'), '[workspace]\nmembers = ["crates/openshell-server"]\n');
  env.OPENSHELL_DEV_GATEWAY_COMMAND = join(bin!, 'openshell-gateway');
  env.OPENSHELL_DEV_GATEWAY_PORT = String(await freePort());
  env.OPENSHELL_SANDBOX_NAMESPACE = 'gw-sandboxes';
  const up = await runTask('up', [], env, { timeoutMs: 180_000 });
  assert.equal(up.code, 0, describeRun(up));
  const crds = readFileSync(manifest, 'utf8')
    .split(/^---\s*$/m)
    .filter((d) => /^kind:\s*CustomResourceDefinition\s*$/m.test(d))
    .join('\n---\n');
  kubectlOk(kc, ['apply', '--server-side', '-f', '-'], crds);
  kubectlOk(kc, ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
});
after(async () => {
  if (!skip) await forceDown(env);
  rmTree(home);
});

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

test('gateway: the real openshell-gateway starts on the config the task writes, with the driver settings it printed; Ctrl+C exits 130 and leaves nothing', { skip, timeout: 300_000 }, async () => {
  const port = Number(env.OPENSHELL_DEV_GATEWAY_PORT);
  const kit = kitCopy();
  const child = spawn(NODE, [join(kit, 'scripts', 'k8s-dev', 'gateway.ts'), '--', '--log-level', 'debug'], { cwd: kit, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const config = join(home, '.cache', 'openshell-k8s-dev', `gateway-${env.OPENSHELL_DEV_CLUSTER}`, 'gateway.toml');
  try {
    await waitUntil('the gateway to listen', 120_000, () => answers(port), 500);
    // It stays up: a refused config or a missing API makes it exit at once.
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(child.exitCode, null, out);
    assert.ok(await answers(port), out);

    const file = parseToml(readFileSync(config, 'utf8')) as { openshell: { drivers: { kubernetes: Record<string, string> } } };
    assert.equal(statSync(config).mode & 0o777, 0o600, 'owner-only: it names key files');
    const k = file.openshell.drivers.kubernetes;
    assert.equal(k.namespace, 'gw-sandboxes');
    assert.equal(k.supervisor_image, 'openshell-registry:5000/openshell-supervisor:dev');
    assert.equal(k.grpc_endpoint, `http://127.0.0.1:${port}`);
    assert.match(k.supervisor_sideload_method!, /^(image-volume|init-container)$/);
    assert.match(out, new RegExp(`namespace gw-sandboxes, grpc_endpoint http://127\\.0\\.0\\.1:${port}`));
    // What the gateway itself says it runs with (its own log lines).
    assert.match(out, /gw-sandboxes/, 'the gateway logs the sandbox namespace it watches');
    kubectlOk(kc, ['get', 'namespace', 'gw-sandboxes']);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- gateway task output ---\n${out.slice(-4000)}`);
  } finally {
    child.kill('SIGINT');
  }
  const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 60_000))]);
  assert.equal(code, 130, out.slice(-3000));
  await waitUntil('the gateway to be gone', 20_000, () => processesMentioning(config).length === 0);
  assert.equal(await answers(port), false, 'nothing listens on the port');
});
