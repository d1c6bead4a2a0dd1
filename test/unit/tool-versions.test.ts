// One source of truth for tool versions: mise.toml (what contributors install)
// pins exactly what the test bed builds (.ci/tools/versions.env), so the tests
// prove the versions contributors run.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { KIT_ROOT } from '../../scripts/lib/settings.ts';

const pins = Object.fromEntries(
  [...readFileSync(join(KIT_ROOT, '.ci', 'tools', 'versions.env'), 'utf8').matchAll(/^([A-Z0-9_]+)=(\S+)/gm)].map((m) => [m[1]!, m[2]!.replace(/^v/, '')]),
);
const tools = /^\[tools\]\n([\s\S]*?)(?:\n\[|(?![\s\S]))/m.exec(readFileSync(join(KIT_ROOT, 'mise.toml'), 'utf8'))![1]!;
const mise = Object.fromEntries([...tools.matchAll(/^"?([^"=\s]+)"?\s*=\s*"([^"]+)"/gm)].map((m) => [m[1]!, m[2]!]));

/** mise tool → the versions.env pin it must equal. */
const SAME: Record<string, string> = {
  node: 'NODE_VERSION',
  'aqua:k3d-io/k3d': 'K3D_VERSION',
  'aqua:GoogleContainerTools/skaffold': 'SKAFFOLD_VERSION',
  'aqua:kubernetes/kubectl': 'KUBE_NEW_VERSION',
  'aqua:helm/helm': 'HELM_VERSION',
};

test('mise.toml pins every tool at the test bed version (.ci/tools/versions.env)', () => {
  assert.deepEqual(Object.keys(mise).sort(), Object.keys(SAME).sort(), 'every mise tool has its versions.env pin');
  for (const [tool, key] of Object.entries(SAME)) {
    assert.ok(pins[key], `versions.env has ${key}`);
    assert.equal(mise[tool], pins[key], `mise.toml ${tool} = ${mise[tool]}, versions.env ${key}=${pins[key]}`);
  }
});

test('skaffold is new enough for Helm 4 (2.16 calls the removed `helm version --client`)', () => {
  const [major, minor] = pins.SKAFFOLD_VERSION!.split('.').map(Number);
  assert.ok(major! > 2 || (major === 2 && minor! >= 17), `skaffold ${pins.SKAFFOLD_VERSION}`);
});
