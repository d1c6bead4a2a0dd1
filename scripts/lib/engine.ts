// The container engine: Docker or Podman, and the DOCKER_HOST (plus k3d's
// DOCKER_SOCK) that points every Docker-API client at it. Resolution is a pure
// function of the facts (OS, environment, uid, Podman machine socket) so the
// whole OS × engine × environment table is unit-tested; probing is separate.
import { homedir } from 'node:os';
import type { EngineName } from './settings.ts';
import { $ } from 'zx';
import type { TaskContext } from './task.ts';
import { UserError } from './task.ts';

export interface EngineFacts {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  uid: number;
  home: string;
  /** The socket `podman machine inspect` reports (macOS), when it reports one. */
  podmanMachineSocket?: string | undefined;
}

export interface EngineEndpoint {
  /** unix://… for Podman; the user's own DOCKER_HOST (or unset) for Docker. */
  dockerHost: string | undefined;
  /** Socket path k3d mounts into its tools container; unset means k3d's default. */
  dockerSock: string | undefined;
}

export interface Engine extends EngineEndpoint {
  name: EngineName;
  /** The CLI that speaks to it: docker when installed (also against Podman's API socket), else podman. */
  cli: 'docker' | 'podman';
  /** Why this engine was chosen, for doctor and status. */
  reason: string;
}

const unixPath = (host: string | undefined) => (host?.startsWith('unix://') ? host.slice('unix://'.length) : undefined);

/** DOCKER_HOST and DOCKER_SOCK for an engine, per the seed's table. */
export function endpointFor(engine: EngineName, f: EngineFacts): EngineEndpoint {
  if (engine === 'docker') {
    // Docker: the default socket, unless the user points DOCKER_HOST elsewhere (rootless, colima, a context).
    const host = f.env.DOCKER_HOST || undefined;
    return { dockerHost: host, dockerSock: unixPath(host) };
  }
  let sock: string;
  if (f.platform === 'darwin') {
    sock = f.podmanMachineSocket || `${f.home}/.local/share/containers/podman/machine/podman.sock`;
  } else if (f.env.XDG_RUNTIME_DIR) {
    sock = `${f.env.XDG_RUNTIME_DIR}/podman/podman.sock`;
  } else if (f.uid === 0) {
    sock = '/run/podman/podman.sock';
  } else {
    sock = `/run/user/${f.uid}/podman/podman.sock`;
  }
  return { dockerHost: `unix://${sock}`, dockerSock: sock };
}

/** Environment for child processes that talk to the engine (undefined removes a variable). */
export function engineEnv(e: EngineEndpoint): NodeJS.ProcessEnv {
  return { DOCKER_HOST: e.dockerHost, DOCKER_SOCK: e.dockerSock };
}

/** How to start an engine that does not answer. */
export function startHint(engine: EngineName, platform: NodeJS.Platform, e: EngineEndpoint): string {
  if (engine === 'docker') {
    return platform === 'darwin'
      ? 'start Docker Desktop (or your Docker VM), then re-run'
      : 'start it with `sudo systemctl start docker` (or run `dockerd` in the background), then re-run';
  }
  if (platform === 'darwin') return 'start the Podman machine with `podman machine start` (first time: `podman machine init`), then re-run';
  const rootful = e.dockerSock === '/run/podman/podman.sock';
  return rootful
    ? 'start the Podman API socket with `sudo systemctl enable --now podman.socket`, then re-run'
    : `start the Podman API socket with \`systemctl --user enable --now podman.socket\` (or \`podman system service --time=0 ${e.dockerHost} &\`), then re-run`;
}

async function onPath(bin: string): Promise<boolean> {
  return (await $({ nothrow: true, timeout: '5s' })`command -v ${bin}`).ok;
}

/** Pick the engine: CONTAINER_ENGINE, else a docker CLI (a docker that is really Podman counts as Podman), else podman. */
export async function detectEngine(ctx: TaskContext): Promise<Engine> {
  const [hasDocker, hasPodman] = await Promise.all([onPath('docker'), onPath('podman')]);
  let name: EngineName;
  let reason: string;
  if (ctx.settings.engine) {
    name = ctx.settings.engine;
    reason = `CONTAINER_ENGINE=${name}`;
  } else if (hasDocker) {
    const version = await $({ nothrow: true, timeout: '10s' })`docker --version`;
    const isPodman = /podman/i.test(version.stdout + version.stderr);
    name = isPodman ? 'podman' : 'docker';
    reason = isPodman ? '`docker` on PATH is Podman' : '`docker` on PATH';
  } else if (hasPodman) {
    name = 'podman';
    reason = '`podman` on PATH (no docker)';
  } else {
    throw new UserError(
      'no container engine found: install Docker (https://docs.docker.com/get-docker/) or Podman (https://podman.io/docs/installation), or set CONTAINER_ENGINE=docker|podman',
    );
  }
  const cli = hasDocker ? 'docker' : hasPodman ? 'podman' : name;
  let podmanMachineSocket: string | undefined;
  if (name === 'podman' && process.platform === 'darwin' && hasPodman) {
    const r = await $({ nothrow: true, timeout: '10s' })`podman machine inspect --format ${'{{.ConnectionInfo.PodmanSocket.Path}}'}`;
    podmanMachineSocket = r.ok ? r.stdout.trim().split('\n')[0] : undefined;
  }
  const endpoint = endpointFor(name, {
    platform: process.platform,
    env: ctx.env,
    uid: process.getuid?.() ?? 1000,
    home: ctx.env.HOME ?? homedir(),
    podmanMachineSocket,
  });
  return { name, cli, reason, ...endpoint };
}

/** The engine answers its API, or a UserError that says how to start it. */
export async function pingEngine(e: Engine): Promise<string> {
  // The environment already points at the engine (pointAtEngine).
  const r = await $({ nothrow: true, timeout: '15s' })`${e.cli} version --format ${'{{.Server.Version}}'}`;
  if (r.ok && r.stdout.trim() !== '') return r.stdout.trim();
  const where = e.dockerHost ?? 'the default Docker socket';
  const why = (r.stderr || r.stdout).trim().split('\n').pop() ?? '';
  throw new UserError(`${e.name} does not answer at ${where}${why ? ` (${why})` : ''}: ${startHint(e.name, process.platform, e)}`);
}

/** Point the task's environment (and so every later command) at the engine. */
export function pointAtEngine(e: EngineEndpoint): void {
  for (const [k, v] of Object.entries(engineEnv(e))) {
    if (v === undefined) delete $.env[k];
    else $.env[k] = v;
  }
}

/** Detect, point the task's environment at the engine, and check it answers. */
export async function useEngine(ctx: TaskContext): Promise<Engine> {
  const e = await detectEngine(ctx);
  pointAtEngine(e);
  await pingEngine(e);
  return e;
}
