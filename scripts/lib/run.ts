// The one layer every external command goes through. It logs the command
// (--verbose), streams long steps, enforces a timeout, kills the whole process
// group on Ctrl+C, honours --dry-run for commands that change something, and
// keeps a history that tests read to assert the exact commands a task ran.
import { spawn } from 'node:child_process';
import type { Logger } from './log.ts';

export interface Cmd {
  argv: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  /** capture (default): collect output; stream: also echo it as it comes; inherit: the terminal's own stdio. */
  mode?: 'capture' | 'stream' | 'inherit';
  timeoutMs?: number;
  /** Throw CommandError on a non-zero exit (default true). */
  check?: boolean;
  /** The command changes something: under --dry-run it is printed, not run. */
  mutates?: boolean;
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export type Executor = (cmd: Cmd) => Promise<Result>;

export class CommandError extends Error {
  readonly cmd: Cmd;
  readonly result: Result;
  constructor(cmd: Cmd, result: Result) {
    const detail = (result.stderr || result.stdout).trim().split('\n').slice(-5).join('\n');
    super(`command failed (exit ${result.code}): ${formatArgv(cmd.argv)}${detail ? `\n${detail}` : ''}`);
    this.cmd = cmd;
    this.result = result;
  }
}

export interface Runner {
  readonly dryRun: boolean;
  readonly history: Cmd[];
  run(cmd: Cmd): Promise<Result>;
  /** Convenience: run and return trimmed stdout. */
  out(argv: string[], opts?: Omit<Cmd, 'argv'>): Promise<string>;
}

export interface RunnerOptions {
  log: Logger;
  dryRun?: boolean;
  executor?: Executor;
  /** Base environment of every command (default: this process's). Read at each run, so a
   * task can point later commands at the engine by changing it. */
  env?: NodeJS.ProcessEnv;
}

const safe = /^[\w@%+=:,./-]+$/;
export function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (a !== '' && safe.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}

export function createRunner(opts: RunnerOptions): Runner {
  const history: Cmd[] = [];
  const exec = opts.executor ?? spawnExecutor(opts.log);
  const dryRun = opts.dryRun ?? false;
  const runner: Runner = {
    dryRun,
    history,
    async run(cmd) {
      const full: Cmd = { ...cmd, env: mergeEnv(opts.env ?? process.env, cmd.env ?? {}) };
      history.push(full);
      if (dryRun && cmd.mutates) {
        opts.log.info(`[dry-run] would run: ${formatArgv(cmd.argv)}${cmd.input ? ' <<EOF\n' + cmd.input.trimEnd() + '\nEOF' : ''}`);
        return { code: 0, stdout: '', stderr: '', ms: 0 };
      }
      opts.log.debug(`$ ${formatArgv(cmd.argv)}`);
      const result = await exec(full);
      opts.log.debug(`  exit ${result.code} in ${result.ms}ms`);
      if (result.code !== 0 && cmd.check !== false) throw new CommandError(full, result);
      return result;
    },
    async out(argv, o = {}) {
      return (await runner.run({ ...o, argv })).stdout.trim();
    },
  };
  return runner;
}

// Children alive right now: Ctrl+C forwards to each one's process group.
const live = new Set<number>();
let handlersInstalled = false;

function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (live.size === 0) process.exit(130);
      for (const pid of live) signalGroup(pid, 'SIGINT');
      // Give children a moment to clean up (skaffold deletes its release), then force.
      setTimeout(() => {
        for (const pid of live) signalGroup(pid, 'SIGKILL');
        process.exit(130);
      }, 10_000).unref();
    });
  }
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // already gone
  }
}

export function spawnExecutor(log: Logger): Executor {
  return (cmd) =>
    new Promise((resolve) => {
      installSignalHandlers();
      const start = Date.now();
      const [file, ...args] = cmd.argv;
      const mode = cmd.mode ?? 'capture';
      const child = spawn(file!, args, {
        cwd: cmd.cwd,
        env: cmd.env ?? process.env,
        // Own process group, so Ctrl+C and timeouts reach grandchildren too.
        detached: true,
        stdio: mode === 'inherit' ? ['inherit', 'inherit', 'inherit'] : ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let settled = false;
      const finish = (code: number, extra = '') => {
        if (settled) return;
        settled = true;
        if (child.pid) live.delete(child.pid);
        clearTimeout(timer);
        resolve({ code, stdout, stderr: stderr + extra, ms: Date.now() - start });
      };
      if (child.pid) live.add(child.pid);
      child.stdout?.on('data', (d: Buffer) => {
        stdout += d;
        if (mode === 'stream') process.stderr.write(d);
      });
      child.stderr?.on('data', (d: Buffer) => {
        stderr += d;
        if (mode === 'stream') process.stderr.write(d);
      });
      if (child.stdin) {
        child.stdin.on('error', () => {});
        child.stdin.end(cmd.input ?? '');
      }
      const timer = cmd.timeoutMs
        ? setTimeout(() => {
            log.debug(`timeout after ${cmd.timeoutMs}ms: ${formatArgv(cmd.argv)}`);
            if (child.pid) signalGroup(child.pid, 'SIGTERM');
            setTimeout(() => child.pid && signalGroup(child.pid, 'SIGKILL'), 3000).unref();
            finish(124, `\ntimed out after ${Math.round(cmd.timeoutMs! / 1000)}s`);
          }, cmd.timeoutMs)
        : undefined;
      child.on('error', (err: NodeJS.ErrnoException) => {
        finish(127, err.code === 'ENOENT' ? `${file}: command not found` : err.message);
      });
      child.on('close', (code, signal) => finish(code ?? (signal ? 128 + signalNumber(signal) : 1)));
    });
}

function signalNumber(sig: NodeJS.Signals): number {
  return ({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[sig] ?? 1;
}

/** Merge env; a value of undefined removes the variable (e.g. DOCKER_HOST for Docker). */
export function mergeEnv(base: NodeJS.ProcessEnv, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** A scripted executor for unit tests: answers by the first matching rule, records every call. */
export function scriptedExecutor(
  rules: Array<[match: string | RegExp, answer: Partial<Result> | ((cmd: Cmd) => Partial<Result>)]>,
): Executor & { calls: string[] } {
  const calls: string[] = [];
  const exec = async (cmd: Cmd): Promise<Result> => {
    const line = formatArgv(cmd.argv);
    calls.push(line);
    for (const [match, answer] of rules) {
      const hit = typeof match === 'string' ? line.startsWith(match) : match.test(line);
      if (hit) {
        const a = typeof answer === 'function' ? answer(cmd) : answer;
        return { code: 0, stdout: '', stderr: '', ms: 0, ...a };
      }
    }
    return { code: 0, stdout: '', stderr: '', ms: 0 };
  };
  return Object.assign(exec, { calls });
}
