// Fault injection: registry down, Docker down, the API server down in the
// middle of `bootstrap`, a corrupt kubeconfig, a port in use. Each gives a
// clear error (no stack trace), loses nothing, and a re-run after recovery
// succeeds. One kwok cluster and one private registry serve the whole file.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tagDigest } from '../../scripts/lib/registry.ts';
import {
  describeRun,
  fixtureBinary,
  forceDown,
  freePort,
  kubectlOk,
  kwokTaskEnv,
  listen,
  missingBusybox,
  PrivateRegistry,
  rmTree,
  runTask,
  stackLines,
  taskEnv,
  tempDir,
  uniqueName,
  type TaskRun,
} from '../support/e2e.ts';
import { missingDocker, missingTools } from '../support/requires.ts';

const T = { timeout: 240_000 };

function clearFailure(r: TaskRun, pattern: RegExp, code = 1): void {
  assert.equal(r.code, code, describeRun(r));
  assert.match(r.out, pattern, describeRun(r));
  assert.deepEqual(stackLines(r.out), [], `a stack trace instead of a clear error:\n${r.out}`);
}
function succeeded(r: TaskRun): void {
  assert.equal(r.code, 0, describeRun(r));
  assert.deepEqual(stackLines(r.out), []);
}

const clusterSkip = missingTools('kwokctl', 'kwok', 'etcd', 'kubectl', 'helm', 'kube-apiserver', 'docker-registry');
// Building images needs an engine and a static binary (busybox stands in for OpenShell's binaries).
const dockerSkip = missingDocker() || missingBusybox();
// bootstrap checks that the dev images are in the registry: the suites that bootstrap need them pushed
// (by the registry suite's sync), never a quiet --skip-image-check.
const imagesSkip = dockerSkip && `${dockerSkip}: bootstrap needs the dev images that sync pushes`;

describe('faults on a kwok cluster with a private registry (stand-in agent-sandbox: kwok runs no controller)', { skip: clusterSkip }, () => {
  const cluster = uniqueName('e2e-faults');
  let home = '';
  let env: NodeJS.ProcessEnv = {};
  let kc = '';
  let registry: PrivateRegistry;
  let syncArgs: string[] = [];

  before(async () => {
    home = tempDir('faults');
    kc = join(home, 'kubeconfig.yaml');
    registry = new PrivateRegistry(join(home, 'registry'), await freePort());
    await registry.start();
    env = kwokTaskEnv(home, cluster, { OPENSHELL_DEV_REGISTRY_PORT: String(registry.port), CONTAINER_ENGINE: 'docker', DOCKER_HOST: process.env.DOCKER_HOST });
    if (!dockerSkip) {
      const bins = join(home, 'bin');
      syncArgs = ['--gateway-bin', fixtureBinary(bins, 'openshell-gateway'), '--supervisor-bin', fixtureBinary(bins, 'openshell-sandbox')];
    }
    const up = await runTask('up', [], env, { timeoutMs: 180_000 });
    assert.equal(up.code, 0, describeRun(up));
  });

  after(async () => {
    if (home) await forceDown(env);
    await registry?.stop();
    rmTree(home);
  });

  describe('registry down', { skip: dockerSkip }, () => {
    test('sync pushes to the private registry while it is up', T, async () => {
      succeeded(await runTask('sync', syncArgs, env, { timeoutMs: 200_000 }));
      assert.ok(await tagDigest(registry.host, 'openshell-gateway', 'dev'));
    });

    test('with the registry stopped, sync and bootstrap fail naming it, and change nothing in the cluster', T, async () => {
      await registry.stop();
      const sync = await runTask('sync', syncArgs, env, { timeoutMs: 60_000 });
      clearFailure(sync, new RegExp(`no registry answers at localhost:${registry.port} \\(ECONNREFUSED\\)`));
      assert.doesNotMatch(sync.out, /building/);
      const boot = await runTask('bootstrap', [], env, { timeoutMs: 120_000 });
      clearFailure(boot, new RegExp(`no registry answers at localhost:${registry.port}.*k8s:dev:sync`));
      const releases = kubectlOk(kc, ['get', 'secrets', '-A', '-l', 'owner=helm', '-o', 'name']).trim();
      assert.equal(releases, '', 'a release was installed without images');
    });

    test('after the registry is back, the images are still there, sync skips and bootstrap succeeds', T, async () => {
      await registry.start();
      assert.ok(await tagDigest(registry.host, 'openshell-supervisor', 'dev'), 'the pushed image was lost');
      const sync = await runTask('sync', syncArgs, env, { timeoutMs: 120_000 });
      succeeded(sync);
      assert.match(sync.out, /openshell-gateway:dev unchanged/);
      const boot = await runTask('bootstrap', [], env, { timeoutMs: 180_000 });
      succeeded(boot);
      assert.match(boot.out, /installing release openshell/);
    });
  });

  describe('Docker down', { skip: dockerSkip }, () => {
    test('a DOCKER_HOST nobody answers: sync says docker does not answer there and how to start it', T, async () => {
      const dead = `unix://${join(home, 'dead-docker.sock')}`;
      const r = await runTask('sync', syncArgs, { ...env, DOCKER_HOST: dead }, { timeoutMs: 60_000 });
      clearFailure(r, new RegExp(`docker does not answer at ${dead.replaceAll('.', '\\.')}.*: start it with`));
      assert.ok(await tagDigest(registry.host, 'openshell-gateway', 'dev'), 'the registry lost its image');
    });

    test('the same sync against the real engine succeeds', T, async () => {
      const fresh = fixtureBinary(join(home, 'bin-docker'), 'openshell-sandbox');
      const r = await runTask('sync', ['--only', 'supervisor', '--supervisor-bin', fresh], env, { timeoutMs: 200_000 });
      succeeded(r);
      assert.match(r.out, /openshell-supervisor:dev pushed/);
    });
  });

  describe('API server down in the middle of bootstrap', { skip: imagesSkip }, () => {
    test('bootstrap fails with a clear error when kube-apiserver dies while it waits', T, async (t) => {
      const pidFile = join(home, '.kwok', 'clusters', cluster, 'pids', 'kube-apiserver.pid');
      assert.ok(existsSync(pidFile), `${pidFile} missing`);
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      let killed = false;
      // --force: apply and upgrade again, so there is a wait to interrupt (helm --wait for the gateway).
      const r = await runTask('bootstrap', ['--force'], { ...env, OPENSHELL_DEV_TIMEOUT: '20' }, {
        timeoutMs: 120_000,
        onOutput: (_chunk, soFar) => {
          if (!killed && /(installing|upgrading) release openshell/.test(soFar)) {
            killed = true;
            process.kill(pid, 'SIGKILL');
          }
        },
      });
      assert.ok(killed, `bootstrap never reached the upgrade:\n${r.out}`);
      t.diagnostic(`bootstrap after the kill: exit ${r.code} in ${(r.ms / 1000).toFixed(1)}s; last line: ${r.out.trim().split('\n').pop()}`);
      // One FAIL line naming what failed, then the cause (helm: "kubernetes cluster unreachable … connection refused").
      clearFailure(r, /FAIL [^\n]*(\n[^\n]*)?(connection refused|ECONNREFUSED|no answer from the API server|timed out)/i);
      assert.equal(r.out.match(/^FAIL /gm)?.length, 1, 'one error, not a cascade');
    });

    test('up restarts the stopped control plane; bootstrap and status succeed again', T, async () => {
      const up = await runTask('up', [], env, { timeoutMs: 180_000 });
      succeeded(up);
      assert.match(up.out, new RegExp(`starting kwok cluster ${cluster}`));
      const boot = await runTask('bootstrap', [], env, { timeoutMs: 180_000 });
      succeeded(boot);
      const status = await runTask('status', [], env, { timeoutMs: 60_000 });
      succeeded(status);
      assert.match(status.out, /healthy/);
    });
  });

  describe('a corrupt kubeconfig', () => {
    test('up with MERGE on fails naming the file, and leaves it byte-identical; a re-run after the fix merges', T, async () => {
      const userKc = join(home, '.kube', 'config');
      mkdirSync(join(home, '.kube'), { recursive: true });
      const corrupt = 'apiVersion: v1\nclusters:\n  - name: prod\n    cluster: {server: https://prod:6443\n  bad: [\n';
      writeFileSync(userKc, corrupt, { mode: 0o600 });
      const merge = { ...env, OPENSHELL_DEV_MERGE_KUBECONFIG: 'true' };
      const r = await runTask('up', [], merge, { timeoutMs: 120_000 });
      clearFailure(r, new RegExp(`${userKc.replaceAll('.', '\\.')} is not valid YAML.*nothing was written`));
      assert.equal(readFileSync(userKc, 'utf8'), corrupt, 'the corrupt file was changed');
      assert.equal(existsSync(`${userKc}.openshell-dev.bak`), false);
      // The cluster and its own kubeconfig are untouched.
      kubectlOk(kc, ['get', 'nodes']);
      writeFileSync(userKc, 'apiVersion: v1\nkind: Config\n');
      const again = await runTask('up', [], merge, { timeoutMs: 120_000 });
      succeeded(again);
      assert.match(readFileSync(userKc, 'utf8'), new RegExp(`name: kwok-${cluster}`));
    });
  });
});

describe('a port in use, with a fake k3d (k3s cannot run here)', { skip: missingDocker() }, () => {
  let dir = '';
  let calls = '';
  let env: NodeJS.ProcessEnv = {};
  let busy: Awaited<ReturnType<typeof listen>>;

  before(async () => {
    dir = tempDir('port');
    calls = join(dir, 'k3d-calls.log');
    mkdirSync(join(dir, 'bin'));
    const k3d = join(dir, 'bin', 'k3d');
    // Answers the read-only questions like a k3d with no clusters and no registries; records every call.
    writeFileSync(
      k3d,
      `#!/bin/sh
echo "$*" >> '${calls}'
case "$*" in
  version) echo "k3d version v5.8.3"; echo "k3s version v1.35.1-k3s1 (default)";;
  "cluster list -o json"|"registry list -o json") echo '[]';;
  *) echo "fake k3d: refusing $*" >&2; exit 3;;
esac
`,
    );
    chmodSync(k3d, 0o755);
    busy = await listen(0);
    env = taskEnv(dir, {
      PATH: `${join(dir, 'bin')}:${process.env.PATH}`,
      OPENSHELL_DEV_CLUSTER_PROVIDER: 'k3d',
      OPENSHELL_DEV_CLUSTER: uniqueName('e2e-port'),
      OPENSHELL_DEV_HTTP_PORT: String(busy.port),
      OPENSHELL_DEV_REGISTRY_PORT: String(await freePort()),
      OPENSHELL_DEV_KUBECONFIG: join(dir, 'kubeconfig.yaml'),
      CONTAINER_ENGINE: 'docker',
      DOCKER_HOST: process.env.DOCKER_HOST,
    });
  });
  after(async () => {
    if (busy) await new Promise((r) => busy.server.close(r));
    rmTree(dir);
  });

  test('up exits 2 naming OPENSHELL_DEV_HTTP_PORT and never runs k3d cluster create (fake k3d stand-in records the calls)', T, async () => {
    const r = await runTask('up', [], env, { timeoutMs: 60_000 });
    clearFailure(r, new RegExp(`OPENSHELL_DEV_HTTP_PORT=${busy.port} is not valid: the port is in use`), 2);
    assert.doesNotMatch(r.out, /OPENSHELL_DEV_REGISTRY_PORT/);
    const log = readFileSync(calls, 'utf8');
    assert.match(log, /^cluster list -o json$/m, `k3d calls:\n${log}`);
    assert.doesNotMatch(log, /cluster create/, `k3d calls:\n${log}`);
    assert.equal(existsSync(join(dir, 'kubeconfig.yaml')), false);
  });

  test('with the port freed, up goes on to k3d cluster create (the fake k3d stand-in refuses it)', T, async () => {
    await new Promise((r) => busy.server.close(r));
    const r = await runTask('up', [], env, { timeoutMs: 60_000 });
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.out, /OPENSHELL_DEV_HTTP_PORT/);
    assert.match(readFileSync(calls, 'utf8'), /^cluster create --config -$/m);
  });
});
