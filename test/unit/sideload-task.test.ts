// k8s:dev:sideload and the doctor's smoke pod, with scripted commands: the
// exact kubectl/docker calls, the fallback for read-only image volumes, the
// smoke pod's manifest, verdicts and clean-up.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Pod } from 'kubernetes-models/v1/Pod';
import { parse } from 'yaml';
import { fallbackImage, sideload } from '../../scripts/k8s-dev/sideload.ts';
import { builtBinaryPath } from '../../scripts/lib/source.ts';
import { memoryLogger } from '../../scripts/lib/log.ts';
import { quote } from 'zx/core';
import { answer, history, reset, type Rule } from '../../scripts/lib/sh.ts';
import { loadSettings } from '../../scripts/lib/settings.ts';
import { INSTALL_SCRIPT, sha256File } from '../../scripts/lib/sideload.ts';
import { judgeSmokePod, proveSideload, smokePodManifest } from '../../scripts/lib/smoke-pod.ts';
import { createContext } from '../../scripts/lib/task.ts';

const dir = mkdtempSync(join(tmpdir(), 'sideload-task-'));
const kubeconfig = join(dir, 'kubeconfig.yaml');
writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\n');
const bin = join(dir, 'openshell-sandbox');
writeFileSync(bin, '#!/bin/sh\necho openshell-sandbox 9.9.9\n', { mode: 0o755 });
const env = { OPENSHELL_DEV_KUBECONFIG: kubeconfig, OPENSHELL_SANDBOX_NAMESPACE: 'sandboxes', HOME: dir, PATH: process.env.PATH };
const settings = loadSettings({ env, root: dir, home: dir });
const RO_MOUNTS = 'overlay / overlay rw,relatime 0 0\n/dev/sda1 /opt/openshell/bin ext4 ro,relatime 0 0\n';
const K = `kubectl --kubeconfig ${kubeconfig}`;

/** Commands answered by `rules`; `calls` is what really ran. */
function scriptedExecutor(rules: Rule[]) {
  reset();
  answer(rules);
  return { get calls() { return history.filter((h) => !h.printed).map((h) => h.cmd); } };
}

function ctxFor(_exec: ReturnType<typeof scriptedExecutor>, argv: string[], extraEnv: Record<string, string> = {}) {
  const log = memoryLogger();
  const s = Object.keys(extraEnv).length ? loadSettings({ env: { ...env, ...extraEnv }, root: dir, home: dir }) : settings;
  return { ctx: createContext(sideload, { argv, env: { ...env, ...extraEnv }, log, settings: s }), log };
}

const podJson = (name: string, volume: object, pullPolicy?: string) => ({
  metadata: { name, namespace: 'sandboxes' },
  spec: {
    containers: [{ name: 'agent', image: 'agent:1' }],
    volumes: [volume],
    ...('emptyDir' in volume ? { initContainers: [{ name: 'openshell-supervisor-install', image: 'openshell-registry:5000/openshell-supervisor:dev', imagePullPolicy: pullPolicy }] } : {}),
  },
  status: { phase: 'Running' },
});
const pods = {
  items: [
    podJson('sb-a', { name: 'openshell-supervisor-bin', emptyDir: {} }, 'Always'),
    podJson('sb-b', { name: 'openshell-supervisor-bin', emptyDir: {} }, 'Always'),
    podJson('sb-c', { name: 'openshell-supervisor-bin', image: { reference: 'openshell-registry:5000/openshell-supervisor:dev', pullPolicy: 'Always' } }),
  ],
};

describe('k8s:dev:sideload', () => {
  test('where cargo leaves the binary', () => {
    assert.equal(builtBinaryPath('/src', 'cargo build --release -p openshell-sandbox', 'openshell-sandbox'), '/src/target/release/openshell-sandbox');
    assert.equal(builtBinaryPath('/src', 'cargo build -p openshell-sandbox', 'openshell-sandbox'), '/src/target/debug/openshell-sandbox');
    assert.equal(builtBinaryPath('/src', 'cargo zigbuild --release --target x86_64-unknown-linux-musl -p openshell-sandbox', 'openshell-sandbox'), '/src/target/x86_64-unknown-linux-musl/release/openshell-sandbox');
  });

  test('the fallback pushes the pods\' own repository and tag through the host port', () => {
    assert.deepEqual(fallbackImage('openshell-registry:5000/openshell-supervisor:dev', 'openshell-registry', 5000), { push: 'localhost:5000/openshell-supervisor:dev' });
    assert.deepEqual(fallbackImage('openshell-registry:5000/team/sup:x', 'openshell-registry', 5001), { push: 'localhost:5001/team/sup:x' });
    assert.match(fallbackImage('ghcr.io/nvidia/openshell/supervisor:0.1.0', 'openshell-registry', 5000).warning ?? '', /not an image from the dev registry/);
  });

  test('swaps into emptyDir pods, falls back to push + restart for the image-volume pod, prints the pods', async () => {
    const sum = await sha256File(bin);
    const exec = scriptedExecutor([
      [`${K} get pods`, { stdout: JSON.stringify(pods) }],
      [/sha256sum/, (ran) => ({ stdout: `${sum}  ${ran.cmd.split(' ').at(-3)}\n` })],
      ['docker version', { stdout: '20.10.24' }],
      ['docker --version', { stdout: 'Docker version 20.10.24' }],
    ]);
    const { ctx, log } = ctxFor(exec, [bin]);
    const code = await sideload.main(ctx);
    assert.equal(code, 0, log.lines.join('\n'));
    assert.ok(exec.calls.includes(`${K} get pods -n sandboxes -l ${quote('agents.x-k8s.io/sandbox-name-hash')} -o json`), exec.calls.join('\n'));
    for (const pod of ['sb-a', 'sb-b']) {
      const mine = exec.calls.filter((c) => c.includes(` ${pod} `) || c.includes(`sandboxes/${pod}:`));
      assert.deepEqual(
        mine.map((c) => c.replace(/\.openshell-sandbox\.[^ ]+\.new/g, 'TMP')),
        [
          `${K} exec -n sandboxes ${pod} -c agent -- cat /proc/self/mounts`,
          `${K} cp ${bin} sandboxes/${pod}:/opt/openshell/bin/TMP -c agent`,
          [...`${K} exec -n sandboxes ${pod} -c agent -- sh -c`.split(' '), INSTALL_SCRIPT, 'sh', '/opt/openshell/bin/TMP', sum, '/opt/openshell/bin/openshell-sandbox'].map(quote).join(' '),
        ],
      );
    }
    assert.ok(!exec.calls.some((c) => c.includes('sb-c -c agent')), 'no kubectl cp into the read-only image volume');
    const build = exec.calls.find((c) => c.startsWith('docker build -t localhost:5000/openshell-supervisor:dev '));
    assert.ok(build, exec.calls.join('\n'));
    assert.ok(exec.calls.includes('docker push localhost:5000/openshell-supervisor:dev'));
    assert.ok(exec.calls.includes(`${K} delete pod -n sandboxes sb-c --wait=false`));
    const text = log.lines.join('\n');
    assert.match(text, /sandboxes\/sb-a: updated/);
    assert.match(text, /sandboxes\/sb-b: updated/);
    assert.match(text, /sandboxes\/sb-c: image volume at \/opt\/openshell\/bin is read-only/);
    assert.match(text, /sandboxes\/sb-c: restarted with the new image/);
    assert.match(text, /2 updated in place, 1 restarted with a new image, 0 failed/);
  });

  test('a read-only emptyDir mount (found by the probe) also falls back', async () => {
    const exec = scriptedExecutor([
      [`${K} get pods`, { stdout: JSON.stringify({ items: [pods.items[0]] }) }],
      [/ cat \/proc\/self\/mounts/, { stdout: RO_MOUNTS }],
      ['docker version', { stdout: '20.10.24' }],
    ]);
    const { ctx, log } = ctxFor(exec, [bin]);
    assert.equal(await sideload.main(ctx), 0);
    assert.ok(exec.calls.includes(`${K} delete pod -n sandboxes sb-a --wait=false`), exec.calls.join('\n'));
    assert.match(log.lines.join('\n'), /is a read-only mount/);
  });

  test('--dry-run runs only reads and prints every write', async () => {
    const exec = scriptedExecutor([[`${K} get pods`, { stdout: JSON.stringify(pods) }]]);
    const { ctx, log } = ctxFor(exec, ['--dry-run', bin]);
    assert.equal(await sideload.main(ctx), 0);
    const printed = log.lines.filter((l) => l.includes('[dry-run] would run:')).join('\n');
    assert.match(printed, / cp .* sandboxes\/sb-a:\/opt\/openshell\/bin\/\.openshell-sandbox\..*\.new -c agent/);
    assert.match(printed, / mv -f /);
    assert.match(printed, /docker build -t localhost:5000\/openshell-supervisor:dev/);
    assert.match(printed, /docker push/);
    assert.match(printed, /delete pod -n sandboxes sb-c/);
    assert.ok(!exec.calls.some((c) => / (cp|mv|push|delete) /.test(c) && !c.includes('exec -n')), `a write ran: ${exec.calls.join('\n')}`);
  });

  test('builds with the configured command in the checkout when no path is given (dry-run)', async () => {
    const src = mkdtempSync(join(tmpdir(), 'openshell-src-'));
    writeFileSync(join(src, 'Cargo.toml'), '[workspace]\nmembers = ["crates/openshell-server"]\n');
    const exec = scriptedExecutor([[`${K} get pods`, { stdout: '{"items":[]}' }]]);
    const { ctx, log } = ctxFor(exec, ['--dry-run', '--build-command', 'cargo build --release -p openshell-sandbox --locked'], { OPENSHELL_SOURCE_DIR: src });
    assert.equal(await sideload.main(ctx), 0);
    assert.ok(log.lines.some((l) => l.includes("[dry-run] would run: sh -c $'cargo build --release -p openshell-sandbox --locked'")), log.lines.join('\n'));
    assert.ok(log.lines.some((l) => l.includes('no running pod matches')));
  });

  test('a bad --concurrency is a usage error naming the allowed range', async () => {
    const { ctx } = ctxFor(scriptedExecutor([]), ['--concurrency', '0', bin]);
    await assert.rejects(sideload.main(ctx), /--concurrency 0 is not valid: a whole number 1–32/);
  });
});

describe('doctor: the sideload smoke pod', () => {
  const base = { image: 'openshell-registry:5000/openshell-supervisor:dev', pullPolicy: 'IfNotPresent' as const, namespace: 'sandboxes', name: 'smoke' };

  test('image-volume: the seed\'s image volume, the read-only mount, the binary with --version; a valid Pod', () => {
    const pod = smokePodManifest({ ...base, method: 'image-volume' });
    new Pod(pod as ConstructorParameters<typeof Pod>[0]).validate();
    assert.deepEqual(pod.spec?.volumes, [{ name: 'openshell-supervisor-bin', image: { reference: base.image, pullPolicy: 'IfNotPresent' } }]);
    assert.equal(pod.spec?.initContainers, undefined);
    const c = pod.spec!.containers[0]!;
    assert.deepEqual(c.command, ['/opt/openshell/bin/openshell-sandbox']);
    assert.deepEqual(c.args, ['--version']);
    assert.deepEqual(c.volumeMounts, [{ name: 'openshell-supervisor-bin', mountPath: '/opt/openshell/bin', readOnly: true }]);
    assert.equal(pod.spec?.restartPolicy, 'Never');
  });

  test('init-container: emptyDir plus copy-self', () => {
    const pod = smokePodManifest({ ...base, method: 'init-container' });
    new Pod(pod as ConstructorParameters<typeof Pod>[0]).validate();
    assert.deepEqual(pod.spec?.volumes, [{ name: 'openshell-supervisor-bin', emptyDir: {} }]);
    assert.deepEqual(pod.spec?.initContainers?.[0]?.command, ['/openshell-sandbox', 'copy-self', '/opt/openshell/bin/openshell-sandbox']);
  });

  test('verdicts: exit 0 works; an empty mount (exec: no such file) is broken; a pull error is the image\'s fault', () => {
    assert.equal(judgeSmokePod({ status: { phase: 'Succeeded' } })?.verdict, 'works');
    assert.equal(judgeSmokePod({ status: { phase: 'Pending' } }), undefined);
    assert.equal(judgeSmokePod({ status: { phase: 'Running', containerStatuses: [{ name: 'agent', state: { running: {} } }] } }), undefined);
    const empty = judgeSmokePod({
      status: { phase: 'Failed', containerStatuses: [{ name: 'agent', state: { terminated: { exitCode: 128, reason: 'StartError', message: 'exec: "/opt/openshell/bin/openshell-sandbox": stat: no such file or directory' } } }] },
    });
    assert.equal(empty?.verdict, 'broken');
    assert.match(empty!.detail, /exited 128 \(StartError\).*no such file/);
    const pull = judgeSmokePod({ status: { phase: 'Pending', containerStatuses: [{ name: 'agent', state: { waiting: { reason: 'ImagePullBackOff', message: 'back-off' } } }] } });
    assert.equal(pull?.imageProblem, true);
  });

  test('--dry-run prints the pod for the chosen method and creates nothing', async () => {
    const exec = scriptedExecutor([[`${K} version`, { stdout: JSON.stringify({ serverVersion: { major: '1', minor: '35', gitVersion: 'v1.35.1-k3s1' } }) }]]);
    const { ctx, log } = ctxFor(exec, ['--dry-run']);
    const result = await proveSideload(ctx);
    assert.equal(result.status, 'skip');
    assert.match(result.detail, /image-volume \(Kubernetes 1\.35 >= 1\.35/);
    const text = log.lines.join('\n');
    assert.match(text, /\[dry-run\] would run: kubectl .* create -f - <<EOF/);
    const yamlText = text.slice(text.indexOf('<<EOF\n') + 6, text.indexOf('\nEOF'));
    const pod = parse(yamlText) as ReturnType<typeof smokePodManifest>;
    assert.deepEqual(pod.spec?.volumes?.[0], { name: 'openshell-supervisor-bin', image: { reference: 'openshell-registry:5000/openshell-supervisor:dev', pullPolicy: 'IfNotPresent' } });
    assert.deepEqual(pod.spec?.containers[0]?.volumeMounts?.[0], { name: 'openshell-supervisor-bin', mountPath: '/opt/openshell/bin', readOnly: true });
    assert.deepEqual(pod.spec?.containers[0]?.command, ['/opt/openshell/bin/openshell-sandbox']);
    assert.deepEqual(exec.calls, [`${K} version -o json`]);
  });

  test('--dry-run with the method set and no cluster prints the init-container pod', async () => {
    const exec = scriptedExecutor([]);
    const { ctx, log } = ctxFor(exec, ['--dry-run'], { OPENSHELL_SUPERVISOR_SIDELOAD_METHOD: 'init-container' });
    await proveSideload(ctx);
    const text = log.lines.join('\n');
    assert.match(text, /emptyDir: \{\}/);
    assert.match(text, /copy-self/);
    assert.deepEqual(exec.calls, []);
  });

  test('a working method: ok with the version line; the pod is deleted', async () => {
    const exec = scriptedExecutor([
      [/ get namespace /, { stdout: 'namespace/sandboxes' }],
      [/ get pod openshell-sideload-smoke-/, { stdout: JSON.stringify({ status: { phase: 'Succeeded' } }) }],
      [/ logs /, { stdout: 'openshell-sandbox 0.1.0\n' }],
    ]);
    const { ctx } = ctxFor(exec, [], { OPENSHELL_SUPERVISOR_SIDELOAD_METHOD: 'image-volume' });
    const r = await proveSideload(ctx, { pollMs: 1 });
    assert.equal(r.status, 'ok', r.detail);
    assert.match(r.detail, /image-volume .* works: .*printed "openshell-sandbox 0.1.0"/);
    assert.equal(exec.calls.filter((c) => / create -f -/.test(c)).length, 1);
    assert.match(exec.calls.at(-1)!, / delete pod openshell-sideload-smoke-iv-[0-9a-f]+ -n sandboxes --ignore-not-found --now --wait=false$/);
  });

  test('image volume mounted empty: fail, and the report recommends init-container, which works', async () => {
    const exec = scriptedExecutor([
      [/ get namespace /, { stdout: 'namespace/sandboxes' }],
      [/ version -o json/, { stdout: JSON.stringify({ serverVersion: { gitVersion: 'v1.35.0+k3s1' } }) }],
      [
        / get pod openshell-sideload-smoke-iv-/,
        { stdout: JSON.stringify({ status: { phase: 'Failed', containerStatuses: [{ name: 'agent', state: { terminated: { exitCode: 128, reason: 'StartError', message: 'exec: no such file or directory' } } }] } }) },
      ],
      [/ get pod openshell-sideload-smoke-ic-/, { stdout: JSON.stringify({ status: { phase: 'Succeeded' } }) }],
      [/ logs openshell-sideload-smoke-ic-/, { stdout: 'openshell-sandbox 0.1.0\n' }],
    ]);
    const { ctx } = ctxFor(exec, []);
    const r = await proveSideload(ctx, { pollMs: 1 });
    assert.equal(r.status, 'fail');
    assert.match(r.detail, /image-volume \(Kubernetes 1\.35 >= 1\.35.*\) failed: agent exited 128 \(StartError\): exec: no such file or directory; init-container works on this cluster/);
    assert.match(r.fix ?? '', /OPENSHELL_SUPERVISOR_SIDELOAD_METHOD=init-container/);
    assert.equal(exec.calls.filter((c) => / delete pod openshell-sideload-smoke-/.test(c)).length, 2, 'both pods deleted');
  });

  test('an API server that refuses the image volume: fail, naming the API error, and init-container recommended', async () => {
    const exec = scriptedExecutor([
      [/ create -f -/, (ran) => (ran.input.includes('reference:') ? { code: 1, stderr: 'Error from server (BadRequest): strict decoding error: unknown field "spec.volumes[0].image"' } : {})],
      [/ get pod openshell-sideload-smoke-ic-/, { stdout: JSON.stringify({ status: { phase: 'Succeeded' } }) }],
    ]);
    const { ctx } = ctxFor(exec, [], { OPENSHELL_SUPERVISOR_SIDELOAD_METHOD: 'image-volume' });
    const r = await proveSideload(ctx, { pollMs: 1 });
    assert.equal(r.status, 'fail');
    assert.match(r.detail, /the API server refused the pod: .*unknown field "spec.volumes\[0\].image".*init-container works/);
    assert.match(r.fix ?? '', /=init-container/);
  });

  test('a refusal unrelated to the method (admission) fails without blaming the method', async () => {
    const exec = scriptedExecutor([[/ create -f -/, { code: 1, stderr: 'Error from server (Forbidden): error looking up service account default/default: serviceaccount "default" not found' }]]);
    const { ctx } = ctxFor(exec, [], { OPENSHELL_SUPERVISOR_SIDELOAD_METHOD: 'image-volume' });
    const r = await proveSideload(ctx, { pollMs: 1 });
    assert.equal(r.status, 'fail');
    assert.match(r.detail, /serviceaccount "default" not found/);
    assert.doesNotMatch(r.fix ?? '', /init-container/);
    assert.equal(exec.calls.filter((c) => / create -f -/.test(c)).length, 1, 'the other method is not tried');
  });

  test('a pod that stays Running (kwok) is inconclusive, a warning, and still deleted', async () => {
    const exec = scriptedExecutor([[/ get pod openshell-sideload-smoke-/, { stdout: JSON.stringify({ status: { phase: 'Running' } }) }]]);
    const { ctx } = ctxFor(exec, [], { OPENSHELL_SUPERVISOR_SIDELOAD_METHOD: 'image-volume' });
    const r = await proveSideload(ctx, { timeoutSec: 0.05, pollMs: 5 });
    assert.equal(r.status, 'warn');
    assert.match(r.detail, /still Running/);
    assert.match(exec.calls.at(-1)!, / delete pod /);
  });
});
