// The command runner: dry-run, history, CommandError, and real spawns
// (capture, stdin, env merge, process-group timeout, a missing binary).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { memoryLogger } from '../../scripts/lib/log.ts';
import { CommandError, createRunner, formatArgv, mergeEnv, scriptedExecutor, spawnExecutor } from '../../scripts/lib/run.ts';

test('dry-run prints a mutating command (with its input) and does not execute it; read-only ones run', async () => {
  const log = memoryLogger();
  const executor = scriptedExecutor([['k3d cluster list', { stdout: '[]' }]]);
  const runner = createRunner({ log, dryRun: true, executor, env: {} });
  const r = await runner.run({ argv: ['k3d', 'cluster', 'create', '--config', '-'], input: 'kind: Simple\n', mutates: true });
  assert.deepEqual(r, { code: 0, stdout: '', stderr: '', ms: 0 });
  assert.equal(await runner.out(['k3d', 'cluster', 'list', '-o', 'json']), '[]');
  assert.deepEqual(executor.calls, ['k3d cluster list -o json']);
  assert.ok(log.lines.includes('    [dry-run] would run: k3d cluster create --config - <<EOF\nkind: Simple\nEOF'), log.lines.join('\n'));
  // History holds both, with their exact argv.
  assert.deepEqual(runner.history.map((c) => c.argv), [['k3d', 'cluster', 'create', '--config', '-'], ['k3d', 'cluster', 'list', '-o', 'json']]);
});

test('history records the exact argv and the merged environment', async () => {
  const runner = createRunner({ log: memoryLogger(), executor: scriptedExecutor([]), env: { A: '1', B: '2' } });
  await runner.run({ argv: ['helm', '--kubeconfig', '/k y', 'status', "it's"], env: { B: undefined, C: '3' } });
  const [cmd] = runner.history;
  assert.deepEqual(cmd!.argv, ['helm', '--kubeconfig', '/k y', 'status', "it's"]);
  assert.deepEqual(cmd!.env, { A: '1', C: '3' });
});

test('check: a non-zero exit throws CommandError with the code and the stderr tail; check:false returns it', async () => {
  const stderr = Array.from({ length: 8 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
  const runner = createRunner({ log: memoryLogger(), executor: scriptedExecutor([['kubectl', { code: 3, stderr }]]), env: {} });
  await assert.rejects(runner.run({ argv: ['kubectl', 'get', 'nodes'] }), (err: Error) => {
    assert.ok(err instanceof CommandError);
    assert.equal(err.result.code, 3);
    assert.match(err.message, /^command failed \(exit 3\): kubectl get nodes\nline 4\nline 5\nline 6\nline 7\nline 8$/);
    assert.doesNotMatch(err.message, /line 3/);
    return true;
  });
  assert.equal((await runner.run({ argv: ['kubectl', 'get', 'nodes'], check: false })).code, 3);
  // A failure under dry-run is still reported for read-only commands.
  const dry = createRunner({ log: memoryLogger(), dryRun: true, executor: scriptedExecutor([['kubectl', { code: 1, stderr: 'x' }]]), env: {} });
  await assert.rejects(dry.run({ argv: ['kubectl', 'version'] }), CommandError);
});

const real = () => createRunner({ log: memoryLogger(), executor: spawnExecutor(memoryLogger()), env: { PATH: process.env.PATH, KEEP: 'base', DROP: 'gone' } });

test('spawn: capture, stdin, env merge (undefined removes)', async () => {
  const runner = real();
  const r = await runner.run({ argv: ['sh', '-c', 'cat; echo "keep=$KEEP drop=${DROP-unset} add=$ADD"; echo err >&2'], input: 'from stdin\n', env: { DROP: undefined, ADD: 'added' } });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, 'from stdin\nkeep=base drop=unset add=added\n');
  assert.equal(r.stderr, 'err\n');
  assert.equal((await runner.run({ argv: ['sh', '-c', 'exit 7'], check: false })).code, 7);
  assert.equal((await runner.run({ argv: ['sh', '-c', 'pwd'], cwd: '/' })).stdout, '/\n');
});

test('spawn: a missing binary is exit 127 with "command not found"', async () => {
  const r = await real().run({ argv: ['openshell-no-such-binary', '--version'], check: false });
  assert.equal(r.code, 127);
  assert.match(r.stderr, /openshell-no-such-binary: command not found/);
});

test('spawn: a timeout kills the whole process group, grandchildren included', async () => {
  // A sleep length nobody else uses, so ps finds exactly our processes.
  const secs = `30.${process.pid}${Date.now() % 100000}`;
  const ours = () => spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => new RegExp(`^\\s*\\d+ sleep ${secs.replace(".", "\\.")}$`).test(l));
  // The timeout must fire after both sleeps started (else the test proves nothing): a generous
  // timeout, and the sleeps observed while it is pending, not after a fixed pause.
  let settled = false;
  const pending = real()
    .run({ argv: ['sh', '-c', `sleep ${secs} & sleep ${secs}`], timeoutMs: 2000, check: false })
    .finally(() => (settled = true));
  while (ours().length < 2 && !settled) await new Promise((res) => setTimeout(res, 20));
  assert.equal(settled, false, 'the timeout fired before both sleeps had started');
  assert.equal(ours().length, 2, 'both sleeps run before the timeout');
  const r = await pending;
  assert.equal(r.code, 124);
  assert.match(r.stderr, /timed out after 2s/);
  // SIGTERM went to the group: the background sleep (a grandchild) goes too.
  // Gone once the group is reaped; poll with a deadline rather than a fixed pause.
  const deadline = Date.now() + 10_000;
  let left = ours();
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 20));
    left = ours();
  }
  assert.deepEqual(left, []);
});

test('mergeEnv does not modify its inputs', () => {
  const base = { A: '1', B: '2' };
  assert.deepEqual(mergeEnv(base, { A: undefined, C: '3' }), { B: '2', C: '3' });
  assert.deepEqual(base, { A: '1', B: '2' });
});

test('formatArgv quotes only what a shell would mangle', () => {
  assert.equal(formatArgv(['kubectl', '--kubeconfig', '/a/b.yaml', 'get', 'pods', '-l', 'app=x,tier!=y']), "kubectl --kubeconfig /a/b.yaml get pods -l 'app=x,tier!=y'");
  assert.equal(formatArgv(['docker', 'version', '--format', '{{.Server.Version}}']), "docker version --format '{{.Server.Version}}'");
  assert.equal(formatArgv(['sh', '-c', "echo it's"]), `sh -c 'echo it'\\''s'`);
  assert.equal(formatArgv(['a', '', 'b c', 'x@y:1%+=,./-']), "a '' 'b c' x@y:1%+=,./-");
  assert.equal(formatArgv(['$HOME', '*', 'a;b']), "'$HOME' '*' 'a;b'");
});
