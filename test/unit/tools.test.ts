// Tool versions from real outputs, the minimum-version rule, and the messages
// a missing or old tool gets.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { answer, history, reset, type Rule } from '../../scripts/lib/sh.ts';
import { UserError } from '../../scripts/lib/task.ts';
import { atLeast, checkTool, parseToolVersion, requireTools, resetToolCache, TOOLS } from '../../scripts/lib/tools.ts';
import { missingTools } from '../support/requires.ts';

beforeEach(() => {
  resetToolCache();
  reset();
});
const answering = (rules: Rule[]) => answer(rules);

test('parseToolVersion on real outputs', () => {
  const cases: Array<[string, string | undefined]> = [
    ['{\n  "clientVersion": {\n    "major": "1",\n    "minor": "36",\n    "gitVersion": "v1.36.3",\n    "goVersion": "go1.26.8"\n  },\n  "kustomizeVersion": "v5.8.1"\n}\n', '1.36.3'],
    // kubectl built from source without ldflags: empty major/minor, gitVersion still set.
    ['{"clientVersion":{"major":"","minor":"","gitVersion":"v1.35.0-alpha.0.123+abc","gitCommit":"$Format:%H$"},"kustomizeVersion":"v5.7.1"}', '1.35.0'],
    ['v4.3.1+g7deb5a4\n', '4.3.1'],
    ['v3.16.4+g7877b45\n', '3.16.4'],
    // helm built from Go modules without ldflags reports only its source default.
    ['v4.3\n', '4.3'],
    ['k3d version v5.8.3\nk3s version v1.31.5-k3s1 (default)\n', '5.8.3'],
    ['v2.16.1\n', '2.16.1'],
    ['Docker version 28.2.2, build e6534b4\n', '28.2.2'],
    ['Docker version 26.1.5+dfsg1, build a72d7cd\n', '26.1.5'],
    ['podman version 4.3.1\n', '4.3.1'],
    ['kwokctl version v0.7.0 go1.26.8 (linux/amd64)\n', '0.7.0'],
    ['cargo 1.83.0 (5ffbef321 2024-10-29)\n', '1.83.0'],
    ['no version here\n', undefined],
  ];
  for (const [out, want] of cases) assert.equal(parseToolVersion(out), want, out);
});

test('atLeast compares numerically, part by part', () => {
  assert.equal(atLeast('1.36.3', '1.29'), true);
  assert.equal(atLeast('1.29.0', '1.29'), true);
  assert.equal(atLeast('1.9.9', '1.29'), false);
  assert.equal(atLeast('4.3', '3.14'), true);
  assert.equal(atLeast('3.9.4', '3.14'), false);
  assert.equal(atLeast('10.0', '9.99'), true);
  assert.equal(atLeast('5.6', '5.6.1'), false);
  assert.equal(atLeast('2', '2.10'), false);
});

test('a missing tool: the message says `mise install`', async () => {
  answering([['k3d', { code: 127, stderr: 'k3d: command not found' }]]);
  const st = await checkTool('k3d');
  assert.equal(st.ok, false);
  assert.equal(st.message, 'k3d not found on PATH: run `mise install` (tools are pinned in mise.toml)');
  await assert.rejects(requireTools('k3d', 'kubectl'), (err: Error) => err instanceof UserError && /^k3d not found on PATH: run `mise install`/.test(err.message));
});

test('too old, failing, and fine', async () => {
  answering([
    ['helm version --short', { stdout: 'v3.12.0+gc9f554d\n' }],
    ['skaffold version', { code: 1, stderr: 'panic: boom\n' }],
    ['kubectl version --client -o json', { stdout: '{"clientVersion":{"gitVersion":"v1.35.1"}}' }],
    ['docker --version', { stdout: 'Docker version 28.2.2, build e6534b4' }],
  ]);
  const [helm, skaffold, kubectl, docker] = await Promise.all(['helm', 'skaffold', 'kubectl', 'docker'].map((t) => checkTool(t)));
  assert.deepEqual(helm, { name: 'helm', ok: false, version: '3.12.0', message: 'helm 3.12.0 is older than 3.14: run `mise install` (tools are pinned in mise.toml)' });
  assert.equal(skaffold!.ok, false);
  assert.match(skaffold!.message, /^skaffold is installed but `skaffold version` failed: run `mise install`/);
  assert.deepEqual(kubectl, { name: 'kubectl', ok: true, version: '1.35.1', message: 'kubectl 1.35.1' });
  assert.equal(docker!.ok, true);
  assert.deepEqual(history.map((c) => c.cmd.split(' ')[0]).sort(), ['docker', 'helm', 'kubectl', 'skaffold']);
  // Checked once per process.
  await checkTool('helm');
  assert.equal(history.length, 4);
});

test('every tool with a minimum has a hint', () => {
  for (const [name, spec] of Object.entries(TOOLS)) assert.ok(spec.hint.length > 10, name);
});

test('the real helm and kubectl on this machine parse and pass', { skip: missingTools('helm', 'kubectl') }, async () => {
  for (const name of ['helm', 'kubectl']) {
    const st = await checkTool(name);
    assert.equal(st.ok, true, st.message);
    assert.match(st.version ?? '', /^\d+\.\d+(\.\d+)?$/, `${name}: ${st.message}`);
    assert.ok(atLeast(st.version!, TOOLS[name]!.min!));
  }
});
