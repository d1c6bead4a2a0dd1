// k8s:dev:sideload and the doctor's smoke pod, with scripted commands: the
// exact kubectl/docker/openshell calls (push the dev image, stop and start
// through the gateway, the sha256 proof), the smoke pod's manifest, verdicts
// and clean-up.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { STAGE_DIR } from '../../scripts/lib/images.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Pod } from 'kubernetes-models/v1/Pod';
import { parse } from 'yaml';
import { sideload } from '../../scripts/k8s-dev/sideload.ts';
import { builtBinaryPath } from '../../scripts/lib/source.ts';
import { memoryLogger } from '../../scripts/lib/log.ts';
import { quote } from 'zx/core';
import { answer, history, reset, type Rule } from '../../scripts/lib/sh.ts';
import { loadSettings } from '../../scripts/lib/settings.ts';
import { sha256File } from '../../scripts/lib/sideload.ts';
import { judgeSmokePod, proveSideload, smokePodManifest } from '../../scripts/lib/smoke-pod.ts';
import { createContext } from '../../scripts/lib/task.ts';

const dir = mkdtempSync(join(tmpdir(), 'sideload-task-'));
const kubeconfig = join(dir, 'kubeconfig.yaml');
writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\n');
const bin = join(dir, 'openshell-sandbox');
writeFileSync(bin, '#!/bin/sh\necho openshell-sandbox 9.9.9\n', { mode: 0o755 });
const env = { OPENSHELL_DEV_KUBECONFIG: kubeconfig, OPENSHELL_SANDBOX_NAMESPACE: 'sandboxes', HOME: dir, PATH: process.env.PATH };
const settings = loadSettings({ env, root: dir, home: dir });
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

const DEV = 'openshell-registry:5000/openshell-supervisor:dev';
const podJson = (name: string, volume: object, pullPolicy?: string) => ({
  metadata: { name, namespace: 'sandboxes', uid: `${name}-old` },
  spec: {
    containers: [{ name: 'agent', image: 'agent:1' }],
    volumes: [volume],
    ...('emptyDir' in volume ? { initContainers: [{ name: 'openshell-supervisor-install', image: DEV, imagePullPolicy: pullPolicy }] } : {}),
  },
  status: { phase: 'Running' },
});
const pods = {
  items: [
    podJson('default--a', { name: 'openshell-supervisor-bin', emptyDir: {} }, 'Always'),
    podJson('default--b', { name: 'openshell-supervisor-bin', image: { reference: DEV, pullPolicy: 'Always' } }),
    podJson('default--c', { name: 'openshell-supervisor-bin', image: { reference: DEV, pullPolicy: 'IfNotPresent' } }),
  ],
};
const sandboxes = {
  items: ['a', 'b', 'c'].map((n) => ({ metadata: { name: `default--${n}`, labels: { 'openshell.ai/sandbox-name': n, 'openshell.ai/sandbox-workspace': 'default' } } })),
};
/** A static ELF (busybox-static): sideload refuses anything else. */
const staticBin = join(dir, 'static', 'openshell-sandbox');
mkdirSync(join(dir, 'static'), { recursive: true });
if (existsSync('/bin/busybox')) copyFileSync('/bin/busybox', staticBin);
const noStatic = existsSync('/bin/busybox') ? false : 'needs /bin/busybox (busybox-static) as a static ELF fixture';

/**
 * The registry's answers (registryProblem, tagDigest) without a registry; and the kit's
 * .build/bin/openshell-sandbox, which the task stages the binary into, put back afterwards.
 */
function stubRegistry(): () => void {
  const staged = join(STAGE_DIR, 'openshell-sandbox');
  const kept = existsSync(staged) ? readFileSync(staged) : undefined;
  const real = globalThis.fetch;
  globalThis.fetch = (async (url: string | URL) => {
    const u = String(url);
    if (u.endsWith('/v2/')) return new Response('{}', { status: 200 });
    if (/\/manifests\/dev$/.test(u)) return new Response(null, { status: 404 });
    return new Response(null, { status: 200, headers: { 'docker-content-digest': 'sha256:feed' } });
  }) as typeof fetch;
  return () => {
    globalThis.fetch = real;
    if (kept) writeFileSync(staged, kept, { mode: 0o755 });
    else rmSync(staged, { force: true });
  };
}

describe('k8s:dev:sideload', () => {
  test('where cargo leaves the binary', () => {
    assert.equal(builtBinaryPath('/src', 'cargo build --release -p openshell-sandbox', 'openshell-sandbox'), '/src/target/release/openshell-sandbox');
    assert.equal(builtBinaryPath('/src', 'cargo build -p openshell-sandbox', 'openshell-sandbox'), '/src/target/debug/openshell-sandbox');
    assert.equal(builtBinaryPath('/src', 'cargo zigbuild --release --target x86_64-unknown-linux-musl -p openshell-sandbox', 'openshell-sandbox'), '/src/target/x86_64-unknown-linux-musl/release/openshell-sandbox');
  });

  test('refuses a binary that is not static (exit 2), before touching the cluster', async () => {
    const exec = scriptedExecutor([]);
    const { ctx } = ctxFor(exec, [bin]);
    await assert.rejects(sideload.main(ctx), (e: Error & { exitCode?: number }) => /is not a static binary \(not-elf\)/.test(e.message) && e.exitCode === 2);
    assert.deepEqual(exec.calls, []);
  });

  test('bad --sandbox and --gateway-endpoint are usage errors naming the value', async () => {
    for (const [args, re] of [
      [['--sandbox', 'Bad_Name', staticBin], /--sandbox "Bad_Name" is not valid/],
      [['--gateway-endpoint', 'localhost:8080', staticBin], /--gateway-endpoint "localhost:8080" is not valid: an http:\/\/ or https:\/\/ address/],
    ] as const) {
      const { ctx } = ctxFor(scriptedExecutor([]), [...args]);
      await assert.rejects(sideload.main(ctx), (e: Error & { exitCode?: number }) => re.test(e.message) && e.exitCode === 2);
    }
  });

  test('a --sandbox that does not run is a usage error listing what runs; nothing is pushed', { skip: noStatic }, async () => {
    const exec = scriptedExecutor([
      [`${K} get pods`, { stdout: JSON.stringify(pods) }],
      [`${K} get sandboxes`, { stdout: JSON.stringify(sandboxes) }],
    ]);
    const { ctx } = ctxFor(exec, ['--sandbox', 'zz', staticBin]);
    await assert.rejects(sideload.main(ctx), /no running sandbox zz in sandboxes \(running: a, b, c\)/);
    assert.ok(!exec.calls.some((c) => c.startsWith('docker')), exec.calls.join('\n'));
  });

  test('pushes the dev image, stops and starts each sandbox through the gateway, proves the new binary by sha256; refuses a pod pulling IfNotPresent', { skip: noStatic }, async () => {
    const sum = await sha256File(staticBin);
    const execs = new Map<string, number>();
    const exec = scriptedExecutor([
      [`${K} get pods -n`, { stdout: JSON.stringify(pods) }],
      [`${K} get sandboxes`, { stdout: JSON.stringify(sandboxes) }],
      ['docker version', { stdout: '20.10.24' }],
      [/ exec -n sandboxes /, (ran) => {
        // Before the restart the old binary, after it the new one.
        const n = (execs.get(ran.cmd) ?? 0) + 1;
        execs.set(ran.cmd, n);
        return { stdout: `${n === 1 ? 'f'.repeat(64) : sum}  /opt/openshell/bin/openshell-sandbox\n` };
      }],
      [/ get pod -n sandboxes default--[ab] -o json/, (ran) => ({ stdout: JSON.stringify({ metadata: { uid: `${ran.cmd.includes('--a') ? 'a' : 'b'}-new` }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } }) })],
      [/ sandbox get /, { stdout: '{"name":"x","phase":"Ready"}' }],
    ]);
    const restore = stubRegistry();
    try {
      const { ctx, log } = ctxFor(exec, ['--cli', '/opt/openshell', '--gateway-endpoint', 'http://10.0.0.1:30051', staticBin]);
      const code = await sideload.main(ctx);
      const text = log.lines.join('\n');
      assert.equal(code, 1, text);
      assert.ok(exec.calls.includes(`${K} get pods -n sandboxes -l ${quote('agents.x-k8s.io/sandbox-name-hash')} -o json`), exec.calls.join('\n'));
      assert.ok(exec.calls.some((c) => c.startsWith('docker build -f ') && c.includes(' -t localhost:5000/openshell-supervisor:dev ')), exec.calls.join('\n'));
      assert.ok(exec.calls.includes('docker push localhost:5000/openshell-supervisor:dev'));
      for (const n of ['a', 'b']) {
        const cli = exec.calls.filter((c) => c.startsWith('/opt/openshell ') && c.endsWith(` ${n}`) && !c.includes(' get '));
        assert.deepEqual(cli, ['stop', 'start'].map((v) => `/opt/openshell --gateway-endpoint http://10.0.0.1:30051 --workspace default sandbox ${v} ${n}`));
        assert.match(text, new RegExp(`${n} \\(sandboxes/default--${n}, [a-z-]+\\): restarted, Ready, runs the new supervisor \\(sha256 ${sum.slice(0, 12)} in /opt/openshell/bin/openshell-sandbox\\)`));
      }
      assert.ok(!exec.calls.some((c) => / sandbox (stop|start) c$/.test(c)), 'the IfNotPresent pod is not restarted');
      assert.ok(!exec.calls.some((c) => / delete pod /.test(c)), 'no pod is deleted behind the gateway\'s back');
      assert.match(text, /c \(sandboxes\/default--c\): it pulls openshell-registry:5000\/openshell-supervisor:dev with pullPolicy IfNotPresent/);
      assert.match(text, /2 updated, 0 unverified, 1 failed, 0 already current/);
    } finally {
      restore();
    }
  });

  test('a sandbox that already runs the binary is left alone', { skip: noStatic }, async () => {
    const sum = await sha256File(staticBin);
    const exec = scriptedExecutor([
      [`${K} get pods -n`, { stdout: JSON.stringify({ items: [pods.items[1]] }) }],
      [`${K} get sandboxes`, { stdout: JSON.stringify(sandboxes) }],
      ['docker version', { stdout: '20.10.24' }],
      [/ exec -n sandboxes /, { stdout: `${sum}  /opt/openshell/bin/openshell-sandbox\n` }],
    ]);
    const restore = stubRegistry();
    try {
      const { ctx, log } = ctxFor(exec, [staticBin]);
      assert.equal(await sideload.main(ctx), 0, log.lines.join('\n'));
      assert.ok(!exec.calls.some((c) => / sandbox (stop|start) /.test(c)), exec.calls.join('\n'));
      assert.match(log.lines.join('\n'), /b \(sandboxes\/default--b\): already runs sha256/);
    } finally {
      restore();
    }
  });

  test('the gateway refusing the stop fails that sandbox, naming the CLI\'s reason', { skip: noStatic }, async () => {
    const exec = scriptedExecutor([
      [`${K} get pods -n`, { stdout: JSON.stringify({ items: [pods.items[1]] }) }],
      [`${K} get sandboxes`, { stdout: JSON.stringify(sandboxes) }],
      ['docker version', { stdout: '20.10.24' }],
      [/ exec -n sandboxes /, { stdout: `${'f'.repeat(64)}  x\n` }],
      // The CLI's report, as it really printed it on the real node (wrapped).
      [/ sandbox stop b$/, { code: 1, stderr: `Error:   × code: 'The system is not in a state required for the operation's\n  │ execution', message: "sandbox must be Ready to stop (current phase:\n  │ Error)"\n\n` }],
    ]);
    const restore = stubRegistry();
    try {
      const { ctx, log } = ctxFor(exec, [staticBin]);
      assert.equal(await sideload.main(ctx), 1);
      assert.match(log.lines.join('\n'), /openshell sandbox stop failed: code: 'The system is not in a state required for the operation's execution', message: "sandbox must be Ready to stop \(current phase: Error\)"/);
      assert.ok(!exec.calls.some((c) => / sandbox start /.test(c)));
    } finally {
      restore();
    }
  });

  test('--dry-run: builds nothing, pushes nothing, prints the push and the stop/start', { skip: noStatic }, async () => {
    const exec = scriptedExecutor([
      [`${K} get pods -n`, { stdout: JSON.stringify({ items: [pods.items[0]] }) }],
      [`${K} get sandboxes`, { stdout: JSON.stringify(sandboxes) }],
      ['docker version', { stdout: '20.10.24' }],
    ]);
    const restore = stubRegistry();
    try {
      const { ctx, log } = ctxFor(exec, ['--dry-run', staticBin]);
      assert.equal(await sideload.main(ctx), 0, log.lines.join('\n'));
      const printed = log.lines.filter((l) => l.includes('[dry-run] would run:')).join('\n');
      assert.match(log.lines.join('\n'), /\[dry-run\] would stage .* and build and push localhost:5000\/openshell-supervisor:dev/);
      assert.match(printed, /openshell --gateway-endpoint http:\/\/localhost:8080 --workspace default sandbox stop a/);
      assert.match(printed, /sandbox start a/);
      assert.ok(!exec.calls.some((c) => / (push|build|stop|start) /.test(c)), `a write ran: ${exec.calls.join('\n')}`);
    } finally {
      restore();
    }
  });

  test('builds with the configured command in the checkout when no path is given (dry-run)', async () => {
    const src = mkdtempSync(join(tmpdir(), 'openshell-src-'));
    writeFileSync(join(src, 'Cargo.toml'), '[workspace]\nmembers = ["crates/openshell-server"]\n');
    const exec = scriptedExecutor([[`${K} get pods`, { stdout: '{"items":[]}' }], ['docker version', { stdout: '20.10.24' }]]);
    const { ctx, log } = ctxFor(exec, ['--dry-run', '--build-command', 'cargo build --release -p openshell-sandbox --locked'], { OPENSHELL_SOURCE_DIR: src });
    assert.equal(await sideload.main(ctx), 0, log.lines.join('\n'));
    assert.ok(log.lines.some((l) => l.includes("[dry-run] would run: sh -c $'cargo build --release -p openshell-sandbox --locked'")), log.lines.join('\n'));
    assert.ok(log.lines.some((l) => l.includes('no running OpenShell sandbox')));
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
