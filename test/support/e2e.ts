// Shared helpers for the end-to-end tier: run a task as a process with an
// isolated environment (a temp HOME, CI=true, nothing inherited but PATH),
// capture what it printed, its exit status and how long it took; make unique
// fixture binaries and names; talk to a cluster with kubectl; a private
// registry on a free loopback port.
//
// Tasks run from a temporary copy of the kit (kitCopy), not from the checkout:
// `sync` stages binaries in <kit>/.build/bin and reads <kit>/.env, so a test
// never puts fixture binaries into a contributor's .build/bin and a
// contributor's .env never reaches a test.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KIT_ROOT } from '../../scripts/lib/settings.ts';
import { which } from './requires.ts';

export { KIT_ROOT };
/** What runs a task script, as mise does: Node itself (it strips the types). */
export const NODE = process.execPath;
export const FIXTURE_MANIFEST = join(KIT_ROOT, 'test', 'fixtures', 'agent-sandbox', 'manifest.yaml');

let kitCopyDir: string | undefined;

/**
 * The kit as tasks see it in tests: its sources, chart and Dockerfiles copied to
 * a temporary directory (node_modules linked), removed when this process exits.
 * Its .build/ is the tests' own build directory, and it has no .env.
 */
export function kitCopy(): string {
  if (kitCopyDir !== undefined) return kitCopyDir;
  const dir = mkdtempSync(join(tmpdir(), 'openshell-e2e-kit-'));
  for (const entry of ['scripts', 'deploy', 'tasks', 'package.json', 'tsconfig.json', 'skaffold.yaml', 'skaffold', 'mise.toml', '.dockerignore']) {
    if (existsSync(join(KIT_ROOT, entry))) cpSync(join(KIT_ROOT, entry), join(dir, entry), { recursive: true });
  }
  symlinkSync(join(KIT_ROOT, 'node_modules'), join(dir, 'node_modules'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  kitCopyDir = dir;
  return dir;
}

export interface TaskRun {
  task: string;
  args: string[];
  /** Exit status; 124 when the test's own timeout killed it. */
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr together, in arrival order. */
  out: string;
  ms: number;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Called with each chunk of output as it arrives (to act while a task waits). */
  onOutput?: (chunk: string, soFar: string) => void;
  /** Ctrl+C: SIGINT to the task's process group the first time this returns true for the output so far. */
  interruptWhen?: (soFar: string) => boolean;
}

/** The environment a task sees: only what is given, plus PATH, a HOME and plain output. */
export function taskEnv(home: string, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    CI: 'true',
    NO_COLOR: '1',
    TMPDIR: process.env.TMPDIR ?? tmpdir(),
    LANG: 'C.UTF-8',
  };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Run `scripts/k8s-dev/<task>.ts` (of kitCopy()) as a process; resolves (never rejects) with what happened. */
export function runTask(task: string, args: string[], env: NodeJS.ProcessEnv, opts: RunOptions = {}): Promise<TaskRun> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const start = performance.now();
  const kit = kitCopy();
  return new Promise((resolve) => {
    const child = spawn(NODE, [join(kit, 'scripts', 'k8s-dev', `${task}.ts`), ...args], {
      cwd: kit,
      env,
      detached: true, // its own process group: a timeout kills everything it started
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let out = '';
    let timedOut = false;
    let interrupted = false;
    const take = (which: 'stdout' | 'stderr') => (d: Buffer) => {
      const s = d.toString();
      if (which === 'stdout') stdout += s;
      else stderr += s;
      out += s;
      opts.onOutput?.(s, out);
      if (!interrupted && opts.interruptWhen?.(out)) {
        interrupted = true;
        killGroup(child.pid, 'SIGINT');
      }
    };
    child.stdout.on('data', take('stdout'));
    child.stderr.on('data', take('stderr'));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGTERM');
      setTimeout(() => killGroup(child.pid, 'SIGKILL'), 3000).unref();
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - start;
      if (timedOut) out += `\n[test] ${task} killed after ${timeoutMs / 1000}s`;
      resolve({ task, args, code: timedOut ? 124 : (code ?? (signal ? 128 : 1)), stdout, stderr, out, ms });
    });
  });
}

function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // already gone
  }
}

/** A one-line summary of a run, for assertion messages. */
export function describeRun(r: TaskRun): string {
  return `${r.task} ${r.args.join(' ')} → exit ${r.code} in ${(r.ms / 1000).toFixed(1)}s\n${r.out.trim()}`;
}

/** Lines of a JavaScript stack trace ("    at fn (file:line:col)"). */
export function stackLines(text: string): string[] {
  return text.split('\n').filter((l) => /^\s+at\s.+[(:]\S*\d+:\d+\)?$/.test(l));
}

/** A temp directory that `cleanup` removes; names start with openshell-e2e-<what>-. */
export function tempDir(what: string): string {
  return mkdtempSync(join(tmpdir(), `openshell-e2e-${what}-`));
}

/** A cluster or resource name unique to this process: <prefix>-<pid>, at most 32 characters. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}`.slice(0, 32);
}

export function busybox(): string | undefined {
  const found = which('busybox') ?? (existsSync('/bin/busybox') ? '/bin/busybox' : undefined);
  if (!found) return undefined;
  // Only a static busybox runs in a FROM scratch image.
  const r = spawnSync('file', ['-L', found], { encoding: 'utf8' });
  return r.status !== 0 || /statically linked|static-pie/.test(r.stdout) ? found : undefined;
}

export function missingBusybox(): false | string {
  return busybox() ? false : 'needs a static busybox (apt-get install busybox-static) for fixture binaries';
}

/** A static binary (busybox) with random bytes appended: runs the same, hashes differently on every call. */
export function fixtureBinary(dir: string, name: string): string {
  const src = busybox();
  if (!src) throw new Error('no static busybox for fixture binaries');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  copyFileSync(src, path);
  appendFileSync(path, randomBytes(32));
  chmodSync(path, 0o755);
  return path;
}

/** kubectl against one kubeconfig file (the first kubectl on PATH). */
export function kubectl(kubeconfig: string, args: string[], input?: string, timeoutMs = 60_000) {
  return spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { input, encoding: 'utf8', timeout: timeoutMs });
}

/** kubectl that must succeed; returns stdout. */
export function kubectlOk(kubeconfig: string, args: string[], input?: string, timeoutMs = 60_000): string {
  const r = kubectl(kubeconfig, args, input, timeoutMs);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} → exit ${r.status}: ${(r.stderr || r.stdout || String(r.error ?? '')).trim()}`);
  return r.stdout;
}

/** The environment for the kwok provider in a temp HOME (kwok dir and cache under it). */
export function kwokTaskEnv(home: string, cluster: string, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return taskEnv(home, {
    OPENSHELL_DEV_CLUSTER_PROVIDER: 'kwok',
    OPENSHELL_DEV_CLUSTER: cluster,
    OPENSHELL_DEV_KUBECONFIG: join(home, 'kubeconfig.yaml'),
    OPENSHELL_DEV_KWOK_DIR: join(home, '.kwok'),
    OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST: FIXTURE_MANIFEST,
    OPENSHELL_DEV_TIMEOUT: '120',
    OPENSHELL_DEV_GATEWAY_BASE_IMAGE: 'scratch',
    ...extra,
  });
}

/** Processes (other than this one) whose command line contains `needle`. */
export function processesMentioning(needle: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (/^\d+ \(.*\) Z/.test(stat)) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(needle)) found.push(`${pid}: ${cmdline.slice(0, 160)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Delete a kwok cluster whatever state it is in (for after hooks): down, then kill what survives. */
export async function forceDown(env: NodeJS.ProcessEnv): Promise<void> {
  await runTask('down', [], env, { timeoutMs: 120_000 });
  const dir = env.OPENSHELL_DEV_KWOK_DIR;
  if (dir) {
    for (const line of processesMentioning(dir)) {
      try {
        process.kill(Number(line.split(':')[0]), 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

/** A TCP listener on 127.0.0.1 (a port in use); close it with server.close(). */
export function listen(port = 0, host = '127.0.0.1'): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port, host }, () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === 'object' && addr ? addr.port : port });
    });
  });
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const { server, port } = await listen(0);
  await new Promise((r) => server.close(r));
  return port;
}

export async function waitUntil(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>, intervalMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A private OCI registry (docker-registry) on 127.0.0.1:<port>, storage under `dir`. */
export class PrivateRegistry {
  readonly port: number;
  readonly dir: string;
  private child: ReturnType<typeof spawn> | undefined;
  constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
    mkdirSync(join(dir, 'storage'), { recursive: true });
    writeFileSync(
      join(dir, 'registry.yml'),
      `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'storage')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`,
    );
  }
  get host(): string {
    return `localhost:${this.port}`;
  }
  async answers(): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.port}/v2/`, { signal: AbortSignal.timeout(1000) });
      return res.status === 200;
    } catch {
      return false;
    }
  }
  async start(): Promise<void> {
    const child = spawn('docker-registry', ['serve', join(this.dir, 'registry.yml')], { stdio: 'ignore' });
    this.child = child;
    // Never outlive the test process, whatever happens to its after hooks.
    process.once('exit', () => child.kill('SIGKILL'));
    await waitUntil(`the registry on port ${this.port}`, 20_000, () => this.answers());
  }
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    // Gone already: exited, or killed by a signal (Ctrl+C reaches it too; then exitCode stays null).
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}

/** Why a private registry cannot be started here (false: it can). */
export function missingPrivateRegistry(): false | string {
  return which('docker-registry') ? false : 'needs docker-registry on PATH for a private test registry (apt-get install docker-registry; bash .ci/run installs it)';
}

/**
 * A private registry of the tests' own on a free loopback port, storage under
 * `dir`: pushes in tests never reach a contributor's registry on localhost:5000.
 * Docker treats every 127.0.0.0/8 registry as plain HTTP, so no setup is needed.
 */
export async function startPrivateRegistry(dir: string): Promise<PrivateRegistry> {
  const registry = new PrivateRegistry(dir, await freePort());
  await registry.start();
  return registry;
}

export function rmTree(path: string | undefined): void {
  if (path) rmSync(path, { recursive: true, force: true });
}

/**
 * A kwok cluster made by the kit's `up` in a fresh home, with the fixture
 * agent-sandbox CRDs applied and Established: what a chart install on kwok needs.
 */
export async function kwokClusterWithCrds(what: string): Promise<{ home: string; kc: string; env: NodeJS.ProcessEnv }> {
  const home = tempDir(what);
  const kc = join(home, 'kubeconfig.yaml');
  const env = kwokTaskEnv(home, uniqueName(`e2e-${what}`));
  const up = await runTask('up', [], env, { timeoutMs: 180_000 });
  assert.equal(up.code, 0, describeRun(up));
  kubectlOk(kc, ['apply', '--server-side', '-f', FIXTURE_MANIFEST]);
  kubectlOk(kc, ['wait', '--for=condition=Established', 'crd/sandboxes.agents.x-k8s.io', '--timeout=60s']);
  return { home, kc, env };
}
