// The hot-swap against real container filesystems. There is no kubelet on the
// test bed, so Docker stands in for one: each "pod" is a volume (the emptyDir)
// filled by an init container running the supervisor image's
// `copy-self /opt/openshell/bin/openshell-sandbox`, and an agent container
// running that binary as PID 1. hotSwap() is the very function
// k8s:dev:sideload uses, with `docker cp`/`docker exec` as the transport
// instead of `kubectl cp`/`kubectl exec`.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  buildAgentImage,
  buildFakeSupervisor,
  buildImage,
  removeStandInPods,
  standInName,
  startStandInPod,
  versionIn,
  type StandIn,
} from '../../scripts/bench/sideload.ts';
import { memoryLogger } from '../../scripts/lib/log.ts';
import { loadSettings } from '../../scripts/lib/settings.ts';
import { dockerTransport, hotSwap, sha256File, SUPERVISOR_BINARY, supervisorDockerfile, type SwapTransport } from '../../scripts/lib/sideload.ts';
import { $ } from '../../scripts/lib/sh.ts';
import { createContext, type TaskContext } from '../../scripts/lib/task.ts';
import { missingDocker, missingTools } from '../support/requires.ts';
import { waitUntil } from '../support/e2e.ts';

const skip = missingDocker() || missingTools('gcc') || (process.platform === 'linux' ? false : 'needs Linux (static stand-in binaries)');
const def = { name: 'e2e-sideload-docker', summary: '', main: async () => {} };

describe('hot-swap with Docker standing in for a kubelet (docker cp / docker exec transport)', { skip }, () => {
  const run = `${process.pid}-${Date.now().toString(36)}`;
  const work = mkdtempSync(join(tmpdir(), 'openshell-e2e-sideload-'));
  const s: StandIn = { cli: 'docker', agentImage: `openshell-e2e-agent:${run}`, prefix: `openshell-e2e-sideload-${run}` };
  const supervisorImage = `openshell-e2e-supervisor:${run}`;
  let ctx: TaskContext;
  let v2 = '';
  let v3 = '';
  const PODS = 4; // 0..2 writable, 3 mounted read-only

  before(async () => {
    const env = { ...process.env, HOME: work };
    ctx = createContext(def, { argv: [], env, log: memoryLogger(false), settings: loadSettings({ env, root: work, home: work }) });
    const v1 = await buildFakeSupervisor(ctx, work, 'v1');
    v2 = await buildFakeSupervisor(ctx, work, 'v2', 4);
    v3 = await buildFakeSupervisor(ctx, work, 'v3');
    await buildAgentImage(ctx, 'docker', s.agentImage);
    await buildImage(ctx, 'docker', supervisorImage, supervisorDockerfile(), { 'openshell-sandbox': v1 });
    for (let i = 0; i < PODS; i++) await startStandInPod(ctx, s, i, supervisorImage, { readOnly: i === 3 });
  });

  after(async () => {
    if (ctx) {
      await removeStandInPods(ctx, s, PODS);
      await $({ nothrow: true, timeout: '60s' })`docker rmi -f ${s.agentImage} ${supervisorImage}`;
    }
    rmSync(work, { recursive: true, force: true });
  });

  const exec = async (i: number, ...argv: string[]) => (await $({ timeout: '30s' })`docker exec ${standInName(s, i)} ${argv}`).stdout.trim();

  test('the init container copied v1 in (copy-self) and it runs as PID 1', async () => {
    for (let i = 0; i < PODS; i++) assert.equal(await versionIn(ctx, 'docker', standInName(s, i)), 'openshell-sandbox v1');
    assert.equal(await exec(0, 'readlink', '/proc/1/exe'), SUPERVISOR_BINARY);
  });

  test('swaps v2 into three running containers, two at a time: checksum matches, no temporary file left', async () => {
    const targets = [0, 1, 2].map((i) => ({ name: standInName(s, i) }));
    const outcomes = await hotSwap(ctx, dockerTransport(), targets, { localPath: v2, concurrency: 2 });
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['updated', 'updated', 'updated'],
      outcomes.map((o) => o.detail).join('; '),
    );
    const sum = await sha256File(v2);
    for (const i of [0, 1, 2]) {
      assert.equal(await versionIn(ctx, 'docker', standInName(s, i)), 'openshell-sandbox v2');
      assert.equal((await exec(i, 'sha256sum', SUPERVISOR_BINARY)).split(/\s+/)[0], sum);
      assert.equal(await exec(i, 'ls', '-A', '/opt/openshell/bin'), 'openshell-sandbox');
      assert.equal(await exec(i, 'stat', '-c', '%a', SUPERVISOR_BINARY), '755');
    }
  });

  test('the running binary was never written in place: PID 1 still runs the old, now unlinked, inode', async () => {
    assert.equal(await exec(0, 'readlink', '/proc/1/exe'), `${SUPERVISOR_BINARY} (deleted)`);
    const state = (await $`docker inspect -f ${'{{.State.Running}} {{.RestartCount}}'} ${standInName(s, 0)}`).stdout.trim();
    assert.equal(state, 'true 0');
  });

  test('a read-only mount is reported as read-only and left untouched', async () => {
    const [o] = await hotSwap(ctx, dockerTransport(), [{ name: standInName(s, 3) }], { localPath: v2 });
    assert.equal(o!.status, 'read-only', o!.detail);
    assert.equal(await versionIn(ctx, 'docker', standInName(s, 3)), 'openshell-sandbox v1');
  });

  test('a corrupted transfer fails the checksum: old binary kept, temporary file removed', async () => {
    const honest = dockerTransport();
    // Delivers v3 while the caller expects v2's checksum.
    const corrupting: SwapTransport = { ...honest, copy: (t, _local, remote) => honest.copy(t, v3, remote) };
    const [o] = await hotSwap(ctx, corrupting, [{ name: standInName(s, 1) }], { localPath: v2 });
    assert.equal(o!.status, 'failed');
    assert.match(o!.detail, /checksum mismatch, old binary kept/);
    assert.equal(await versionIn(ctx, 'docker', standInName(s, 1)), 'openshell-sandbox v2');
    assert.equal(await exec(1, 'ls', '-A', '/opt/openshell/bin'), 'openshell-sandbox');
  });

  test('--restart: the agent container restarts and now runs the swapped binary (the volume survives, as an emptyDir does)', async () => {
    const name = standInName(s, 2);
    const [o] = await hotSwap(ctx, dockerTransport(), [{ name }], { localPath: v3, restart: true });
    assert.equal(o!.status, 'updated', o!.detail);
    let logs = '';
    await waitUntil(`${name} to print v3 after its restart`, 60_000, async () => {
      logs = (await $({ nothrow: true, timeout: '10s' })`docker logs ${name}`).stdout;
      return logs.includes('openshell-sandbox v3');
    });
    assert.match(logs, /openshell-sandbox v3/);
    assert.equal(await exec(2, 'readlink', '/proc/1/exe'), SUPERVISOR_BINARY);
  });
});
