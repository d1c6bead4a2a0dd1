// The sideload module: method parsing and selection, the seed's pod fragments,
// and the hot-swap's exact commands (write beside, verify, rename).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Pod } from 'kubernetes-models/v1/Pod';
import { memoryLogger } from '../../scripts/lib/log.ts';
import { quote } from 'zx/core';
import { answer, history, reset, type Rule } from '../../scripts/lib/sh.ts';
import { loadSettings, SettingsError } from '../../scripts/lib/settings.ts';
import {
  applySideload,
  chooseMethod,
  dockerTransport,
  hotSwap,
  INSTALL_SCRIPT,
  isReadOnlyPath,
  kubectlTransport,
  kubeServerVersion,
  mapLimit,
  methodForVersion,
  methodOfPodSpec,
  otherMethod,
  parseKubeVersion,
  parseSideloadMethod,
  sandboxPodsFrom,
  sha256File,
  sideloadFragments,
  supervisorDockerfile,
  supervisorInitContainer,
  supervisorVolume,
  supervisorVolumeMount,
  swapTempPath,
} from '../../scripts/lib/sideload.ts';
import { createContext, type TaskDefinition } from '../../scripts/lib/task.ts';
import { noDotenvRoot } from '../support/settings-env.ts';

const RO_MOUNTS = 'overlay / overlay rw,relatime 0 0\n/dev/sda1 /opt/openshell/bin ext4 ro,relatime 0 0\n';
const IMG = { image: 'openshell/supervisor:latest', pullPolicy: 'IfNotPresent' as const };
const def: TaskDefinition = { name: 'unit', summary: 'unit', main: async () => {} };
// Never the kit's .env, nor /tmp/.env: an empty root of our own.
const NO_DOTENV = noDotenvRoot();
const settings = loadSettings({ env: {}, root: NO_DOTENV, home: '/home/dev' });
/** Commands answered by `rules`; `exec.calls` is what really ran. */
function scripted(rules: Rule[]) {
  reset();
  answer(rules);
  return { get calls() { return history.filter((h) => !h.printed).map((h) => h.cmd); } };
}
function ctxWith(_exec: ReturnType<typeof scripted>, argv: string[] = []) {
  const log = memoryLogger();
  return { ctx: createContext(def, { argv, env: {}, log, settings }), log };
}

describe('method parsing', () => {
  test('accepts the two methods and empty (auto)', () => {
    assert.equal(parseSideloadMethod('image-volume'), 'image-volume');
    assert.equal(parseSideloadMethod(' init-container '), 'init-container');
    assert.equal(parseSideloadMethod(''), undefined);
    assert.equal(parseSideloadMethod(undefined), undefined);
  });
  test('a bad value names the setting, the value and the allowed ones', () => {
    assert.throws(
      () => parseSideloadMethod('imagevolume'),
      (err: Error) =>
        err instanceof SettingsError &&
        err.message.includes('OPENSHELL_SUPERVISOR_SIDELOAD_METHOD="imagevolume"') &&
        err.message.includes('image-volume, init-container'),
    );
    assert.throws(() => parseSideloadMethod('Image-Volume'), SettingsError);
  });
  test('settings.ts rejects the same bad value', () => {
    assert.throws(() => loadSettings({ env: { OPENSHELL_SUPERVISOR_SIDELOAD_METHOD: 'copy' }, root: NO_DOTENV }), /allowed values are image-volume, init-container/);
  });
});

describe('selection by server version', () => {
  const table: Array<[string, string]> = [
    ['v1.29.0', 'init-container'],
    ['v1.30.14', 'init-container'],
    ['v1.31.2-eks-7f9249a', 'init-container'],
    ['v1.32.0', 'init-container'],
    ['v1.33.1', 'init-container'],
    ['v1.34.3+k3s1', 'init-container'],
    ['v1.35.0', 'image-volume'],
    ['v1.35.1-k3s1', 'image-volume'],
    ['v1.36.3', 'image-volume'],
    ['v1.37.0-alpha.1', 'image-volume'],
    ['v2.0.0', 'image-volume'],
  ];
  for (const [version, method] of table) {
    test(`${version} → ${method}`, () => assert.equal(methodForVersion(version), method));
  }
  test('every minor 1.29–1.36: the rule is a threshold at 1.35', () => {
    for (let minor = 29; minor <= 36; minor++) {
      assert.equal(methodForVersion({ major: 1, minor }), minor >= 35 ? 'image-volume' : 'init-container', `1.${minor}`);
    }
  });
  test('parses gitVersion strings and /version objects', () => {
    assert.deepEqual(parseKubeVersion('1.29'), { major: 1, minor: 29 });
    assert.deepEqual(parseKubeVersion({ major: '1', minor: '31+', gitVersion: 'v1.31.0-gke.1' }), { major: 1, minor: 31 });
    assert.deepEqual(parseKubeVersion({ gitVersion: 'v1.35.1-k3s1' }), { major: 1, minor: 35 });
    assert.throws(() => parseKubeVersion('latest'), /not a Kubernetes version/);
  });
  test('an explicit method wins over the version', () => {
    assert.deepEqual(chooseMethod('init-container', 'v1.36.0'), { method: 'init-container', source: 'setting', reason: 'OPENSHELL_SUPERVISOR_SIDELOAD_METHOD=init-container' });
    assert.equal(chooseMethod('image-volume', 'v1.29.0').method, 'image-volume');
    const auto = chooseMethod(undefined, 'v1.35.0');
    assert.equal(auto.method, 'image-volume');
    assert.equal(auto.source, 'version');
    assert.match(auto.reason, /1\.35 >= 1\.35/);
    assert.throws(() => chooseMethod(undefined, undefined), /server version is unknown/);
    assert.equal(otherMethod('image-volume'), 'init-container');
    assert.equal(otherMethod('init-container'), 'image-volume');
  });
});

describe('pod fragments (seed 002)', () => {
  test('image-volume: the image volume source with reference and pullPolicy', () => {
    assert.deepEqual(supervisorVolume('image-volume', IMG), {
      name: 'openshell-supervisor-bin',
      image: { reference: 'openshell/supervisor:latest', pullPolicy: 'IfNotPresent' },
    });
    assert.deepEqual(supervisorVolume('image-volume', { image: 'x:1' }), { name: 'openshell-supervisor-bin', image: { reference: 'x:1' } });
  });
  test('init-container: an emptyDir and copy-self into it', () => {
    assert.deepEqual(supervisorVolume('init-container', IMG), { name: 'openshell-supervisor-bin', emptyDir: {} });
    assert.deepEqual(supervisorInitContainer(IMG), {
      name: 'openshell-supervisor-install',
      image: 'openshell/supervisor:latest',
      imagePullPolicy: 'IfNotPresent',
      command: ['/openshell-sandbox', 'copy-self', '/opt/openshell/bin/openshell-sandbox'],
      securityContext: { runAsUser: 0 },
      volumeMounts: [{ name: 'openshell-supervisor-bin', mountPath: '/opt/openshell/bin', readOnly: false }],
    });
  });
  test('the agent mount is read-only at /opt/openshell/bin, identical for both methods', () => {
    assert.deepEqual(supervisorVolumeMount(), { name: 'openshell-supervisor-bin', mountPath: '/opt/openshell/bin', readOnly: true });
    assert.deepEqual(sideloadFragments('image-volume', IMG).agent, sideloadFragments('init-container', IMG).agent);
    assert.deepEqual(sideloadFragments('image-volume', IMG).agent.command, ['/opt/openshell/bin/openshell-sandbox']);
    assert.deepEqual(sideloadFragments('image-volume', IMG).initContainers, []);
    assert.equal(sideloadFragments('init-container', IMG).initContainers.length, 1);
  });
  for (const method of ['image-volume', 'init-container'] as const) {
    test(`applySideload(${method}) patches the agent container and validates as a Pod`, () => {
      const spec = {
        volumes: [{ name: 'workspace', emptyDir: {} }],
        containers: [
          { name: 'sidecar', image: 'proxy:1' },
          { name: 'agent', image: 'agent:1', command: ['/bin/agent'], securityContext: { runAsNonRoot: false }, volumeMounts: [{ name: 'workspace', mountPath: '/sandbox' }] },
        ],
      };
      const out = applySideload(spec, method, IMG);
      assert.equal(spec.volumes.length, 1, 'input untouched');
      assert.deepEqual(out.volumes?.map((v) => v.name), ['workspace', 'openshell-supervisor-bin']);
      assert.equal(out.initContainers?.length ?? 0, method === 'init-container' ? 1 : 0);
      const agent = out.containers[1]!;
      assert.deepEqual(agent.command, ['/opt/openshell/bin/openshell-sandbox']);
      assert.deepEqual(agent.securityContext, { runAsNonRoot: false, runAsUser: 0 });
      assert.deepEqual(agent.volumeMounts?.[1], { name: 'openshell-supervisor-bin', mountPath: '/opt/openshell/bin', readOnly: true });
      assert.equal(out.containers[0]!.command, undefined, 'other containers untouched');
      assert.equal(methodOfPodSpec(out), method);
      new Pod({ metadata: { name: 'p' }, spec: out }).validate();
    });
  }
  test('without a container named agent, the first container is the agent', () => {
    const out = applySideload({ containers: [{ name: 'main', image: 'x' }] }, 'image-volume', IMG);
    assert.deepEqual(out.containers[0]!.command, ['/opt/openshell/bin/openshell-sandbox']);
  });
  test('the fallback image puts the binary at /openshell-sandbox in a FROM-scratch image', () => {
    const df = supervisorDockerfile();
    assert.match(df, /^FROM scratch$/m);
    assert.match(df, /^COPY openshell-sandbox \/openshell-sandbox$/m);
  });
});

describe('sandbox pods', () => {
  const pod = (name: string, phase: string, volume: object | undefined, extra: object = {}) => ({
    metadata: { name, namespace: 'openshell', ...extra },
    spec: { containers: [{ name: 'agent', image: 'a' }], volumes: volume ? [volume] : [] },
    status: { phase },
  });
  test('keeps running, non-terminating pods and reads their method', () => {
    const json = JSON.stringify({
      items: [
        pod('b', 'Running', { name: 'openshell-supervisor-bin', image: { reference: 'r:1', pullPolicy: 'Always' } }),
        pod('a', 'Running', { name: 'openshell-supervisor-bin', emptyDir: {} }),
        pod('c', 'Pending', { name: 'openshell-supervisor-bin', emptyDir: {} }),
        pod('d', 'Running', { name: 'openshell-supervisor-bin', emptyDir: {} }, { deletionTimestamp: '2026-01-01T00:00:00Z' }),
        pod('e', 'Running', undefined),
      ],
    });
    const pods = sandboxPodsFrom(json);
    assert.deepEqual(
      pods.map((p) => [p.name, p.method, p.image, p.pullPolicy]),
      [
        ['a', 'init-container', undefined, undefined],
        ['b', 'image-volume', 'r:1', 'Always'],
        ['e', undefined, undefined, undefined],
      ],
    );
    assert.equal(pods[0]!.container, 'agent');
    assert.equal(pods[0]!.namespace, 'openshell');
  });
});

describe('settings: the sandbox selector', () => {
  test('defaults to the label the agent-sandbox controller puts on every sandbox pod, and rejects an empty or malformed one', () => {
    assert.equal(settings.sandboxSelector, 'agents.x-k8s.io/sandbox-name-hash');
    assert.match(settings.supervisorBuildCommand, /\+crt-static.* -p openshell-sandbox$/);
    assert.equal(loadSettings({ env: { OPENSHELL_DEV_SANDBOX_SELECTOR: 'app in (a, b),tier!=x' }, root: NO_DOTENV }).sandboxSelector, 'app in (a, b),tier!=x');
    for (const bad of ['', 'a=b,', 'a b', 'x=(']) {
      assert.throws(() => loadSettings({ env: { OPENSHELL_DEV_SANDBOX_SELECTOR: bad }, root: NO_DOTENV }), /OPENSHELL_DEV_SANDBOX_SELECTOR=.* is not valid: must be a non-empty Kubernetes label selector/);
    }
  });
});

describe('hot-swap', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sideload-unit-'));
  const bin = join(dir, 'openshell-sandbox');
  writeFileSync(bin, 'new supervisor\n', { mode: 0o755 });
  const kubectl = ['--kubeconfig', '/kc'];
  const target = { name: 'sb-1', namespace: 'openshell', container: 'agent' };
  const tmp = '/opt/openshell/bin/.openshell-sandbox.n1.new';

  test('read-only is read from the mount table: the longest mount point containing the directory', () => {
    assert.equal(isReadOnlyPath(RO_MOUNTS, '/opt/openshell/bin'), true);
    assert.equal(isReadOnlyPath(RO_MOUNTS, '/opt/openshell'), false);
    assert.equal(isReadOnlyPath('overlay / overlay ro,relatime 0 0\ntmpfs /opt/openshell/bin tmpfs rw 0 0\n', '/opt/openshell/bin'), false);
    assert.equal(isReadOnlyPath('overlay / overlay ro 0 0\n', '/opt/openshell/bin'), true);
    assert.equal(isReadOnlyPath('', '/x'), false);
  });

  test('the temporary file sits beside the binary (same filesystem: atomic rename)', () => {
    assert.equal(swapTempPath('/opt/openshell/bin/openshell-sandbox', 'n1'), tmp);
  });

  test('kubectl: probe, cp beside, sha256 in the pod, chmod, mv -f — exactly these commands', async () => {
    const sum = await sha256File(bin);
    const exec = scripted([[/sha256sum/, { stdout: `${sum}  ${tmp}\n` }]]);
    const { ctx } = ctxWith(exec);
    const [out] = await hotSwap(ctx, kubectlTransport(kubectl), [target], { localPath: bin, nonce: 'n1' });
    assert.equal(out!.status, 'updated');
    const k = 'kubectl --kubeconfig /kc';
    const ex = `${k} exec -n openshell sb-1 -c agent --`;
    assert.deepEqual(exec.calls, [
      `${ex} cat /proc/self/mounts`,
      `${k} cp ${bin} openshell/sb-1:${tmp} -c agent`,
      [...ex.split(' '), 'sh', '-c', INSTALL_SCRIPT, 'sh', tmp, sum, '/opt/openshell/bin/openshell-sandbox'].map(quote).join(' '),
    ]);
  });

  test('the install script: sha256 first, chmod and mv -f only on a match, rm -f otherwise', () => {
    assert.match(INSTALL_SCRIPT, /^sum=\$\(sha256sum "\$1"\)/);
    assert.ok(INSTALL_SCRIPT.indexOf('rm -f "$1"; exit 3') < INSTALL_SCRIPT.indexOf('mv -f "$1" "$3"'));
    assert.match(INSTALL_SCRIPT, /chmod 0755 "\$1" && mv -f "\$1" "\$3"$/);
  });

  test('a checksum mismatch keeps the old binary and removes the temporary file', async () => {
    const exec = scripted([[/sha256sum/, { stdout: `${'0'.repeat(64)}  ${tmp}\n`, code: 3 }]]);
    const { ctx } = ctxWith(exec);
    const [out] = await hotSwap(ctx, kubectlTransport(kubectl), [target], { localPath: bin, nonce: 'n1' });
    assert.equal(out!.status, 'failed');
    assert.match(out!.detail, /checksum mismatch, old binary kept: sha256 000000000000 in the container/);
  });

  test('a failed copy removes the temporary file', async () => {
    const exec = scripted([[/ cp /, { code: 1, stderr: 'tar: not found' }]]);
    const { ctx } = ctxWith(exec);
    const [out] = await hotSwap(ctx, kubectlTransport(kubectl), [target], { localPath: bin, nonce: 'n1' });
    assert.equal(out!.status, 'failed');
    assert.match(out!.detail, /copy failed: tar: not found/);
    assert.ok(exec.calls.at(-1)!.endsWith(`rm -f ${tmp}`));
  });

  test('a read-only mount is reported, nothing is copied', async () => {
    const exec = scripted([[/ cat \/proc\/self\/mounts/, { stdout: RO_MOUNTS }]]);
    const { ctx } = ctxWith(exec);
    const [out] = await hotSwap(ctx, kubectlTransport(kubectl), [target], { localPath: bin, nonce: 'n1' });
    assert.equal(out!.status, 'read-only');
    assert.equal(exec.calls.length, 1);
  });

  test('--dry-run prints the writes and runs only the probe', async () => {
    const exec = scripted([]);
    const { ctx, log } = ctxWith(exec, ['--dry-run']);
    const [out] = await hotSwap(ctx, kubectlTransport(kubectl), [target], { localPath: bin, nonce: 'n1' });
    assert.equal(out!.status, 'planned');
    assert.equal(exec.calls.length, 1);
    const printed = log.lines.filter((l) => l.includes('[dry-run] would run:'));
    assert.equal(printed.length, 2);
    assert.match(printed[0]!, / cp .* openshell\/sb-1:\/opt\/openshell\/bin\/\.openshell-sandbox\.n1\.new -c agent/);
    assert.match(printed[1]!, / mv -f /);
  });

  test('docker transport: the same steps through docker cp / docker exec', async () => {
    const sum = await sha256File(bin);
    const exec = scripted([[/sha256sum/, { stdout: `${sum}  x\n` }]]);
    const { ctx } = ctxWith(exec);
    await hotSwap(ctx, dockerTransport(), [{ name: 'c1' }], { localPath: bin, nonce: 'n1' });
    assert.deepEqual(exec.calls.slice(0, 2), ['docker exec c1 cat /proc/self/mounts', `docker cp ${bin} c1:${tmp}`]);
  });

  test('several targets run with at most `concurrency` in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const results = await mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setImmediate(r)); // yield: every worker in flight starts before any ends
      inFlight--;
      return n * 2;
    });
    assert.deepEqual(results, [2, 4, 6, 8, 10, 12, 14]);
    assert.equal(peak, 3);
  });
});

// Every outcome of a swap, exactly: what it says, which commands it runs, which of them write.
describe('hot-swap: every outcome', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sideload-outcomes-'));
  const bin = join(dir, 'openshell-sandbox');
  writeFileSync(bin, 'new supervisor\n', { mode: 0o755 });
  const kubectl: string[] = [];
  const target = { name: 'sb-1', namespace: 'openshell', container: 'agent' };
  const dest = '/opt/openshell/bin/openshell-sandbox';
  const tmp = '/opt/openshell/bin/.openshell-sandbox.n1.new';
  const swap = async (rules: Rule[], opts: { argv?: string[]; restart?: boolean; remotePath?: string } = {}) => {
    const exec = scripted(rules);
    const { ctx } = ctxWith(exec, opts.argv ?? []);
    const t0 = Date.now();
    const [out] = await hotSwap(ctx, kubectlTransport(kubectl), [target], { localPath: bin, nonce: 'n1', ...(opts.restart ? { restart: true } : {}), ...(opts.remotePath ? { remotePath: opts.remotePath } : {}) });
    assert.ok(out!.ms >= 0 && out!.ms <= Date.now() - t0, `ms is the swap's own duration: ${out!.ms}`);
    return { out: out!, calls: exec.calls, history: [...history] };
  };

  test('sha256File is the sha256 of the file\'s bytes', async () => {
    const { createHash } = await import('node:crypto');
    assert.equal(await sha256File(bin), createHash('sha256').update('new supervisor\n').digest('hex'));
  });

  test('updated: says where and which sha256; only the copy and the install write', async () => {
    const sum = await sha256File(bin);
    const { out, history } = await swap([[/sha256sum/, { stdout: `${sum}  ${tmp}\n` }]]);
    assert.equal(out.status, 'updated');
    assert.equal(out.label, 'openshell/sb-1');
    assert.equal(out.detail, `${dest} sha256 ${sum.slice(0, 12)}`);
    assert.deepEqual(history.map((c) => c.write), [false, true, true]);
  });

  test('--restart kills the agent\'s PID 1 after the rename, and says so', async () => {
    const sum = await sha256File(bin);
    const { out, calls, history } = await swap([[/sha256sum/, { stdout: `${sum}  ${tmp}\n` }]], { restart: true });
    assert.equal(out.detail, `${dest} sha256 ${sum.slice(0, 12)}, restarted`);
    assert.equal(calls.at(-1), 'kubectl exec -n openshell sb-1 -c agent -- kill 1');
    assert.equal(history.at(-1)!.write, true);
  });

  test('a mount table that cannot be read fails the swap (nothing copied), naming the last line of the error, or the exit status', async () => {
    const a = await swap([[/cat \/proc\/self\/mounts/, { code: 1, stdout: 'ignored', stderr: 'first\nerror from: exec\n' }]]);
    assert.deepEqual([a.out.status, a.out.detail, a.calls.length], ['failed', 'cannot read the container\'s mounts: error from: exec', 1]);
    const b = await swap([[/cat \/proc\/self\/mounts/, { code: 126, stdout: 'only stdout\n' }]]);
    assert.equal(b.out.detail, 'cannot read the container\'s mounts: only stdout');
    const indented = await swap([[/cat \/proc\/self\/mounts/, { code: 1, stderr: 'error:\n    indented cause' }]]);
    assert.equal(indented.out.detail, 'cannot read the container\'s mounts: indented cause');
    const c = await swap([[/cat \/proc\/self\/mounts/, { code: 7 }]]);
    assert.equal(c.out.detail, 'cannot read the container\'s mounts: exit 7');
  });

  test('under --dry-run a failed probe still shows the plan, with why the read-only check could not run', async () => {
    const { out } = await swap([[/cat \/proc\/self\/mounts/, { code: 1, stderr: 'no such pod' }]], { argv: ['--dry-run'] });
    assert.deepEqual([out.status, out.detail], ['planned', `would replace ${dest} (the read-only probe failed: no such pod)`]);
    const plain = await swap([], { argv: ['--dry-run'], restart: true });
    assert.deepEqual([plain.out.status, plain.out.detail], ['planned', `would replace ${dest}`]);
  });

  test('a copy refused as read-only (said on stdout or stderr) is read-only, with no clean-up to do', async () => {
    for (const said of [{ stdout: 'tar: Read-only file system' }, { stderr: 'read-only file system\n' }]) {
      const { out, calls } = await swap([[/ cp /, { code: 1, ...said }]]);
      assert.equal(out.status, 'read-only');
      assert.match(out.detail, /^\/opt\/openshell\/bin is read-only: .*ead-only file system$/);
      assert.equal(calls.length, 2, calls.join('\n'));
    }
  });

  test('a failed copy\'s clean-up writes (rm -f of the temporary file)', async () => {
    const { history } = await swap([[/ cp /, { code: 1, stderr: 'tar: not found' }]]);
    assert.deepEqual(history.at(-1)!.cmd.split(' ').slice(-3), ['rm', '-f', tmp]);
    assert.equal(history.at(-1)!.write, true);
  });

  test('an install that fails otherwise (sha256sum missing) removes the temporary file and keeps the old binary', async () => {
    const { out, calls, history } = await swap([[/sha256sum/, { code: 2, stderr: 'sh: sha256sum: not found' }]]);
    assert.deepEqual([out.status, out.detail], ['failed', 'verify/rename failed, old binary kept: sh: sha256sum: not found']);
    assert.equal(calls.at(-1), `kubectl exec -n openshell sb-1 -c agent -- rm -f ${tmp}`);
    assert.equal(history.at(-1)!.write, true);
  });

  test('a checksum mismatch names both sums; a missing or misplaced remote sum is "(none)"', async () => {
    const sum = await sha256File(bin);
    const none = await swap([[/sha256sum/, { code: 3 }]]);
    assert.equal(none.out.detail, `checksum mismatch, old binary kept: sha256 (none) in the container, ${sum.slice(0, 12)} locally`);
    const misplaced = await swap([[/sha256sum/, { code: 3, stdout: `warning ${'a'.repeat(64)} x\n` }]]);
    assert.match(misplaced.out.detail, /sha256 \(none\) in the container/);
  });

  test('a binary in the root directory: its directory is /', async () => {
    const { out } = await swap([[/cat \/proc\/self\/mounts/, { stdout: 'overlay / overlay ro 0 0\n' }]], { remotePath: '/openshell-sandbox' });
    assert.deepEqual([out.status, out.detail], ['read-only', '/ is a read-only mount']);
  });

  test('transports: labels, kinds and default namespace and container', () => {
    const k = kubectlTransport(kubectl);
    assert.equal(k.kind, 'kubectl');
    assert.equal(k.label({ name: 'p' }), 'default/p');
    assert.deepEqual(k.exec({ name: 'p' }, ['true']).argv, ['kubectl', 'exec', '-n', 'default', 'p', '-c', 'agent', '--', 'true']);
    assert.deepEqual(k.copy({ name: 'p', container: 'c2' }, '/l', '/r').argv, ['kubectl', 'cp', '/l', 'default/p:/r', '-c', 'c2']);
    const d = dockerTransport('podman');
    assert.equal(d.kind, 'podman');
    assert.equal(d.label({ name: 'c1' }), 'podman:c1');
  });
});

describe('mount table, pod list, version: the edges', () => {
  test('isReadOnlyPath: malformed lines are skipped; \\040 is a space; a parent mount counts; the later of two mounts on one point wins', () => {
    assert.equal(isReadOnlyPath('garbage\nnone /opt/openshell/bin\noverlay / overlay rw 0 0\n', '/opt/openshell/bin'), false);
    assert.equal(isReadOnlyPath('overlay / overlay rw 0 0\n/dev/x /opt/my\\040dir ext4 ro 0 0\n', '/opt/my dir/bin'), true);
    assert.equal(isReadOnlyPath('overlay / overlay rw 0 0\n/dev/x /opt ext4 ro 0 0\n', '/opt/openshell/bin'), true);
    assert.equal(isReadOnlyPath('overlay / overlay rw 0 0\n/dev/x /op ext4 ro 0 0\n', '/opt/openshell/bin'), false, 'a prefix that is not a parent');
    assert.equal(isReadOnlyPath('a /opt/openshell/bin tmpfs rw 0 0\nb /opt/openshell/bin tmpfs ro 0 0\n', '/opt/openshell/bin'), true);
    assert.equal(isReadOnlyPath('a /opt/openshell/bin tmpfs ro 0 0\nb / overlay rw 0 0\n', '/opt/openshell/bin'), true, 'the longest, not the last');
  });

  test('sandboxPodsFrom: tolerates missing fields; the agent container by name, else the first; init-container image and policy', () => {
    assert.deepEqual(sandboxPodsFrom('{}'), []);
    assert.deepEqual(sandboxPodsFrom(JSON.stringify({ items: [{}, { metadata: {} }, { status: { phase: 'Running' } }, { status: { phase: 'Running' }, metadata: {} }] })), []);
    const [bare] = sandboxPodsFrom(JSON.stringify({ items: [{ metadata: { name: 'bare' }, status: { phase: 'Running' } }] }));
    assert.deepEqual(bare, { name: 'bare', namespace: 'default', container: 'agent', method: undefined, image: undefined, pullPolicy: undefined });
    const pods = sandboxPodsFrom(
      JSON.stringify({
        items: [
          {
            metadata: { name: 'x', namespace: 'ns' },
            status: { phase: 'Running' },
            spec: {
              containers: [{ name: 'sidecar' }, { name: 'agent' }],
              volumes: [{ name: 'other', emptyDir: {} }, { name: 'openshell-supervisor-bin', emptyDir: {} }],
              initContainers: [{ name: 'setup', image: 'setup:1', imagePullPolicy: 'Never' }, { name: 'openshell-supervisor-install', image: 'sup:1', imagePullPolicy: 'Always' }],
            },
          },
          { metadata: { name: 'y', namespace: 'ns' }, status: { phase: 'Running' }, spec: { containers: [{ name: 'main' }, { name: 'side' }] } },
          {
            metadata: { name: 'z', namespace: 'ns' },
            status: { phase: 'Running' },
            spec: {
              containers: [{ name: 'agent' }],
              volumes: [{ name: 'data', image: { reference: 'data:1', pullPolicy: 'Never' } }, { name: 'openshell-supervisor-bin', image: { reference: 'sup:2', pullPolicy: 'Always' } }],
            },
          },
        ],
      }),
    );
    assert.deepEqual(
      pods.map((p) => [p.name, p.container, p.method, p.image, p.pullPolicy]),
      [
        ['x', 'agent', 'init-container', 'sup:1', 'Always'],
        ['y', 'main', undefined, undefined, undefined],
        ['z', 'agent', 'image-volume', 'sup:2', 'Always'],
      ],
    );
  });

  test('methodForVersion: image-volume from 1.35 on (and on any later major), init-container before', () => {
    for (let minor = 20; minor <= 40; minor++) assert.equal(methodForVersion({ major: 1, minor }), minor >= 35 ? 'image-volume' : 'init-container', `1.${minor}`);
    assert.equal(methodForVersion({ major: 2, minor: 0 }), 'image-volume');
    assert.equal(methodForVersion({ major: 0, minor: 99 }), 'init-container');
    assert.equal(methodForVersion('v1.34.9'), 'init-container');
    assert.match(chooseMethod(undefined, 'v1.29.3').reason, /^Kubernetes 1\.29 < 1\.35 \(OPENSHELL_SUPERVISOR_SIDELOAD_METHOD empty\)$/);
    assert.equal(chooseMethod(undefined, { major: 1, minor: 36 }).method, 'image-volume');
  });

  test('kubeServerVersion: the server\'s version; else why not, from stderr, then stdout', async () => {
    scripted([['kubectl version', { stdout: JSON.stringify({ serverVersion: { major: '1', minor: '36', gitVersion: 'v1.36.3' } }) }]]);
    assert.deepEqual(await kubeServerVersion([]), { major: 1, minor: 36, gitVersion: 'v1.36.3' });
    scripted([['kubectl version', { stdout: JSON.stringify({ serverVersion: { major: '1', minor: '29' } }) }]]);
    assert.equal((await kubeServerVersion([])).gitVersion, '');
    scripted([['kubectl version', { code: 1, stdout: '{"clientVersion":{}}', stderr: 'E1 first\nUnable to connect to the server: dial tcp 127.0.0.1:1: connect: connection refused\n' }]]);
    await assert.rejects(kubeServerVersion([]), { message: 'the API server did not report its version (Unable to connect to the server: dial tcp 127.0.0.1:1: connect: connection refused)' });
    scripted([['kubectl version', { stdout: 'not json\nat all' }]]);
    await assert.rejects(kubeServerVersion([]), { message: 'the API server did not report its version (at all)' });
  });

  test('applySideload appends to what the spec has, adds no init containers for image volumes, and tolerates a spec without containers', () => {
    const spec = {
      volumes: [{ name: 'data', emptyDir: {} }],
      initContainers: [{ name: 'setup', image: 's' }],
      containers: [{ name: 'side', image: 'x' }, { name: 'agent', image: 'a', volumeMounts: [{ name: 'data', mountPath: '/data' }], securityContext: { readOnlyRootFilesystem: true } }],
    };
    const iv = applySideload(spec, 'image-volume', IMG);
    assert.deepEqual(iv.volumes!.map((v) => v.name), ['data', 'openshell-supervisor-bin']);
    assert.deepEqual(iv.initContainers!.map((c) => c.name), ['setup']);
    assert.deepEqual(iv.containers[1]!.volumeMounts!.map((m) => m.name), ['data', 'openshell-supervisor-bin']);
    assert.deepEqual(iv.containers[1]!.securityContext, { readOnlyRootFilesystem: true, runAsUser: 0 });
    assert.equal(iv.containers[0]!.command, undefined, 'the sidecar is not the agent');
    const bare = applySideload({ containers: [{ name: 'agent', image: 'a' }] }, 'image-volume', IMG);
    assert.equal('initContainers' in bare, false);
    assert.deepEqual(bare.containers[0]!.volumeMounts, [{ name: 'openshell-supervisor-bin', mountPath: '/opt/openshell/bin', readOnly: true }]);
    assert.deepEqual(applySideload({ containers: [] }, 'init-container', IMG).volumes!.map((v) => v.name), ['openshell-supervisor-bin']);
    assert.deepEqual(sideloadFragments('image-volume', IMG).agent, {
      command: ['/opt/openshell/bin/openshell-sandbox'],
      securityContext: { runAsUser: 0 },
      volumeMounts: [{ name: 'openshell-supervisor-bin', mountPath: '/opt/openshell/bin', readOnly: true }],
    });
    assert.equal(methodOfPodSpec(undefined), undefined);
    assert.equal(methodOfPodSpec({ containers: [] }), undefined);
  });

  test('the fallback image\'s Dockerfile, exactly', () => {
    assert.equal(
      supervisorDockerfile(),
      '# Generated by k8s:dev:sideload: the supervisor binary alone, at the path the image volume and copy-self expect.\nFROM scratch\nCOPY openshell-sandbox /openshell-sandbox\nENTRYPOINT ["/openshell-sandbox"]\n',
    );
  });
});
