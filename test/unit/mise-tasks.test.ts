// tasks/k8s-dev.toml and the scripts agree: every script is a task with a
// description, every task runs an existing script. With mise on PATH, `mise
// tasks` itself lists them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KIT_ROOT } from '../../scripts/lib/settings.ts';
import { nodeProblem } from '../../scripts/lib/node-check.mjs';
import { missingTools } from '../support/requires.ts';

const toml = readFileSync(join(KIT_ROOT, 'tasks', 'k8s-dev.toml'), 'utf8');
const tasks = [...toml.matchAll(/^\["(k8s:dev:[a-z]+)"\]\n((?:(?!\n\[).)*)/gms)].map((m) => ({
  name: m[1]!,
  body: m[2]!,
  description: /^description = "(.+)"$/m.exec(m[2]!)?.[1],
  run: /^run = "(.+)"$/m.exec(m[2]!)?.[1],
}));
const scripts = readdirSync(join(KIT_ROOT, 'scripts', 'k8s-dev')).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3));

test('every task script has a mise task with a one-sentence description', () => {
  for (const script of scripts) {
    const task = tasks.find((t) => t.name === `k8s:dev:${script}`);
    assert.ok(task, `tasks/k8s-dev.toml has no k8s:dev:${script}`);
    assert.ok(task.description && task.description.length > 20 && !task.description.endsWith('.'), `k8s:dev:${script} needs a one-sentence description`);
    assert.equal(task.run, `node scripts/k8s-dev/${script}.ts`);
    assert.match(task.body, /depends = \["k8s:dev:deps"\]/);
    assert.match(task.body, /^raw_args = true$/m, `k8s:dev:${script}: every argument (--help, -h) must reach the script`);
  }
});

test('every task runs a script that exists; the seed\'s tasks are all there', () => {
  for (const t of tasks.filter((t) => t.run?.startsWith('node '))) assert.ok(existsSync(join(KIT_ROOT, t.run!.split(' ')[1]!)), `${t.name}: ${t.run}`);
  for (const name of ['up', 'down', 'bootstrap', 'gateway', 'watch', 'sync', 'status', 'doctor', 'sideload']) {
    assert.ok(tasks.some((t) => t.name === `k8s:dev:${name}`), name);
  }
});

test('mise tasks lists every k8s:dev task with its description', { skip: missingTools('mise') }, () => {
  const r = spawnSync('mise', ['tasks'], {
    cwd: KIT_ROOT,
    encoding: 'utf8',
    env: { ...process.env, MISE_TRUSTED_CONFIG_PATHS: KIT_ROOT, MISE_OFFLINE: '1', MISE_YES: '1' },
  });
  assert.equal(r.status, 0, r.stderr);
  for (const script of scripts) assert.match(r.stdout, new RegExp(`k8s:dev:${script}\\s+\\S`));
});

const miseEnv = (dir: string, extra: NodeJS.ProcessEnv = {}) => ({ ...process.env, MISE_TRUSTED_CONFIG_PATHS: dir, MISE_OFFLINE: '1', MISE_YES: '1', MISE_TASK_RUN_AUTO_INSTALL: '0', ...extra });
/** `mise run` without the deps task (it would run npm ci where node_modules is older). */
const miseRun = (dir: string, args: string[], extra: NodeJS.ProcessEnv = {}) =>
  spawnSync('mise', ['run', '--skip-deps', ...args], { cwd: dir, encoding: 'utf8', env: miseEnv(dir, extra), timeout: 60_000 });

test('the deps task runs npm ci only when package.json or package-lock.json is newer than node_modules, not when a task changes', () => {
  const run = tasks.find((t) => t.name === 'k8s:dev:deps')!.run!;
  const dir = mkdtempSync(join(tmpdir(), 'openshell-deps-'));
  try {
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'node_modules'));
    mkdirSync(join(dir, 'tasks'));
    mkdirSync(join(dir, 'scripts', 'lib'), { recursive: true });
    cpSync(join(KIT_ROOT, 'scripts', 'lib', 'node-check.mjs'), join(dir, 'scripts', 'lib', 'node-check.mjs'));
    writeFileSync(join(dir, 'bin', 'npm'), '#!/bin/sh\necho "npm $*" >> "$(dirname "$0")/../calls"\n');
    chmodSync(join(dir, 'bin', 'npm'), 0o755);
    const at = (file: string, secs: number) => {
      if (!existsSync(join(dir, file))) writeFileSync(join(dir, file), file === 'package.json' ? '{"engines":{"node":">=22.19"}}' : '{}');
      utimesSync(join(dir, file), secs, secs);
    };
    const deps = () => {
      rmSync(join(dir, 'calls'), { force: true });
      const r = spawnSync('sh', ['-c', run], { cwd: dir, encoding: 'utf8', env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` } });
      assert.equal(r.status, 0, r.stderr);
      return existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trim() : '';
    };
    at('package.json', 1000);
    at('package-lock.json', 1000);
    assert.equal(deps(), 'npm ci --no-audit --no-fund', 'no node_modules yet');
    at('node_modules/.package-lock.json', 2000);
    at('tasks/k8s-dev.toml', 3000);
    assert.equal(deps(), '', 'a newer task file does not reinstall');
    at('package-lock.json', 4000);
    assert.equal(deps(), 'npm ci --no-audit --no-fund', 'a newer lock file does');
    at('node_modules/.package-lock.json', 5000);
    at('package.json', 6000);
    assert.equal(deps(), 'npm ci --no-audit --no-fund', 'a newer package.json does');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const debianNode = (() => {
  const r = spawnSync('/usr/bin/node', ['--version'], { encoding: 'utf8' });
  return r.status === 0 && nodeProblem(r.stdout.trim().slice(1)) !== undefined ? false : "needs an older /usr/bin/node (Debian's Node 20); nodeProblem itself is tested in sh.test.ts";
})();

test("under Debian's Node 20 the deps task (every mise task runs it first) exits 2 with the message; npm never runs", { skip: debianNode }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'openshell-oldnode-'));
  try {
    mkdirSync(join(dir, 'bin'));
    symlinkSync('/usr/bin/node', join(dir, 'bin', 'node'));
    writeFileSync(join(dir, 'bin', 'npm'), '#!/bin/sh\necho "npm $*" >> "$(dirname "$0")/../calls"\n');
    chmodSync(join(dir, 'bin', 'npm'), 0o755);
    const run = tasks.find((t) => t.name === 'k8s:dev:deps')!.run!;
    const r = spawnSync('sh', ['-c', run], { cwd: KIT_ROOT, encoding: 'utf8', env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` } });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^error: the kit needs Node >=22\.19 \(package\.json engines\.node\); this is Node 20\./);
    assert.doesNotMatch(r.stderr, /TypeError|undici|    at /);
    assert.ok(!existsSync(join(dir, 'calls')), 'npm ci did not run');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mise run passes --help and -h to the script', { skip: missingTools('mise') }, () => {
  for (const flag of ['--help', '-h']) {
    const r = miseRun(KIT_ROOT, ['k8s:dev:up', flag]);
    assert.equal(r.status, 0, `${flag}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /usage: mise run k8s:dev:up/);
    assert.doesNotMatch(r.stdout + r.stderr, /does not accept any arguments/);
  }
});

test('mise run k8s:dev:watch -- -p ha: the arguments reach skaffold', { skip: missingTools('mise') }, () => {
  // As the issue runs it, with no cluster and no kubeconfig: a dry run needs neither.
  const r = miseRun(KIT_ROOT, ['k8s:dev:watch', '--', '-p', 'ha', '--dry-run'], { OPENSHELL_DEV_KUBECONFIG: join(tmpdir(), `openshell-mise-test-${process.pid}-none.yaml`) });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stderr, /\[dry-run\] would run: skaffold dev .* -p ha\n/);
});

test('under mise the environment beats .env, which beats the defaults (status --json names the origin)', { skip: missingTools('mise') }, () => {
  // A copy of the kit, so its .env is the test's own.
  const dir = mkdtempSync(join(tmpdir(), 'openshell-mise-env-'));
  try {
    for (const f of ['mise.toml', 'package.json', 'tasks', 'scripts', 'deploy', 'skaffold.yaml']) cpSync(join(KIT_ROOT, f), join(dir, f), { recursive: true });
    symlinkSync(join(KIT_ROOT, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, '.env'), 'OPENSHELL_DEV_CLUSTER=from-dotenv\nOPENSHELL_DEV_RELEASE=from-dotenv\n');
    const home = join(dir, 'home');
    mkdirSync(home);
    const r = miseRun(dir, ['k8s:dev:status', '--json'], {
      HOME: home,
      OPENSHELL_DEV_CLUSTER: 'from-env',
      OPENSHELL_DEV_CLUSTER_PROVIDER: 'kwok',
      OPENSHELL_DEV_KWOK_DIR: join(dir, 'kwok'),
      OPENSHELL_DEV_KUBECONFIG: join(home, 'kubeconfig.yaml'),
      OPENSHELL_DEV_REGISTRY_PORT: '1',
    });
    const report = JSON.parse(r.stdout) as { healthy: boolean; settings: Record<string, { value: string; origin: string }> };
    assert.equal(report.healthy, false);
    assert.deepEqual(report.settings.OPENSHELL_DEV_CLUSTER, { value: 'from-env', origin: 'environment' });
    assert.deepEqual(report.settings.OPENSHELL_DEV_RELEASE, { value: 'from-dotenv', origin: '.env' });
    assert.deepEqual(report.settings.OPENSHELL_DEV_NAMESPACE, { value: 'openshell', origin: 'default' });
    assert.match(r.stderr, /settings .*from \.env: OPENSHELL_DEV_RELEASE; from the environment: .*OPENSHELL_DEV_CLUSTER/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
