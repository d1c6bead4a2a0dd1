// The zx layer (scripts/lib/sh.ts): dry-run enforced for `$w` in one place,
// the history tests read, real processes (stdin, environment, timeouts that
// take the whole process group), Ctrl+C that lets commands clean up and exits
// 130, and streamed output that a spinner does not garble.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, test } from 'node:test';
import { createLogger, memoryLogger } from '../../scripts/lib/log.ts';
import { KIT_ROOT } from '../../scripts/lib/settings.ts';
import { $ } from 'zx';
import { $w, answer, configure, history, reset } from '../../scripts/lib/sh.ts';
import { nodeProblem } from '../../scripts/lib/node-check.mjs';

const work = mkdtempSync(join(tmpdir(), 'openshell-sh-'));
after(() => rmSync(work, { recursive: true, force: true }));
beforeEach(() => reset());

test('--dry-run: `$w` prints the command with its stdin and runs nothing; `$` still runs', async () => {
  const log = memoryLogger();
  answer([['k3d cluster list', { stdout: '[]' }]]);
  configure({ dryRun: true, log });
  const created = await $w({ input: 'kind: Simple\n' })`k3d cluster create --config -`;
  assert.equal(created.exitCode, 0);
  assert.equal((await $`k3d cluster list -o json`).stdout, '[]');
  assert.ok(log.lines.includes('    [dry-run] would run: k3d cluster create --config - <<EOF\nkind: Simple\nEOF'), log.lines.join('\n'));
  assert.deepEqual(
    history.map((h) => [h.cmd, h.write, h.printed]),
    [
      ['k3d cluster create --config -', true, true],
      ['k3d cluster list -o json', false, false],
    ],
  );
  assert.equal(history[0]!.input, 'kind: Simple\n');
});

test('history: the command as zx quoted it, its environment and directory; empty arrays leave no double space', async () => {
  answer([]);
  $.env = { A: '1' };
  await $({ cwd: work })`helm ${[]} --kubeconfig ${'/k y'} status ${"it's"}`;
  const [h] = history;
  assert.equal(h!.cmd, "helm --kubeconfig $'/k y' status $'it\\'s'");
  assert.equal(h!.env.A, '1');
  assert.equal(h!.cwd, work);
});

test('real processes: stdout, stdin, the environment, exit codes', async () => {
  $.env = { ...process.env, GREETING: 'hi' };
  const r = await $({ input: 'there' })`sh -c ${'echo "$GREETING"; cat'}`;
  assert.equal(r.stdout, 'hi\nthere');
  const failed = await $({ nothrow: true })`sh -c ${'echo oops >&2; exit 3'}`;
  assert.equal(failed.exitCode, 3);
  assert.equal(failed.stderr.trim(), 'oops');
  assert.equal((await $({ nothrow: true })`no-such-binary-here`).exitCode, 127);
});

test('a timeout stops the command and what it started', async () => {
  const pidFile = join(work, 'grandchild.pid');
  const start = Date.now();
  const r = await $({ nothrow: true, timeout: 500 })`sh -c ${'sleep 30 & echo $! > "$0"; wait $!'} ${pidFile}`;
  assert.ok(Date.now() - start < 10_000);
  assert.notEqual(r.exitCode, 0);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(alive(pid), false, 'the grandchild is gone too');
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

test('Ctrl+C: the running command gets SIGINT and time to clean up, then the task exits 130', async () => {
  const marker = join(work, 'cleaned');
  const pidFile = join(work, 'child.pid');
  const script = join(work, 'task.mts');
  writeFileSync(
    script,
    `import { runTask } from ${JSON.stringify(join(KIT_ROOT, 'scripts/lib/task.ts'))};
import { $ } from ${JSON.stringify(join(KIT_ROOT, 'node_modules/zx/build/index.js'))};
await runTask({ name: 't', summary: 't', main: async () => {
  await $\`sh -c \${'trap "sleep 0.3; echo cleaned > $0; exit 0" INT; echo $$ > $1; sleep 30 & wait'} \${${JSON.stringify(marker)}} \${${JSON.stringify(pidFile)}}\`;
  return 0;
} });
`,
  );
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CI: 'true' } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  for (let i = 0; i < 200 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(pidFile), 'the command started');
  child.kill('SIGINT');
  const sent = Date.now();
  const [code] = await new Promise<[number | null, string | null]>((res) => child.once('exit', (c, s) => res([c, s])));
  assert.equal(code, 130, stderr);
  assert.ok(Date.now() - sent < 5000, 'the task did not wait out the grace period: its command had exited');
  assert.equal(existsSync(marker) && readFileSync(marker, 'utf8').trim(), 'cleaned', `the command finished its cleanup before the task exited\n${stderr}`);
  assert.equal(alive(Number(readFileSync(pidFile, 'utf8'))), false);
});

test('on a terminal, streamed output clears the spinner line first and a partial line stops the spinner', async () => {
  const writes: string[] = [];
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => (writes.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    const log = createLogger({ tty: true, env: {} });
    await log.progress(
      'waiting',
      (async () => {
        await new Promise((r) => setTimeout(r, 250)); // a frame or two
        log.stream('line one\n');
        log.stream('partial');
        await new Promise((r) => setTimeout(r, 250)); // no frame may land on "partial"
      })(),
    );
  } finally {
    process.stderr.write = original;
  }
  const i = writes.indexOf('\r\x1b[Kline one\n');
  assert.ok(i > 0, JSON.stringify(writes));
  assert.ok(writes.slice(0, i).some((w) => w.includes('waiting (')), 'a frame was drawn before');
  const j = writes.findIndex((w) => w.endsWith('partial'));
  assert.ok(j > i);
  assert.deepEqual(writes.slice(j + 1, -1), [], 'no frame after a partial line');
  assert.match(writes.at(-1)!, /^\n {4}waiting: done in/);
});

test('CI and no TTY: progress is two plain lines, no escape codes', async () => {
  const lines: string[] = [];
  const log = createLogger({ write: (l) => lines.push(l), env: { CI: 'true' }, tty: true });
  await log.progress('pushing x', Promise.resolve());
  assert.equal(lines.length, 2);
  assert.equal(lines[0], '    pushing x ...');
  assert.match(lines[1]!, /^ {4}pushing x: done in \d+\.\ds$/);
  assert.ok(!lines.join('').includes('\x1b'));
});

test('tasks print --help with exit 0 from a process (and -h)', () => {
  for (const flag of ['--help', '-h']) {
    const r = spawnSync(process.execPath, [join(KIT_ROOT, 'scripts/k8s-dev/status.ts'), flag], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /usage: mise run k8s:dev:status/);
    assert.match(r.stdout, /--json/);
  }
});

test('Node older than package.json engines.node: a clear exit 2 naming both versions, no stack trace', () => {
  assert.equal(nodeProblem('24.21.0', '>=22.19'), undefined);
  assert.equal(nodeProblem('22.19.0', '>=22.19'), undefined);
  assert.match(nodeProblem('22.18.1', '>=22.19')!, /needs Node >=22\.19 .*this is Node 22\.18\.1/);
  assert.match(nodeProblem('20.20.2', '>=22.19')!, /mise install/);
});

const oldNode = (() => {
  const r = spawnSync('/usr/bin/node', ['--version'], { encoding: 'utf8' });
  return r.status === 0 && nodeProblem(r.stdout.trim().slice(1)) !== undefined ? false : 'needs an older /usr/bin/node (Debian\'s Node 20); the check itself is tested above';
})();

test('node-check.mjs under Debian\'s Node 20 exits 2 with the message, not a stack trace', { skip: oldNode }, () => {
  const r = spawnSync('/usr/bin/node', [join(KIT_ROOT, 'scripts/lib/node-check.mjs')], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /the kit needs Node >=22\.19 .*this is Node 20\./);
  assert.doesNotMatch(r.stderr, /TypeError|undici|    at /);
});
