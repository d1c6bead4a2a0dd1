// Container engine resolution: the OS × engine × environment table through the
// pure endpointFor, detection through a scripted executor, and two real runs of
// the doctor (a Podman socket from XDG_RUNTIME_DIR; no engine on PATH at all).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { detectEngine, endpointFor, pingEngine, startHint, useEngine, type EngineFacts } from '../../scripts/lib/engine.ts';
import { memoryLogger } from '../../scripts/lib/log.ts';
import { $ } from 'zx';
import { answer, history, reset, type Rule } from '../../scripts/lib/sh.ts';
import { KIT_ROOT, loadSettings, type EngineName } from '../../scripts/lib/settings.ts';
import { createContext, UserError } from '../../scripts/lib/task.ts';
import { which } from '../support/requires.ts';
import { pinSettings } from '../support/settings-env.ts';

const work = mkdtempSync(join(tmpdir(), 'openshell-engine-unit-'));
after(() => rmSync(work, { recursive: true, force: true }));

const HOME = '/home/ann';
type Row = [
  platform: NodeJS.Platform,
  engine: EngineName,
  env: NodeJS.ProcessEnv,
  uid: number,
  machineSocket: string | undefined,
  dockerHost: string | undefined,
  dockerSock: string | undefined,
];

// Every cell of the seed's table and the environment facts around it.
const table: Row[] = [
  // Docker: the default socket (both unset), whatever else is around...
  ['linux', 'docker', {}, 1000, undefined, undefined, undefined],
  ['linux', 'docker', {}, 0, undefined, undefined, undefined],
  ['linux', 'docker', { XDG_RUNTIME_DIR: '/run/user/1000' }, 1000, undefined, undefined, undefined],
  ['darwin', 'docker', {}, 501, undefined, undefined, undefined],
  ['darwin', 'docker', {}, 501, '/Users/ann/.podman/sock', undefined, undefined],
  ['darwin', 'docker', { XDG_RUNTIME_DIR: '/tmp/xdg' }, 501, undefined, undefined, undefined],
  // ...but a user's own DOCKER_HOST is kept (rootless Docker, colima, a TCP daemon).
  ['linux', 'docker', { DOCKER_HOST: 'unix:///run/user/1000/docker.sock' }, 1000, undefined, 'unix:///run/user/1000/docker.sock', '/run/user/1000/docker.sock'],
  ['linux', 'docker', { DOCKER_HOST: 'tcp://10.0.0.5:2375', XDG_RUNTIME_DIR: '/x' }, 0, undefined, 'tcp://10.0.0.5:2375', undefined],
  ['darwin', 'docker', { DOCKER_HOST: 'unix:///Users/ann/.colima/docker.sock' }, 501, undefined, 'unix:///Users/ann/.colima/docker.sock', '/Users/ann/.colima/docker.sock'],
  ['linux', 'docker', { DOCKER_HOST: '' }, 1000, undefined, undefined, undefined],
  // Podman on macOS: the machine's socket, else the default machine path under $HOME.
  ['darwin', 'podman', {}, 501, '/var/folders/xy/T/podman/podman-machine-default-api.sock', 'unix:///var/folders/xy/T/podman/podman-machine-default-api.sock', '/var/folders/xy/T/podman/podman-machine-default-api.sock'],
  ['darwin', 'podman', {}, 501, undefined, `unix://${HOME}/.local/share/containers/podman/machine/podman.sock`, `${HOME}/.local/share/containers/podman/machine/podman.sock`],
  ['darwin', 'podman', {}, 501, '', `unix://${HOME}/.local/share/containers/podman/machine/podman.sock`, `${HOME}/.local/share/containers/podman/machine/podman.sock`],
  ['darwin', 'podman', { XDG_RUNTIME_DIR: '/tmp/xdg' }, 501, undefined, `unix://${HOME}/.local/share/containers/podman/machine/podman.sock`, `${HOME}/.local/share/containers/podman/machine/podman.sock`],
  ['darwin', 'podman', { DOCKER_HOST: 'unix:///var/run/docker.sock' }, 0, '/m.sock', 'unix:///m.sock', '/m.sock'],
  // Podman on Linux: $XDG_RUNTIME_DIR, else root's socket, else /run/user/<uid>.
  ['linux', 'podman', { XDG_RUNTIME_DIR: '/run/user/1000' }, 1000, undefined, 'unix:///run/user/1000/podman/podman.sock', '/run/user/1000/podman/podman.sock'],
  ['linux', 'podman', { XDG_RUNTIME_DIR: '/x' }, 0, undefined, 'unix:///x/podman/podman.sock', '/x/podman/podman.sock'],
  ['linux', 'podman', {}, 0, undefined, 'unix:///run/podman/podman.sock', '/run/podman/podman.sock'],
  ['linux', 'podman', {}, 1000, undefined, 'unix:///run/user/1000/podman/podman.sock', '/run/user/1000/podman/podman.sock'],
  ['linux', 'podman', { XDG_RUNTIME_DIR: '' }, 1234, undefined, 'unix:///run/user/1234/podman/podman.sock', '/run/user/1234/podman/podman.sock'],
  ['linux', 'podman', {}, 1000, '/ignored/on/linux.sock', 'unix:///run/user/1000/podman/podman.sock', '/run/user/1000/podman/podman.sock'],
  ['linux', 'podman', { DOCKER_HOST: 'unix:///var/run/docker.sock' }, 0, undefined, 'unix:///run/podman/podman.sock', '/run/podman/podman.sock'],
];

describe('endpointFor: OS × engine × environment → DOCKER_HOST, DOCKER_SOCK', () => {
  for (const [platform, engine, env, uid, podmanMachineSocket, dockerHost, dockerSock] of table) {
    const facts: EngineFacts = { platform, env, uid, home: HOME, podmanMachineSocket };
    test(`${platform} ${engine} ${JSON.stringify(env)} uid=${uid}${podmanMachineSocket !== undefined ? ` machine=${JSON.stringify(podmanMachineSocket)}` : ''}`, () => {
      assert.deepEqual(endpointFor(engine, facts), { dockerHost, dockerSock });
    });
  }
});

test('startHint says how to start each engine', () => {
  assert.match(startHint('docker', 'linux', { dockerHost: undefined, dockerSock: undefined }), /systemctl start docker/);
  assert.match(startHint('docker', 'darwin', { dockerHost: undefined, dockerSock: undefined }), /Docker Desktop/);
  assert.match(startHint('podman', 'darwin', endpointFor('podman', { platform: 'darwin', env: {}, uid: 501, home: HOME })), /podman machine start/);
  assert.match(startHint('podman', 'linux', endpointFor('podman', { platform: 'linux', env: {}, uid: 0, home: '/root' })), /sudo systemctl enable --now podman\.socket/);
  const rootless = startHint('podman', 'linux', endpointFor('podman', { platform: 'linux', env: { XDG_RUNTIME_DIR: '/x' }, uid: 1000, home: HOME }));
  assert.match(rootless, /systemctl --user enable --now podman\.socket/);
  assert.match(rootless, /podman system service --time=0 unix:\/\/\/x\/podman\/podman\.sock/);
});

// --- detection through scripted answers ------------------------------------

const def = { name: 'engine', summary: '', main: async () => {} };
type Rules = Rule[];

/** `command -v` answers for the binaries in `onPath`. */
function pathRule(onPath: string[]): Rules[number] {
  return [/^command -v /, (ran) => {
    const bin = ran.cmd.split(' ')[2]!;
    return onPath.includes(bin) ? { stdout: `/usr/bin/${bin}\n` } : { code: 1 };
  }];
}

function ctxWith(env: NodeJS.ProcessEnv, rules: Rules) {
  reset();
  answer(rules);
  const executor = { get calls() { return history.map((h) => h.cmd); } };
  const fullEnv = { HOME: work, OPENSHELL_DEV_KUBECONFIG: join(work, 'kc.yaml'), ...env };
  const settings = loadSettings({ env: fullEnv, root: work, home: work });
  const ctx = createContext(def, { argv: [], env: fullEnv, settings, log: memoryLogger() });
  return { ctx, executor };
}

const linuxOnly = process.platform === 'linux' ? false : 'detectEngine resolves with this machine\'s platform; the table above covers macOS';

describe('detectEngine', { skip: linuxOnly }, () => {
  test('CONTAINER_ENGINE wins over a docker on PATH, without asking docker what it is', async () => {
    const { ctx, executor } = ctxWith({ CONTAINER_ENGINE: 'podman', XDG_RUNTIME_DIR: '/x' }, [pathRule(['docker', 'podman'])]);
    const e = await detectEngine(ctx);
    assert.equal(e.name, 'podman');
    assert.equal(e.cli, 'docker');
    assert.equal(e.reason, 'CONTAINER_ENGINE=podman');
    assert.equal(e.dockerHost, 'unix:///x/podman/podman.sock');
    assert.equal(e.dockerSock, '/x/podman/podman.sock');
    assert.ok(!executor.calls.includes('docker --version'));
  });

  test('a docker whose --version says podman counts as Podman', async () => {
    const { ctx } = ctxWith({ XDG_RUNTIME_DIR: '/run/user/1000' }, [pathRule(['docker']), ['docker --version', { stdout: 'podman version 4.3.1\n' }]]);
    const e = await detectEngine(ctx);
    assert.equal(e.name, 'podman');
    assert.equal(e.cli, 'docker');
    assert.match(e.reason, /Podman/);
    assert.equal(e.dockerHost, 'unix:///run/user/1000/podman/podman.sock');
  });

  test('a real docker is Docker and keeps the user\'s DOCKER_HOST', async () => {
    const { ctx, executor } = ctxWith({ DOCKER_HOST: 'tcp://10.1.2.3:2375' }, [pathRule(['docker', 'podman']), ['docker --version', { stdout: 'Docker version 28.2.2, build e6534b4\n' }]]);
    const e = await detectEngine(ctx);
    assert.deepEqual({ name: e.name, cli: e.cli, dockerHost: e.dockerHost, dockerSock: e.dockerSock }, { name: 'docker', cli: 'docker', dockerHost: 'tcp://10.1.2.3:2375', dockerSock: undefined });
    assert.deepEqual(executor.calls.filter((c) => !c.startsWith('command ')), ['docker --version']);
  });

  test('only podman on PATH: Podman through its own CLI (no podman machine outside macOS)', async () => {
    const { ctx, executor } = ctxWith({}, [pathRule(['podman'])]);
    const e = await detectEngine(ctx);
    assert.ok(!executor.calls.some((c) => c.startsWith('podman machine')), executor.calls.join('\n'));
    assert.equal(e.name, 'podman');
    assert.equal(e.cli, 'podman');
    assert.match(e.reason, /no docker/);
  });

  test('no engine at all: a UserError naming Docker and Podman and the fix', async () => {
    const { ctx } = ctxWith({}, [pathRule([])]);
    await assert.rejects(detectEngine(ctx), (err: Error) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /no container engine found/);
      assert.match(err.message, /install Docker \(https:\/\/docs\.docker\.com/);
      assert.match(err.message, /Podman \(https:\/\/podman\.io/);
      assert.match(err.message, /CONTAINER_ENGINE=docker\|podman/);
      return true;
    });
  });

  test('pingEngine: the version when it answers; else how to start it, with the reason', async () => {
    const up = ctxWith({}, [pathRule(['docker']), ['docker --version', { stdout: 'Docker version 28.2.2' }], ['docker version', { stdout: '28.2.2\n' }]]);
    assert.equal(await pingEngine(await detectEngine(up.ctx)), '28.2.2');

    const down = ctxWith({}, [
      pathRule(['docker']),
      ['docker --version', { stdout: 'Docker version 28.2.2' }],
      ['docker version', { code: 1, stdout: 'Client: 28.2.2\n', stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n' }],
    ]);
    await assert.rejects(pingEngine(await detectEngine(down.ctx)), (err: Error) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /^docker does not answer at the default Docker socket/);
      assert.match(err.message, /Is the docker daemon running\?/);
      assert.match(err.message, /sudo systemctl start docker/);
      return true;
    });

    const podman = ctxWith({ CONTAINER_ENGINE: 'podman', XDG_RUNTIME_DIR: '/x' }, [pathRule(['podman']), ['podman version', { code: 125, stderr: 'Error: unable to connect to Podman socket\n' }]]);
    await assert.rejects(pingEngine(await detectEngine(podman.ctx)), /podman does not answer at unix:\/\/\/x\/podman\/podman\.sock \(Error: unable to connect to Podman socket\): start the Podman API socket/);
    // An engine that exits 0 but prints no server version is not up either.
    const empty = ctxWith({}, [pathRule(['docker']), ['docker --version', { stdout: 'Docker version 28' }], ['docker version', { stdout: '' }]]);
    await assert.rejects(pingEngine(await detectEngine(empty.ctx)), UserError);
  });

  test('a docker whose --version fails is still Docker (the check does not throw), said plainly', async () => {
    const { ctx } = ctxWith({}, [pathRule(['docker']), ['docker --version', { code: 1, stderr: 'broken\n' }]]);
    const e = await detectEngine(ctx);
    assert.deepEqual({ name: e.name, cli: e.cli, reason: e.reason }, { name: 'docker', cli: 'docker', reason: '`docker` on PATH' });
  });

  test('Podman on Linux without XDG_RUNTIME_DIR: the socket of this user (rootful for root)', async () => {
    const { ctx } = ctxWith({ CONTAINER_ENGINE: 'podman' }, [pathRule(['podman'])]);
    const e = await detectEngine(ctx);
    const uid = process.getuid!();
    assert.equal(e.dockerSock, uid === 0 ? '/run/podman/podman.sock' : `/run/user/${uid}/podman/podman.sock`);
  });

  describe('on macOS (process.platform stubbed)', () => {
    const real = Object.getOwnPropertyDescriptor(process, 'platform')!;
    const onDarwin = async <T>(fn: () => Promise<T>): Promise<T> => {
      Object.defineProperty(process, 'platform', { ...real, value: 'darwin' });
      try {
        return await fn();
      } finally {
        Object.defineProperty(process, 'platform', real);
      }
    };
    const inspect = "podman machine inspect --format $'{{.ConnectionInfo.PodmanSocket.Path}}'";

    test('Podman: the socket path comes from podman machine inspect (first line)', async () => {
      const { ctx, executor } = ctxWith({ HOME: '/Users/ann' }, [pathRule(['podman']), [inspect, { stdout: '  /var/folders/x/podman-machine-default-api.sock\nextra\n' }]]);
      const e = await onDarwin(() => detectEngine(ctx));
      assert.equal(e.dockerHost, 'unix:///var/folders/x/podman-machine-default-api.sock');
      assert.ok(executor.calls.includes(inspect), executor.calls.join('\n'));
    });

    test('Podman: when inspect fails, the default machine socket under the task\'s HOME', async () => {
      const { ctx } = ctxWith({ HOME: '/Users/ann' }, [pathRule(['podman']), [inspect, { code: 125, stdout: '/not/this.sock\n' }]]);
      const e = await onDarwin(() => detectEngine(ctx));
      assert.equal(e.dockerSock, '/Users/ann/.local/share/containers/podman/machine/podman.sock');
    });

    test('no podman machine is asked about for Docker, nor without a podman CLI', async () => {
      const docker = ctxWith({ HOME: '/Users/ann' }, [pathRule(['docker', 'podman']), ['docker --version', { stdout: 'Docker version 28' }]]);
      await onDarwin(() => detectEngine(docker.ctx));
      const viaDocker = ctxWith({ HOME: '/Users/ann', CONTAINER_ENGINE: 'podman' }, [pathRule(['docker'])]);
      const e = await onDarwin(() => detectEngine(viaDocker.ctx));
      assert.equal(e.dockerSock, '/Users/ann/.local/share/containers/podman/machine/podman.sock');
      for (const x of [docker.executor, viaDocker.executor]) assert.ok(!x.calls.some((c) => c.startsWith('podman machine')), x.calls.join('\n'));
    });
  });

  test('pingEngine: blank output is not a version; an engine that says nothing gets no empty parentheses', async () => {
    const blank = ctxWith({}, [pathRule(['docker']), ['docker --version', { stdout: 'Docker version 28' }], ['docker version', { stdout: '  \n' }]]);
    await assert.rejects(pingEngine(await detectEngine(blank.ctx)), UserError);
    const silent = ctxWith({}, [pathRule(['docker']), ['docker --version', { stdout: 'Docker version 28' }], ['docker version', { code: 1 }]]);
    await assert.rejects(pingEngine(await detectEngine(silent.ctx)), (err: Error) => {
      assert.match(err.message, /^docker does not answer at the default Docker socket: start it with/);
      return true;
    });
  });

  test('useEngine points later commands at Podman (and removes a stale DOCKER_SOCK for Docker)', async () => {
    const { ctx, executor } = ctxWith({ CONTAINER_ENGINE: 'podman', XDG_RUNTIME_DIR: '/x', DOCKER_SOCK: '/stale' }, [pathRule(['podman']), ['podman version', { stdout: '4.3.1' }]]);
    await useEngine(ctx);
    assert.equal(ctx.env.DOCKER_HOST, 'unix:///x/podman/podman.sock');
    assert.equal(ctx.env.DOCKER_SOCK, '/x/podman/podman.sock');
    await $`k3d cluster list`;
    assert.equal(history.at(-1)!.env.DOCKER_HOST, 'unix:///x/podman/podman.sock');
    assert.ok(executor.calls.includes("podman version --format $'{{.Server.Version}}'"), executor.calls.join('\n'));

    const d = ctxWith({ DOCKER_SOCK: '/stale' }, [pathRule(['docker']), ['docker --version', { stdout: 'Docker version 28' }], ['docker version', { stdout: '28' }]]);
    await useEngine(d.ctx);
    assert.equal(d.ctx.env.DOCKER_HOST, undefined);
    assert.equal('DOCKER_SOCK' in d.ctx.env, false);
  });
});

// --- the real process --------------------------------------------------------

const node = process.execPath;
const doctorScript = join(KIT_ROOT, 'scripts', 'k8s-dev', 'doctor.ts');

function doctor(env: NodeJS.ProcessEnv) {
  const home = mkdtempSync(join(work, 'home-'));
  const r = spawnSync(node, [doctorScript, '--no-smoke'], {
    cwd: KIT_ROOT,
    // Every setting pinned: the kit's .env never reaches the doctor.
    env: pinSettings({ HOME: home, OPENSHELL_DEV_KUBECONFIG: join(home, 'kc.yaml'), CI: 'true', ...env }),
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe('doctor as a process', { skip: linuxOnly }, () => {
  test('CONTAINER_ENGINE=podman XDG_RUNTIME_DIR=/x: resolves the socket there and fails (nothing listens)', () => {
    const r = doctor({ PATH: process.env.PATH, CONTAINER_ENGINE: 'podman', XDG_RUNTIME_DIR: '/x' });
    assert.match(r.out, /DOCKER_HOST=unix:\/\/\/x\/podman\/podman\.sock DOCKER_SOCK=\/x\/podman\/podman\.sock/);
    assert.match(r.out, /\[FAIL\] engine api/);
    assert.match(r.out, /fix: start the Podman API socket/);
    assert.notEqual(r.code, 0);
  });

  test('no docker or podman on PATH: fails naming the missing engine and the fix', () => {
    const bin = join(work, 'bin');
    mkdirSync(bin);
    for (const b of ['node', 'sh', 'kubectl', 'helm']) {
      const target = b === 'node' ? process.execPath : which(b);
      if (target) symlinkSync(target, join(bin, b));
    }
    const r = doctor({ PATH: bin });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /\[FAIL\] engine .*no container engine found: install Docker .* or Podman/);
    assert.match(r.out, /fix: install Docker or Podman, or set CONTAINER_ENGINE=docker\|podman/);
    // Nothing else pretends the engine is there.
    assert.doesNotMatch(r.out, /\[pass\] engine/);
  });
});
