// Every external command a task runs is a zx command (`$`). This module sets zx
// up once and adds only what zx has no option for, all through zx's own hooks
// ($.spawn, $.log):
//   - `$w` for commands that change something: under --dry-run they are
//     printed with their stdin, not run (the one place dry-run is enforced);
//   - a history of every command, which the tests read;
//   - --verbose: each command and its exit, through the kit's logger;
//   - Ctrl+C (SIGINT, SIGTERM, SIGHUP): forwarded to every running command's
//     process group, which gets 10 s to clean up; then exit 130.
// Output is captured (`$.quiet`); a step whose output the user should see
// streams it with `.quiet(false)`.
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { PassThrough } from 'node:stream';
import { $ } from 'zx';
import type { Logger } from './log.ts';


export interface Ran {
  /** The command line as zx quoted it. */
  cmd: string;
  /** Went through `$w`: changes something. */
  write: boolean;
  /** --dry-run: printed, not run. */
  printed: boolean;
  /** What it got on stdin (recorded for dry runs and scripted answers). */
  input: string;
  env: NodeJS.ProcessEnv;
  cwd: string | undefined;
}

type Spawn = (cmd: string, args: readonly string[], opts: SpawnOptions) => ChildProcess;

/** Every command this process ran (or, under --dry-run, would have run), in order. */
export const history: Ran[] = [];
const state: { dryRun: boolean; verbose: boolean; log?: Logger; spawn: Spawn; interrupted: boolean; lastFailure?: string } = {
  dryRun: false,
  verbose: false,
  spawn: nodeSpawn as Spawn,
  interrupted: false,
};
const live = new Set<ChildProcess>();
const cmds = new Map<string, string>();

$.quiet = true;
$.verbose = true; // with quiet: output is shown only for `.quiet(false)` (see $.log below)
$.detached = true; // own process group: Ctrl+C reaches the kit, which forwards it once
$.env = { ...process.env };
$.log = (entry) => {
  const log = state.log;
  if (entry.kind === 'cmd') {
    cmds.set(entry.id, entry.cmd);
    if (state.verbose) log?.debug(`$ ${entry.cmd}`);
  } else if (entry.kind === 'stdout' || entry.kind === 'stderr') {
    if (entry.verbose) log ? log.stream(String(entry.data)) : process.stderr.write(entry.data);
  } else if (entry.kind === 'end') {
    const cmd = cmds.get(entry.id) ?? '?';
    cmds.delete(entry.id);
    const how = entry.signal ? `stopped by ${entry.signal}` : `exit ${entry.exitCode}`;
    if (entry.exitCode !== 0) state.lastFailure = `${cmd} (${how} after ${(entry.duration / 1000).toFixed(1)}s)`;
    if (state.verbose) log?.debug(`  ${how} in ${entry.duration}ms`);
  }
};

/** The command as written: without zx's prefix, and without the double spaces an empty array leaves (outside quotes). */
function strip(cmd: string): string {
  const text = $.prefix && cmd.startsWith($.prefix) ? cmd.slice($.prefix.length) : cmd;
  return text
    .split(/(\$'(?:[^'\\]|\\.)*')/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/ {2,}/g, ' ')))
    .join('')
    .trim();
}

function via(write: boolean): Spawn {
  return (cmd, args, opts) => {
    const printed = write && state.dryRun;
    const ran: Ran = { cmd: strip(cmd), write, printed, input: '', env: { ...opts.env }, cwd: opts.cwd?.toString() };
    history.push(ran);
    if (printed) {
      return fakeChild({}, (input) => {
        ran.input = input;
        const line = `[dry-run] would run: ${ran.cmd}${input ? ` <<EOF\n${input.trimEnd()}\nEOF` : ''}`;
        state.log ? state.log.info(line) : process.stderr.write(`${line}\n`);
      });
    }
    const child = state.spawn(cmd, args, opts);
    live.add(child);
    child.once('exit', () => live.delete(child));
    child.once('error', () => live.delete(child));
    return child;
  };
}

$.spawn = via(false) as typeof $.spawn;
/** `$` for commands that change something: under --dry-run they are printed, not run. */
export const $w = $({ spawn: via(true) as typeof $.spawn });

/** Set by the task runner from --dry-run / --verbose. */
export function configure(opts: { dryRun?: boolean; verbose?: boolean; log?: Logger }): void {
  Object.assign(state, opts);
}

/** What failed last, for the error message: the command line and how it ended. */
export const lastFailure = () => state.lastFailure;

type Reply = { code?: number; stdout?: string; stderr?: string };

/** A child that runs nothing: hands its stdin to `onInput`, then answers `reply`. */
export function fakeChild(reply: Reply | ((input: string) => Reply) = {}, onInput?: (text: string) => void): ChildProcess {
  const child = Object.assign(new EventEmitter(), { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), pid: undefined, kill: () => true });
  let input = '';
  child.stdin.on('data', (d: Buffer) => (input += d));
  setImmediate(async () => {
    // zx writes the input right after spawn; by now it has arrived.
    onInput?.(input);
    const r = typeof reply === 'function' ? reply(input) : reply;
    child.stdout.end(r.stdout ?? '');
    child.stderr.end(r.stderr ?? '');
    await Promise.all([once(child.stdout, 'end'), once(child.stderr, 'end')]);
    child.emit('exit', r.code ?? 0, null);
    child.emit('close', r.code ?? 0, null);
  });
  return child as unknown as ChildProcess;
}

export type Rule = [match: string | RegExp, answer: Reply | ((ran: Ran) => Reply)];

/** For tests: run nothing; answer each command by the first rule whose prefix or pattern matches (else exit 0). */
export function answer(rules: Rule[]): void {
  state.spawn = () => {
    const ran = history.at(-1)!;
    const rule = rules.find(([m]) => (typeof m === 'string' ? ran.cmd.startsWith(m) : m.test(ran.cmd)));
    return fakeChild(
      () => (rule === undefined ? {} : typeof rule[1] === 'function' ? rule[1](ran) : rule[1]),
      (input) => (ran.input = input),
    );
  };
}

/** For tests: run commands for real again, and forget the history. */
export function reset(): void {
  state.spawn = nodeSpawn as Spawn;
  Object.assign(state, { dryRun: false, verbose: false, log: undefined, interrupted: false, lastFailure: undefined });
  history.length = 0;
  $.env = { ...process.env };
}

export const interrupted = () => state.interrupted;

/** SIGINT to every running command's process group; once each has exited (at most graceMs), SIGKILL what is left of its group. */
export async function stopChildren(graceMs = 10_000): Promise<void> {
  state.interrupted = true;
  const group = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // already gone
    }
  };
  const groups = [...live].map((c) => c.pid).filter((pid): pid is number => pid !== undefined);
  for (const pid of groups) group(pid, 'SIGINT');
  const deadline = Date.now() + graceMs;
  while (live.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const pid of groups) group(pid, 'SIGKILL'); // leftovers, e.g. a background job the command started
}
