// The kwok provider's exact commands, under --dry-run with stand-in binaries:
// local binaries only (nothing to download), ~/.kube/config untouched, nodes.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { clusterDir, kubeBinDir, kwokNodes, kwokProvider, renameKubeconfig } from '../../scripts/testbed/kwok-provider.ts';
import { loadSettings, SettingsError } from '../../scripts/lib/settings.ts';
import { history } from '../../scripts/lib/sh.ts';
import { createContext, UserError } from '../../scripts/lib/task.ts';
import { createLogger } from '../../scripts/lib/log.ts';
import { noDotenvRoot } from '../support/settings-env.ts';

const def = { name: 'kwok', summary: '', main: async () => {} };
const NO_DOTENV = noDotenvRoot();
let work = '';
let bin = '';
let env: NodeJS.ProcessEnv = {};

before(() => {
  work = mkdtempSync(join(tmpdir(), 'openshell-kwok-unit-'));
  bin = join(work, 'bin');
  mkdirSync(bin);
  for (const b of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'etcd', 'kwok', 'kwokctl']) {
    writeFileSync(join(bin, b), '#!/bin/sh\nexit 0\n');
    chmodSync(join(bin, b), 0o755);
  }
  env = {
    PATH: bin,
    OPENSHELL_DEV_CLUSTER: 'unit',
    OPENSHELL_DEV_CLUSTER_PROVIDER: 'kwok',
    OPENSHELL_DEV_KWOK_DIR: join(work, 'kwok'),
    OPENSHELL_DEV_KUBECONFIG: join(work, 'kubeconfig.yaml'),
    OPENSHELL_DEV_REGISTRY_PORT: '1',
    OPENSHELL_DEV_AGENTS: '2',
  };
});
after(() => rmSync(work, { recursive: true, force: true }));

const quiet = () => createLogger({ env: { CI: 'true' }, write: () => {} });

test('OPENSHELL_DEV_KUBE_BIN_DIR defaults to the directory of kube-apiserver on PATH, and is validated', () => {
  assert.equal(kubeBinDir(loadSettings({ env, root: NO_DOTENV }), env), bin);
  assert.equal(kubeBinDir(loadSettings({ env, root: NO_DOTENV }), { PATH: '/nonexistent' }), undefined);
  assert.throws(() => kubeBinDir(loadSettings({ env: { ...env, OPENSHELL_DEV_KUBE_BIN_DIR: work }, root: NO_DOTENV }), env), (e: Error) => e instanceof SettingsError && /OPENSHELL_DEV_KUBE_BIN_DIR="[^"]+" is not valid/.test(e.message));
});

test('create without kube binaries names the setting', async () => {
  const e = { ...env, PATH: '/nonexistent' };
  const ctx = createContext(def, { argv: ['--dry-run'], env: e, settings: loadSettings({ env: e, root: NO_DOTENV }), log: quiet() });
  await assert.rejects(kwokProvider.create(ctx), (err: Error) => err instanceof UserError && /OPENSHELL_DEV_KUBE_BIN_DIR/.test(err.message));
});

test('create runs kwokctl on local binaries, never touching ~/.kube/config, then applies the nodes', async () => {
  const ctx = createContext(def, { argv: ['--dry-run'], env, settings: loadSettings({ env, root: NO_DOTENV }), log: quiet() });
  assert.equal((await kwokProvider.state(ctx)).exists, false);
  await kwokProvider.create(ctx);
  const [create, apply] = history;
  const argv = create!.cmd.split(' ');
  assert.deepEqual(argv.slice(0, 5), [join(bin, 'kwokctl'), 'create', 'cluster', '--name', 'unit']);
  const flag = (name: string) => argv[argv.indexOf(name) + 1];
  assert.equal(flag('--runtime'), 'binary');
  assert.equal(flag('--kubeconfig'), "$''", 'empty: kwokctl leaves ~/.kube/config alone');
  for (const [f, b] of [
    ['--etcd-binary', 'etcd'],
    ['--kube-apiserver-binary', 'kube-apiserver'],
    ['--kube-controller-manager-binary', 'kube-controller-manager'],
    ['--kube-scheduler-binary', 'kube-scheduler'],
    ['--kwok-controller-binary', 'kwok'],
  ]) {
    assert.equal(flag(f!), join(bin, b!), f);
  }
  assert.ok(argv.includes('--kube-admission') && argv.includes('--kube-authorization'));
  assert.equal(create!.env?.KWOK_WORKDIR, join(work, 'kwok'));
  assert.equal(create!.write, true);
  assert.deepEqual(apply!.cmd.split(' ').slice(-3), ['apply', '-f', '-']);
  const nodes = parseAllDocuments(apply!.input).map((d) => d.toJS() as { metadata: { name: string } });
  assert.deepEqual(
    nodes.map((n) => n.metadata.name),
    ['kwok-unit-server-0', 'kwok-unit-agent-0', 'kwok-unit-agent-1'],
  );
});

test('delete of an absent cluster runs nothing', async () => {
  const ctx = createContext(def, { argv: [], env, settings: loadSettings({ env, root: NO_DOTENV }), log: quiet() });
  await kwokProvider.delete(ctx);
  assert.deepEqual(history, []);
});

test('registry endpoints and node shape', () => {
  const s = loadSettings({ env, root: NO_DOTENV });
  const ctx = createContext(def, { argv: [], env, settings: s, log: quiet() });
  assert.deepEqual(kwokProvider.registry(ctx), { host: 'localhost:1', cluster: 'openshell-registry:5000' });
  const [server] = kwokNodes(s) as Array<{ status: { allocatable: Record<string, string> }; metadata: { annotations: Record<string, string> } }>;
  assert.equal(server!.status.allocatable.pods, '110');
  assert.equal(server!.metadata.annotations['kwok.x-k8s.io/node'], 'fake');
  assert.equal(clusterDir(s), join(work, 'kwok', 'clusters', 'unit'));
});

test('kubeconfig gets our names and inlined certificates', () => {
  const dir = join(work, 'kc');
  mkdirSync(join(dir, 'pki'), { recursive: true });
  for (const f of ['ca.crt', 'admin.crt', 'admin.key']) writeFileSync(join(dir, 'pki', f), f);
  const text = `apiVersion: v1
kind: Config
clusters:
- name: kwok-unit
  cluster: {server: "https://127.0.0.1:3456", certificate-authority: ${join(dir, 'pki/ca.crt')}}
users:
- name: kwok-unit
  user: {client-certificate: ${join(dir, 'pki/admin.crt')}, client-key: ${join(dir, 'pki/admin.key')}}
contexts:
- name: kwok-unit
  context: {cluster: kwok-unit, user: kwok-unit}
current-context: kwok-unit
`;
  const out = renameKubeconfig(text, { cluster: 'unit', provider: 'kwok' }, dir);
  assert.match(out, /current-context: kwok-unit/);
  assert.match(out, /name: admin@kwok-unit/);
  assert.match(out, new RegExp(`client-key-data: ${Buffer.from('admin.key').toString('base64')}`));
  assert.doesNotMatch(out, /client-key:/);
});
