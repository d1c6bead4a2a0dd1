// Running one Rust test executable (libtest's default harness) and reading its
// plain output: which tests it holds (`--list`), how each ended (`test NAME ...
// ok|FAILED|ignored`), and for a failure the panic libtest prints in its
// `---- NAME stdout ----` section (the test's captured output, so no
// --nocapture).
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';

export type Outcome = 'pass' | 'fail' | 'ignored' | 'timeout' | 'not run';

export interface TestResult {
  target: string;
  test: string;
  outcome: Outcome;
  /** Why it failed or was ignored: the panic message or the ignore reason. */
  why: string;
}

/** `exe --list` output ("name: test" lines) → the test names. */
export function parseList(out: string): string[] {
  return out
    .split('\n')
    .map((l) => /^(\S+): test$/.exec(l.trim())?.[1])
    .filter((n): n is string => n !== undefined);
}

/** The `test NAME ... RESULT` lines of a run. */
export function parseOutcomes(out: string): Map<string, { outcome: Outcome; why: string }> {
  const seen = new Map<string, { outcome: Outcome; why: string }>();
  for (const line of out.split('\n')) {
    const m = /^test (\S+) \.\.\. (ok|FAILED|ignored)(?:, (.*))?$/.exec(line.trimEnd());
    if (!m) continue;
    const outcome: Outcome = m[2] === 'ok' ? 'pass' : m[2] === 'FAILED' ? 'fail' : 'ignored';
    seen.set(m[1]!, { outcome, why: m[3] ?? '' });
  }
  return seen;
}

/**
 * libtest's `---- NAME stdout ----` sections, each cut to the panic: from the
 * `panicked at` line on, without the backtrace hint, at most `maxLines` lines.
 * A section without a panic keeps its last lines (the test's own output).
 */
export function parseFailures(out: string, maxLines = 12): Map<string, string> {
  const sections = new Map<string, string>();
  const re = /^---- (\S+) stdout ----$/gm;
  const heads = [...out.matchAll(re)];
  heads.forEach((h, i) => {
    const start = h.index + h[0].length;
    const end = i + 1 < heads.length ? heads[i + 1]!.index : out.length;
    const tail = out.slice(start, end);
    const stop = tail.search(/^(failures:|test result:)/m);
    const body = (stop >= 0 ? tail.slice(0, stop) : tail).split('\n');
    const at = body.findIndex((l) => /panicked at /.test(l));
    const lines = (at >= 0 ? body.slice(at) : body.slice(-maxLines))
      .filter((l) => l.trim() !== '' && !l.startsWith('note: run with `RUST_BACKTRACE'));
    sections.set(h[1]!, lines.slice(0, maxLines).join('\n'));
  });
  return sections;
}

/** Results of a finished (or killed) run, one per listed test. */
export function results(target: string, listed: string[], out: string, timedOut: boolean): TestResult[] {
  const outcomes = parseOutcomes(out);
  const failures = parseFailures(out);
  return listed.map((test) => {
    const o = outcomes.get(test);
    if (!o) return { target, test, outcome: timedOut ? 'timeout' : 'not run', why: timedOut ? 'the executable was killed at its time limit before this test ended' : 'no result line (the executable exited early; see the log)' };
    return { target, test, outcome: o.outcome, why: o.outcome === 'fail' ? (failures.get(test) ?? '') : o.why };
  });
}

export interface Run {
  code: number | null;
  out: string;
  timedOut: boolean;
  ms: number;
}

/**
 * Run `exe args`, appending its output to `logFile`; SIGTERM (then SIGKILL) to
 * its process group after `timeoutMs`. `abort` kills it early (Ctrl+C).
 */
export function runExecutable(exe: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, logFile: string, timeoutMs: number, abort: AbortSignal): Promise<Run> {
  const start = performance.now();
  return new Promise((resolve) => {
    const log = createWriteStream(logFile, { flags: 'a' });
    const child = spawn(exe, args, { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let timedOut = false;
    const take = (d: Buffer) => {
      out += d.toString();
      log.write(d);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const kill = () => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        return;
      }
      setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // gone
        }
      }, 5000).unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    abort.addEventListener('abort', kill, { once: true });
    child.on('close', (code) => {
      clearTimeout(timer);
      abort.removeEventListener('abort', kill);
      log.end();
      resolve({ code, out, timedOut, ms: performance.now() - start });
    });
  });
}
