// The k3d cluster config the up task pipes to `k3d cluster create --config -`,
// validated by k3d itself: `k3d config migrate` checks a file against k3d's
// JSON schema and loads it, with no container engine needed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { k3dConfig, K3D_CONFIG } from '../../scripts/lib/providers/k3d.ts';
import { loadSettings } from '../../scripts/lib/settings.ts';
import { missingTools } from '../support/requires.ts';

const dir = mkdtempSync(join(tmpdir(), 'k3d-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function k3dAccepts(file: string): Record<string, any> {
  // k3d logs to stdout: have it write the loaded config to a file instead.
  const out = join(dir, `${basename(file)}.loaded.yaml`);
  const r = spawnSync('k3d', ['config', 'migrate', file, out], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `k3d rejected ${file}:\n${r.stdout}${r.stderr}`);
  return parse(readFileSync(out, 'utf8')) as Record<string, any>;
}

const skip = missingTools('k3d');

test('k3d accepts the declarative deploy/k3d/cluster.yaml', { skip }, () => {
  const cfg = k3dAccepts(K3D_CONFIG);
  assert.equal(cfg.metadata.name, 'openshell-dev');
});

test('k3d accepts the config up generates, default and non-default settings', { skip }, () => {
  const cases = [
    { env: {}, reuse: false },
    { env: { OPENSHELL_DEV_CLUSTER: 'alt', OPENSHELL_DEV_AGENTS: '3', OPENSHELL_DEV_HTTP_PORT: '18080', OPENSHELL_DEV_REGISTRY_PORT: '15000' }, reuse: false },
    { env: {}, reuse: true },
  ];
  for (const [i, c] of cases.entries()) {
    const settings = loadSettings({ env: { HOME: dir, ...c.env }, root: dir });
    const file = join(dir, `cluster-${i}.yaml`);
    writeFileSync(file, stringify(k3dConfig(settings, { reuseRegistry: c.reuse })));
    const cfg = k3dAccepts(file);
    assert.equal(cfg.metadata.name, settings.cluster);
    assert.equal(cfg.agents, settings.agents);
    assert.deepEqual(cfg.ports.map((p: { port: string }) => p.port), [`127.0.0.1:${settings.httpPort}:30051`]);
    if (c.reuse) assert.deepEqual(cfg.registries.use, ['openshell-registry:5000']);
    else assert.equal(cfg.registries.create.hostPort, String(settings.registryPort));
    assert.match(cfg.registries.config, new RegExp(`localhost:${settings.registryPort}`));
  }
});
