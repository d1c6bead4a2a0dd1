// Running one Rust test executable (libtest's default harness) and reading its
// plain output: which tests it holds (`--list`), how each ended (`test NAME ...
// ok|FAILED|ignored`), for a failure the panic libtest prints in its
// `---- NAME stdout ----` section (the test's captured output, so no
// --nocapture), and, with --show-output, a passing test that only said
// "Skipping ..." and returned (upstream's tests gate themselves that way).
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';

export type Outcome = 'pass' | 'skip' | 'fail' | 'ignored' | 'timeout' | 'not run';

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

/** libtest's `---- NAME stdout ----` sections (failures; successes too with --show-output): name → lines. */
export function parseSections(out: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  const heads = [...out.matchAll(/^---- (\S+) stdout ----$/gm)];
  heads.forEach((h, i) => {
    const start = h.index + h[0].length;
    const end = i + 1 < heads.length ? heads[i + 1]!.index : out.length;
    const tail = out.slice(start, end);
    const stop = tail.search(/^(successes:|failures:|test result:)/m);
    sections.set(h[1]!, (stop >= 0 ? tail.slice(0, stop) : tail).split('\n'));
  });
  return sections;
}

/**
 * Each section cut to the panic: from the `panicked at` line on, without the
 * backtrace hint, at most `maxLines` lines. A section without a panic keeps its
 * last lines (the test's own output).
 */
export function parseFailures(out: string, maxLines = 12): Map<string, string> {
  const sections = new Map<string, string>();
  for (const [name, body] of parseSections(out)) {
    const at = body.findIndex((l) => /panicked at /.test(l));
    const lines = (at >= 0 ? body.slice(at) : body.slice(-maxLines))
      .filter((l) => l.trim() !== '' && !l.startsWith('note: run with `RUST_BACKTRACE'));
    sections.set(name, lines.slice(0, maxLines).join('\n'));
  }
  return sections;
}

/** The "Skipping ..." line a passing test printed before returning, if any. */
export function selfSkip(lines: string[] | undefined): string | undefined {
  return lines?.map((l) => l.trim()).find((l) => /^skipping\b/i.test(l));
}

/**
 * Results of a finished (or killed) run, one per listed test. `silentGates`
 * names tests known to return early without a word under this run's settings
 * (test → why), so that their "ok" is not read as coverage.
 */
export function results(target: string, listed: string[], out: string, timedOut: boolean, timeoutWhy = '', silentGates: Record<string, string> = {}): TestResult[] {
  const outcomes = parseOutcomes(out);
  const failures = parseFailures(out);
  const sections = parseSections(out);
  return listed.map((test): TestResult => {
    const o = outcomes.get(test);
    if (!o) {
      if (!timedOut) return { target, test, outcome: 'not run', why: 'no result line (the executable exited early; see the log)' };
      return { target, test, outcome: 'timeout', why: ['the executable was killed at its time limit before this test ended', timeoutWhy].filter(Boolean).join('\n') };
    }
    if (o.outcome === 'fail') return { target, test, outcome: 'fail', why: failures.get(test) ?? '' };
    if (o.outcome === 'pass') {
      const said = selfSkip(sections.get(test)) ?? silentGates[test];
      if (said) return { target, test, outcome: 'skip', why: `the test returned early: ${said}` };
    }
    return { target, test, outcome: o.outcome, why: o.why };
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
export function runExecutable(exe: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, logFile: string, timeoutMs: number, abort: AbortSignal, beforeKill: () => void = () => {}): Promise<Run> {
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
      beforeKill(); // while the tests' sandboxes still exist
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
