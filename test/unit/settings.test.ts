// Settings: defaults, then .env, then the environment, each value validated
// with a message naming the setting, the bad value and what is allowed; and
// the same through a real task process (exit 2).
import assert from 'node:assert/strict';
import { builtBinaryPath } from '../../scripts/lib/source.ts';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { K3S_IMAGE, KIT_ROOT, kubeNames, loadSettings, rawSettings, SETTINGS, SettingsError } from '../../scripts/lib/settings.ts';
import { settingsTable, withTable } from '../../scripts/settings-table.ts';
import { kubeBinDir } from '../../scripts/testbed/kwok-provider.ts';
import { pinSettings } from '../support/settings-env.ts';

const work = mkdtempSync(join(tmpdir(), 'openshell-settings-unit-'));
after(() => rmSync(work, { recursive: true, force: true }));
const noDotenv = mkdtempSync(join(work, 'root-'));
const home = join(work, 'home');
mkdirSync(home);

const load = (env: NodeJS.ProcessEnv, root = noDotenv) => loadSettings({ env: { PATH: '/nonexistent', ...env }, root, home });

/** The kwok provider's OPENSHELL_DEV_KUBE_BIN_DIR: the setting, else kube-apiserver's directory on PATH. */
const kubeBins = (env: NodeJS.ProcessEnv) => kubeBinDir(load(env), { PATH: '/nonexistent', ...env });
function kubeBinRejects(env: NodeJS.ProcessEnv, ...patterns: RegExp[]) {
  assert.throws(
    () => kubeBins(env),
    (err: Error) => err instanceof SettingsError && err.exitCode === 2 && patterns.every((p) => p.test(err.message)),
  );
}

function rejects(env: NodeJS.ProcessEnv, ...patterns: RegExp[]) {
  assert.throws(
    () => load(env),
    (err: Error) => {
      assert.ok(err instanceof SettingsError, `expected a SettingsError, got ${err}`);
      assert.equal(err.exitCode, 2);
      for (const p of patterns) assert.match(err.message, p);
      return true;
    },
  );
}

test('defaults are the seed\'s names', () => {
  const s = load({});
  assert.equal(s.cluster, 'openshell-dev');
  assert.equal(s.provider, 'k3d');
  assert.equal(s.agents, 1);
  assert.equal(s.httpPort, 8080);
  assert.equal(s.registryPort, 5000);
  assert.equal(s.registryName, 'openshell-registry');
  assert.equal(s.kubeconfig, join(home, '.kube', 'k3d-openshell-dev.yaml'));
  assert.equal(s.mergeKubeconfig, false);
  assert.equal(s.engine, undefined);
  assert.equal(s.sideloadMethod, undefined);
  assert.equal(s.sourceDir, undefined);
  assert.equal(s.k3sImage, K3S_IMAGE);
  assert.equal(s.namespace, 'openshell');
  assert.equal(s.sandboxNamespace, 'openshell');
  assert.equal(s.timeoutSec, 300);
  assert.equal(s.kwokDir, join(home, '.kwok'));
  assert.deepEqual(kubeNames(s), { context: 'k3d-openshell-dev', cluster: 'k3d-openshell-dev', user: 'admin@k3d-openshell-dev' });
  assert.ok(Object.values(s.origin).every((o) => o === 'default'));
  assert.deepEqual(Object.keys(s.origin).sort(), SETTINGS.map((x) => x.name).sort());
});

test('.env beats the defaults, the environment beats .env; origins are recorded', () => {
  const root = mkdtempSync(join(work, 'dotenv-'));
  writeFileSync(join(root, '.env'), '# local overrides\nOPENSHELL_DEV_CLUSTER=from-dotenv\nOPENSHELL_DEV_AGENTS=3\nOPENSHELL_DEV_HTTP_PORT="9090"\n');
  const s = load({ OPENSHELL_DEV_AGENTS: '0' }, root);
  assert.equal(s.cluster, 'from-dotenv');
  assert.equal(s.httpPort, 9090);
  assert.equal(s.agents, 0);
  assert.equal(s.origin.OPENSHELL_DEV_CLUSTER, '.env');
  assert.equal(s.origin.OPENSHELL_DEV_HTTP_PORT, '.env');
  assert.equal(s.origin.OPENSHELL_DEV_AGENTS, 'environment');
  assert.equal(s.origin.OPENSHELL_DEV_REGISTRY_PORT, 'default');
  // An empty value in the environment is still the environment's (it clears a .env value).
  assert.equal(load({ OPENSHELL_DEV_CLUSTER: 'x', CONTAINER_ENGINE: '' }, root).origin.CONTAINER_ENGINE, 'environment');
  // A bad value from .env is reported like one from the environment.
  writeFileSync(join(root, '.env'), 'OPENSHELL_DEV_HTTP_PORT=eighty\n');
  assert.throws(() => load({}, root), /OPENSHELL_DEV_HTTP_PORT="eighty"/);
});

describe('validation names the setting, the value and what is allowed', () => {
  test('a 40-character cluster name', () => {
    const name = 'a'.repeat(40);
    rejects({ OPENSHELL_DEV_CLUSTER: name }, /OPENSHELL_DEV_CLUSTER/, new RegExp(`"${name}"`), /at most 32 characters/);
    assert.equal(load({ OPENSHELL_DEV_CLUSTER: 'a'.repeat(32) }).cluster.length, 32);
  });
  test('cluster names that are not DNS labels', () => {
    for (const v of ['Dev', 'dev_1', '-dev', 'dev-', '']) rejects({ OPENSHELL_DEV_CLUSTER: v }, /OPENSHELL_DEV_CLUSTER/, /lowercase letters, digits and '-'/);
  });
  for (const v of ['abc', '0', '70000', '-1', '80.5', ' ']) {
    test(`OPENSHELL_DEV_HTTP_PORT=${JSON.stringify(v)}`, () => rejects({ OPENSHELL_DEV_HTTP_PORT: v }, /OPENSHELL_DEV_HTTP_PORT/, new RegExp(JSON.stringify(v).replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')), /TCP port number \(1–65535\)/));
  }
  test('ports at the edges are fine', () => {
    assert.equal(load({ OPENSHELL_DEV_HTTP_PORT: '1' }).httpPort, 1);
    assert.equal(load({ OPENSHELL_DEV_HTTP_PORT: '65535' }).httpPort, 65535);
  });
  test('the same HTTP and registry port', () => {
    rejects({ OPENSHELL_DEV_HTTP_PORT: '5000' }, /OPENSHELL_DEV_REGISTRY_PORT="5000"/, /must differ from OPENSHELL_DEV_HTTP_PORT \(5000\)/);
  });
  test('agents out of range', () => rejects({ OPENSHELL_DEV_AGENTS: '10' }, /OPENSHELL_DEV_AGENTS="10"/, /0–9/));
  test('a bad provider names the allowed values', () => rejects({ OPENSHELL_DEV_CLUSTER_PROVIDER: 'kind' }, /OPENSHELL_DEV_CLUSTER_PROVIDER="kind"/, /allowed values are k3d, kwok, existing/));
  test('a bad engine names the allowed values', () => {
    rejects({ CONTAINER_ENGINE: 'containerd' }, /CONTAINER_ENGINE="containerd"/, /allowed values are docker, podman, or empty/);
    assert.equal(load({ CONTAINER_ENGINE: 'podman' }).engine, 'podman');
    assert.equal(load({ CONTAINER_ENGINE: ' docker ' }).engine, 'docker');
  });
  test('a bad sideload method names the allowed values', () => {
    rejects({ OPENSHELL_SUPERVISOR_SIDELOAD_METHOD: 'hostPath' }, /OPENSHELL_SUPERVISOR_SIDELOAD_METHOD="hostPath"/, /allowed values are image-volume, init-container, or empty/);
    assert.equal(load({ OPENSHELL_SUPERVISOR_SIDELOAD_METHOD: 'init-container' }).sideloadMethod, 'init-container');
  });
  test('booleans', () => {
    assert.equal(load({ OPENSHELL_DEV_MERGE_KUBECONFIG: 'yes' }).mergeKubeconfig, true);
    assert.equal(load({ OPENSHELL_DEV_MERGE_KUBECONFIG: 'OFF' }).mergeKubeconfig, false);
    rejects({ OPENSHELL_DEV_MERGE_KUBECONFIG: 'maybe' }, /OPENSHELL_DEV_MERGE_KUBECONFIG="maybe"/, /true or false/);
  });
  test('~ in the kubeconfig path is the home directory; a directory is refused', () => {
    assert.equal(load({ OPENSHELL_DEV_KUBECONFIG: '~/k/dev.yaml' }).kubeconfig, join(home, 'k', 'dev.yaml'));
    assert.equal(load({ OPENSHELL_DEV_KUBECONFIG: '/abs/dev.yaml' }).kubeconfig, '/abs/dev.yaml');
    rejects({ OPENSHELL_DEV_KUBECONFIG: '~' }, /OPENSHELL_DEV_KUBECONFIG="~"/, /path of a file/);
    rejects({ OPENSHELL_DEV_KUBECONFIG: '' }, /OPENSHELL_DEV_KUBECONFIG/);
  });
  test('a missing OPENSHELL_SOURCE_DIR', () => {
    const missing = join(work, 'no-such-checkout');
    rejects({ OPENSHELL_SOURCE_DIR: missing }, /OPENSHELL_SOURCE_DIR/, new RegExp(missing), /existing directory/);
    assert.equal(load({ OPENSHELL_SOURCE_DIR: '~' }).sourceDir, home);
  });
  test('agent-sandbox version and manifest', () => {
    rejects({ OPENSHELL_DEV_AGENT_SANDBOX_VERSION: '0.5.5' }, /OPENSHELL_DEV_AGENT_SANDBOX_VERSION="0.5.5"/, /v0\.5\.5/);
    rejects({ OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST: join(work, 'none.yaml') }, /OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST/, /http\(s\) URL or an existing file/);
    assert.match(load({}).agentSandboxManifest, /agent-sandbox\/releases\/download\/v\d+\.\d+\.\d+\/manifest\.yaml$/);
  });
  test('image, timeout, selector', () => {
    rejects({ OPENSHELL_DEV_K3S_IMAGE: 'rancher/k3s' }, /OPENSHELL_DEV_K3S_IMAGE/, /with a tag/);
    rejects({ OPENSHELL_DEV_TIMEOUT: '0' }, /OPENSHELL_DEV_TIMEOUT="0"/);
    rejects({ OPENSHELL_DEV_SANDBOX_SELECTOR: '' }, /OPENSHELL_DEV_SANDBOX_SELECTOR/, /non-empty/);
    assert.equal(load({ OPENSHELL_DEV_SANDBOX_SELECTOR: 'app in (a,b),tier!=x' }).sandboxSelector, 'app in (a,b),tier!=x');
  });
});

describe('validators that only a test of their own keeps honest', () => {
  test('OPENSHELL_DEV_GATEWAY_BASE_IMAGE: an image reference, scratch, or empty for the Dockerfile\'s', () => {
    assert.equal(load({}).gatewayBaseImage, undefined);
    assert.equal(load({ OPENSHELL_DEV_GATEWAY_BASE_IMAGE: '  ' }).gatewayBaseImage, undefined);
    assert.equal(load({ OPENSHELL_DEV_GATEWAY_BASE_IMAGE: 'scratch' }).gatewayBaseImage, 'scratch');
    assert.equal(load({ OPENSHELL_DEV_GATEWAY_BASE_IMAGE: ' gcr.io/distroless/cc-debian12:nonroot ' }).gatewayBaseImage, 'gcr.io/distroless/cc-debian12:nonroot');
    assert.equal(load({ OPENSHELL_DEV_GATEWAY_BASE_IMAGE: 'debian@sha256:0123abcd' }).gatewayBaseImage, 'debian@sha256:0123abcd');
    for (const v of ['debian bookworm', 'debian;rm -rf /', '$(id)', 'img"quoted"']) {
      rejects({ OPENSHELL_DEV_GATEWAY_BASE_IMAGE: v }, /OPENSHELL_DEV_GATEWAY_BASE_IMAGE=/, /must be an image reference \(or scratch\), or empty for the Dockerfile default/);
    }
  });

  test('OPENSHELL_DEV_RELEASE: a DNS label of at most 53 characters (Helm\'s limit)', () => {
    assert.equal(load({}).release, 'openshell');
    assert.equal(load({ OPENSHELL_DEV_RELEASE: 'dev-1' }).release, 'dev-1');
    assert.equal(load({ OPENSHELL_DEV_RELEASE: 'r'.repeat(53) }).release, 'r'.repeat(53));
    rejects({ OPENSHELL_DEV_RELEASE: 'r'.repeat(54) }, new RegExp(`OPENSHELL_DEV_RELEASE="${'r'.repeat(54)}"`), /at most 53 characters/);
    for (const v of ['Openshell', 'open_shell', '-x', '']) rejects({ OPENSHELL_DEV_RELEASE: v }, /OPENSHELL_DEV_RELEASE=/, /lowercase letters, digits and '-'/);
  });

  test('namespaces: DNS labels of at most 63 characters', () => {
    assert.equal(load({ OPENSHELL_DEV_NAMESPACE: 'gw', OPENSHELL_SANDBOX_NAMESPACE: 'sb' }).namespace, 'gw');
    assert.equal(load({ OPENSHELL_SANDBOX_NAMESPACE: 'sb' }).sandboxNamespace, 'sb');
    assert.equal(load({ OPENSHELL_DEV_NAMESPACE: 'n'.repeat(63) }).namespace, 'n'.repeat(63));
    for (const name of ['OPENSHELL_DEV_NAMESPACE', 'OPENSHELL_SANDBOX_NAMESPACE']) {
      for (const v of ['Open', 'open.shell', 'ns_1', 'n'.repeat(64), '']) rejects({ [name]: v }, new RegExp(`${name}=`), /at most 63 characters/);
    }
    rejects({ OPENSHELL_DEV_REGISTRY_NAME: 'Registry' }, /OPENSHELL_DEV_REGISTRY_NAME="Registry"/);
  });

  test('the gateway, gateway build and supervisor build commands: trimmed, never empty', () => {
    const d = load({});
    assert.equal(d.gatewayCommand, 'cargo run -p openshell-server --');
    assert.equal(d.gatewayBuildCommand, 'cargo build --release -p openshell-server --features bundled-z3');
    // Static (the supervisor runs inside any sandbox image), with +crt-static on the final link only,
    // so it reuses the gateway build's crates; the binary lands where sync and sideload look for it.
    assert.equal(d.supervisorBuildCommand, 'cargo rustc --release -p openshell-sandbox --bin openshell-sandbox -- -C target-feature=+crt-static');
    assert.equal(builtBinaryPath('/src', d.supervisorBuildCommand, 'openshell-sandbox'), '/src/target/release/openshell-sandbox');
    const s = load({ OPENSHELL_DEV_GATEWAY_COMMAND: ' ./gw --port 1 ', OPENSHELL_DEV_GATEWAY_BUILD_COMMAND: ' make gw ', OPENSHELL_DEV_SUPERVISOR_BUILD_COMMAND: ' make sv ' });
    assert.deepEqual([s.gatewayCommand, s.gatewayBuildCommand, s.supervisorBuildCommand], ['./gw --port 1', 'make gw', 'make sv']);
    assert.equal(s.origin.OPENSHELL_DEV_GATEWAY_COMMAND, 'environment');
    for (const name of ['OPENSHELL_DEV_GATEWAY_COMMAND', 'OPENSHELL_DEV_GATEWAY_BUILD_COMMAND', 'OPENSHELL_DEV_SUPERVISOR_BUILD_COMMAND']) {
      for (const v of ['', '   ']) rejects({ [name]: v }, new RegExp(`${name}="" is not valid: must be a command line`));
    }
  });

  test('OPENSHELL_DEV_CONTEXT: empty by default (the current context), trimmed', () => {
    assert.equal(load({}).context, '');
    assert.equal(load({ OPENSHELL_DEV_CONTEXT: ' prod-admin ' }).context, 'prod-admin');
    assert.equal(load({ OPENSHELL_DEV_CONTEXT: 'kind-kind' }).origin.OPENSHELL_DEV_CONTEXT, 'environment');
  });

  test('OPENSHELL_DEV_KWOK_DIR: a directory, created if absent; a file or empty is refused', () => {
    assert.equal(load({ OPENSHELL_DEV_KWOK_DIR: '~/kw' }).kwokDir, join(home, 'kw'));
    const dir = mkdtempSync(join(work, 'kwok-'));
    assert.equal(load({ OPENSHELL_DEV_KWOK_DIR: dir }).kwokDir, dir);
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    rejects({ OPENSHELL_DEV_KWOK_DIR: file }, new RegExp(`OPENSHELL_DEV_KWOK_DIR="${file}"`), /must be the path of a directory \(it is created if absent\)/);
    rejects({ OPENSHELL_DEV_KWOK_DIR: ' ' }, /OPENSHELL_DEV_KWOK_DIR/, /path of a directory/);
  });

  test('OPENSHELL_DEV_KUBE_BIN_DIR: a directory holding the three control-plane binaries', () => {
    const dir = mkdtempSync(join(work, 'kubebin-'));
    for (const b of ['kube-apiserver', 'kube-controller-manager']) {
      writeFileSync(join(dir, b), '#!/bin/sh\n');
      chmodSync(join(dir, b), 0o755);
    }
    // Checked by the kwok provider (test bed), only when it is used.
    kubeBinRejects({ OPENSHELL_DEV_KUBE_BIN_DIR: dir }, /OPENSHELL_DEV_KUBE_BIN_DIR/, /missing: kube-scheduler/);
    writeFileSync(join(dir, 'kube-scheduler'), '#!/bin/sh\n');
    chmodSync(join(dir, 'kube-scheduler'), 0o755);
    assert.equal(kubeBins({ OPENSHELL_DEV_KUBE_BIN_DIR: dir }), dir);
    assert.equal(kubeBins({ PATH: ['/nonexistent', dir].join(':') }), dir, 'found on PATH');
    assert.equal(kubeBins({}), undefined);
  });
});

describe('every accepted spelling and every edge', () => {
  test('booleans: 1 true yes on / empty 0 false no off, any case and padding', () => {
    for (const v of ['1', 'true', 'yes', 'on', ' TRUE ', 'On']) assert.equal(load({ OPENSHELL_DEV_MERGE_KUBECONFIG: v }).mergeKubeconfig, true, v);
    for (const v of ['', '0', 'false', 'no', 'off', ' No ']) assert.equal(load({ OPENSHELL_DEV_MERGE_KUBECONFIG: v }).mergeKubeconfig, false, v);
    rejects({ OPENSHELL_DEV_MERGE_KUBECONFIG: 'y' }, /must be true or false/);
  });

  test('whole numbers at both edges of their ranges, padded or not', () => {
    assert.equal(load({ OPENSHELL_DEV_AGENTS: '9' }).agents, 9);
    assert.equal(load({ OPENSHELL_DEV_AGENTS: ' 0 ' }).agents, 0);
    assert.equal(load({ OPENSHELL_DEV_TIMEOUT: '1' }).timeoutSec, 1);
    assert.equal(load({ OPENSHELL_DEV_TIMEOUT: '86400' }).timeoutSec, 86400);
    rejects({ OPENSHELL_DEV_TIMEOUT: '86401' }, /OPENSHELL_DEV_TIMEOUT="86401" is not valid: must be a number of seconds \(1–86400\)/);
    assert.equal(load({ OPENSHELL_DEV_REGISTRY_PORT: '65535' }).registryPort, 65535);
    for (const v of ['65536', '0', '5e3', '1 2', '+5']) rejects({ OPENSHELL_DEV_REGISTRY_PORT: v }, /OPENSHELL_DEV_REGISTRY_PORT=/, /a TCP port number \(1–65535\)/);
    rejects({ OPENSHELL_DEV_AGENTS: 'x1' }, /a whole number of agent nodes \(0–9\)/);
  });

  test('DNS labels: one character, digits at either end; the registry name too', () => {
    assert.equal(load({ OPENSHELL_DEV_CLUSTER: 'a' }).cluster, 'a');
    assert.equal(load({ OPENSHELL_DEV_CLUSTER: '0-a-9' }).cluster, '0-a-9');
    assert.equal(load({ OPENSHELL_DEV_REGISTRY_NAME: 'r'.repeat(63) }).registryName, 'r'.repeat(63));
    for (const v of ['r'.repeat(64), 'reg.local', 'x y']) rejects({ OPENSHELL_DEV_REGISTRY_NAME: v }, /OPENSHELL_DEV_REGISTRY_NAME=/, /at most 63 characters/);
    rejects({ OPENSHELL_DEV_CLUSTER: 'a\nb' }, /OPENSHELL_DEV_CLUSTER=/);
  });

  test('the k3s image: a reference with a tag, trimmed', () => {
    assert.equal(load({ OPENSHELL_DEV_K3S_IMAGE: ' my.registry:5000/k3s:v1.36.0-k3s1 ' }).k3sImage, 'my.registry:5000/k3s:v1.36.0-k3s1');
    for (const v of ['k3s latest:v1', 'k3s:v1;x']) {
      rejects({ OPENSHELL_DEV_K3S_IMAGE: v }, /OPENSHELL_DEV_K3S_IMAGE=/, new RegExp(`with a tag, such as ${K3S_IMAGE.replaceAll('.', '\\.')}`));
    }
  });

  test('the agent-sandbox release tag and manifest: URL verbatim, file resolved, a directory refused', () => {
    assert.equal(load({ OPENSHELL_DEV_AGENT_SANDBOX_VERSION: 'v0.6.0-rc.1' }).agentSandboxVersion, 'v0.6.0-rc.1');
    assert.equal(load({ OPENSHELL_DEV_AGENT_SANDBOX_VERSION: 'v1.2.3' }).agentSandboxManifest, 'https://github.com/kubernetes-sigs/agent-sandbox/releases/download/v1.2.3/manifest.yaml');
    for (const v of ['v0.5', 'v0.5.5x', 'latest', 'v0.5.5-']) rejects({ OPENSHELL_DEV_AGENT_SANDBOX_VERSION: v }, /OPENSHELL_DEV_AGENT_SANDBOX_VERSION=/, /a release tag such as v0\.5\.5/);
    assert.equal(load({ OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST: ' http://mirror/m.yaml ' }).agentSandboxManifest, 'http://mirror/m.yaml');
    const file = join(work, 'manifest.yaml');
    writeFileSync(file, 'kind: List\n');
    assert.equal(load({ OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST: file }).agentSandboxManifest, file);
    rejects({ OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST: '~/m.yaml' }, /OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST="~\/m\.yaml"/);
    rejects({ OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST: work }, /OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST=/, /http\(s\) URL or an existing file/);
  });

  test('OPENSHELL_SOURCE_DIR: an existing directory, not a file', () => {
    const file = join(work, 'not-a-dir');
    writeFileSync(file, '');
    rejects({ OPENSHELL_SOURCE_DIR: file }, /OPENSHELL_SOURCE_DIR=/, /must be an existing directory: the OpenShell checkout/);
    assert.equal(load({ OPENSHELL_SOURCE_DIR: ` ${work} ` }).sourceDir, work);
  });

  test('OPENSHELL_DEV_KUBE_BIN_DIR: an executable directory of the same name is not a binary', () => {
    const dir = mkdtempSync(join(work, 'kubebin-dirs-'));
    for (const b of ['kube-apiserver', 'kube-controller-manager']) {
      writeFileSync(join(dir, b), '#!/bin/sh\n');
      chmodSync(join(dir, b), 0o755);
    }
    mkdirSync(join(dir, 'kube-scheduler'));
    kubeBinRejects({ OPENSHELL_DEV_KUBE_BIN_DIR: dir }, /missing: kube-scheduler\); bash \.ci\/run builds them/);
    writeFileSync(join(dir, 'kube-proxy'), '');
    assert.equal(kubeBins({ PATH: join(dir, 'kube-scheduler') }), undefined, 'a PATH entry without kube-apiserver');
  });

  test('the sandbox selector: every requirement form Kubernetes accepts; malformed ones refused', () => {
    for (const v of ['app', '!app', 'app=x', 'app==x', 'app!=x', 'app=', 'app in (a,b)', 'app notin (a)', 'app in ()', 'example.com/app=x', 'a.b-c/d_e.f=G-h.1', ' app = x , tier in ( a , b ) ']) {
      assert.equal(load({ OPENSHELL_DEV_SANDBOX_SELECTOR: v }).sandboxSelector, v.trim(), v);
    }
    for (const v of ['app=x=y', 'app in (a', 'app in a)', ')app(', 'app in a', '-app=x', 'app=-x', 'Example.com/app=x', '/app', 'app,', ',app', 'app x', 'a'.repeat(64) + '=x', 'app=' + 'v'.repeat(64)]) {
      rejects({ OPENSHELL_DEV_SANDBOX_SELECTOR: v }, /OPENSHELL_DEV_SANDBOX_SELECTOR=/, /must be a non-empty Kubernetes label selector/);
    }
  });

  test('padded values are trimmed; the provider is never empty; messages end where they should', () => {
    assert.equal(load({ OPENSHELL_DEV_KUBECONFIG: ' /abs/dev.yaml ' }).kubeconfig, '/abs/dev.yaml');
    assert.equal(load({ OPENSHELL_DEV_AGENT_SANDBOX_VERSION: ' v0.5.5 ' }).agentSandboxVersion, 'v0.5.5');
    assert.equal(load({ OPENSHELL_DEV_AGENT_SANDBOX_VERSION: 'v10.20.30' }).agentSandboxVersion, 'v10.20.30');
    rejects({ OPENSHELL_DEV_AGENT_SANDBOX_VERSION: 'xv0.5.5' }, /OPENSHELL_DEV_AGENT_SANDBOX_VERSION="xv0\.5\.5"/);
    rejects({ OPENSHELL_DEV_CLUSTER_PROVIDER: '' }, /^OPENSHELL_DEV_CLUSTER_PROVIDER="" is not valid: allowed values are k3d, kwok, existing$/);
    rejects({ OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST: './mirror-https://m.yaml' }, /OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST=/, /http\(s\) URL or an existing file/);
    const dir = mkdtempSync(join(work, 'kubebin-trim-'));
    for (const b of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
      writeFileSync(join(dir, b), '#!/bin/sh\n');
      chmodSync(join(dir, b), 0o755);
    }
    assert.equal(kubeBins({ OPENSHELL_DEV_KUBE_BIN_DIR: ` ${dir} ` }), dir);
    chmodSync(join(dir, 'kube-scheduler'), 0o644);
    chmodSync(join(dir, 'kube-controller-manager'), 0o644);
    assert.throws(
      () => kubeBins({ OPENSHELL_DEV_KUBE_BIN_DIR: dir }),
      /must be a directory holding kube-apiserver, kube-controller-manager, kube-scheduler \(missing: kube-controller-manager, kube-scheduler\)/,
    );
  });

  test('kubeNames: k3d- for k3d and existing, kwok- for kwok', () => {
    assert.deepEqual(kubeNames({ cluster: 'c', provider: 'kwok' }), { context: 'kwok-c', cluster: 'kwok-c', user: 'admin@kwok-c' });
    assert.deepEqual(kubeNames({ cluster: 'c', provider: 'existing' }), { context: 'k3d-c', cluster: 'k3d-c', user: 'admin@k3d-c' });
  });

  test('a .env that is not a file is reported naming it (exit 2)', () => {
    const root = mkdtempSync(join(work, 'dotenv-dir-'));
    mkdirSync(join(root, '.env'));
    assert.throws(() => load({}, root), (e: Error) => e instanceof SettingsError && e.message.startsWith(`${join(root, '.env')} cannot be read: `));
  });

  test('the README\'s settings table is the one settings.ts generates (every name, default and meaning)', () => {
    const readme = readFileSync(join(KIT_ROOT, 'README.md'), 'utf8');
    assert.equal(withTable(readme), readme, 'README.md is stale: run node scripts/settings-table.ts --write');
    for (const spec of SETTINGS) assert.ok(settingsTable().includes(`| \`${spec.name}\` |`), spec.name);
  });
});

test('a test that pins every setting in the environment is immune to any .env', () => {
  const root = mkdtempSync(join(work, 'hostile-dotenv-'));
  writeFileSync(join(root, '.env'), SETTINGS.map((s) => `${s.name}=from-a-contributors-dotenv`).join('\n') + '\n');
  const raw = rawSettings({ env: pinSettings({}), root });
  for (const spec of SETTINGS) {
    assert.deepEqual(raw.get(spec.name), { value: spec.default, origin: 'environment' }, spec.name);
  }
  assert.equal(pinSettings({ OPENSHELL_DEV_CLUSTER: 'x' }).OPENSHELL_DEV_CLUSTER, 'x');
  assert.equal('CONTAINER_ENGINE' in pinSettings({ CONTAINER_ENGINE: undefined }), false, 'undefined removes a setting');
});

describe('a task process with a bad setting exits 2 naming it', () => {
  const up = join(KIT_ROOT, 'scripts', 'k8s-dev', 'up.ts');
  const node = process.execPath;
  const run = (env: NodeJS.ProcessEnv) =>
    spawnSync(node, [up], {
      cwd: KIT_ROOT,
      // Every setting pinned: the kit's .env never reaches the task.
      env: pinSettings({ PATH: process.env.PATH, HOME: home, OPENSHELL_DEV_KUBECONFIG: join(work, 'kc.yaml'), CI: 'true', ...env }),
      encoding: 'utf8',
      timeout: 60_000,
    });
  test('a 40-character OPENSHELL_DEV_CLUSTER', () => {
    const r = run({ OPENSHELL_DEV_CLUSTER: 'x'.repeat(40) });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /OPENSHELL_DEV_CLUSTER="x{40}" is not valid: .*at most 32 characters/);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
  });
  test('OPENSHELL_DEV_HTTP_PORT=abc', () => {
    const r = run({ OPENSHELL_DEV_HTTP_PORT: 'abc' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /OPENSHELL_DEV_HTTP_PORT="abc" is not valid/);
  });
});
