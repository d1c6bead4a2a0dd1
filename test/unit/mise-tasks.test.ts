// tasks/k8s-dev.toml and the scripts agree: every script is a task with a
// description, every task runs an existing script. With mise on PATH, `mise
// tasks` itself lists them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { KIT_ROOT } from '../../scripts/lib/settings.ts';
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
    assert.equal(task.run, `tsx scripts/k8s-dev/${script}.ts`);
    assert.match(task.body, /depends = \["k8s:dev:deps"\]/);
  }
});

test('every task runs a script that exists; the seed\'s tasks are all there', () => {
  for (const t of tasks.filter((t) => t.run?.startsWith('tsx '))) assert.ok(existsSync(join(KIT_ROOT, t.run!.slice(4))), `${t.name}: ${t.run}`);
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
