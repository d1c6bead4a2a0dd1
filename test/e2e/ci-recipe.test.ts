// The README's CI recipe, run: its `run:` steps in order, parsed from the
// README's ci-recipe block, through mise as a CI runner would (CI=true, no
// TTY), on the test bed: the kwok provider instead of k3d, stand-in binaries
// (static busybox) for the gateway and supervisor `sync` would build with
// cargo, and the agent-sandbox fixture manifest instead of the download.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import {
  fixtureBinary,
  forceDown,
  KIT_ROOT,
  kitCopy,
  kwokTaskEnv,
  missingBusybox,
  missingPrivateRegistry,
  processesMentioning,
  rmTree,
  startPrivateRegistry,
  tempDir,
  uniqueName,
  type PrivateRegistry,
} from '../support/e2e.ts';
import { missingDocker, missingTools } from '../support/requires.ts';

interface Step {
  uses?: string;
  run?: string;
  if?: string;
}

/** The recipe's steps, from the README block between the ci-recipe markers. */
export function recipeSteps(readme = readFileSync(join(KIT_ROOT, 'README.md'), 'utf8')): Step[] {
  const block = /<!-- ci-recipe:begin -->\n```yaml\n([\s\S]*?)```\n<!-- ci-recipe:end -->/.exec(readme)?.[1];
  assert.ok(block, 'README.md has the ci-recipe block');
  const jobs = (parse(block) as { jobs: Record<string, { steps: Step[] }> }).jobs;
  return Object.values(jobs)[0]!.steps;
}

test('the recipe: checkout, mise, up, sync, bootstrap, status --json, a test step, and down in an always-run step', () => {
  const steps = recipeSteps();
  assert.deepEqual(
    steps.map((s) => s.uses?.split('@')[0] ?? /mise run (k8s:dev:\w+)/.exec(s.run ?? '')?.[1] ?? 'test'),
    ['actions/checkout', 'jdx/mise-action', 'k8s:dev:up', 'k8s:dev:sync', 'k8s:dev:bootstrap', 'k8s:dev:status', 'test', 'k8s:dev:down'],
  );
  assert.match(steps[5]!.run!, /--json/);
  assert.equal(steps.at(-1)!.if, 'always()');
});

const skip =
  missingTools('mise', 'kwokctl', 'kwok', 'etcd', 'kubectl', 'helm', 'kube-apiserver') || missingDocker() || missingBusybox() || missingPrivateRegistry();

const home = tempDir('ci-recipe');
let registry: PrivateRegistry | undefined;
after(async () => {
  await registry?.stop();
  rmTree(home);
});

test('the recipe\'s run steps pass in order on the test bed (kwok provider; stand-in binaries for sync)', { skip, timeout: 600_000 }, async () => {
  // The kit as a checkout in CI: a copy (its own .build/), pushing to a registry of the test's own.
  const kit = kitCopy();
  // Its node packages are the checkout's (linked), already installed: the deps step has nothing to do.
  if (!existsSync(join(kit, 'package-lock.json'))) cpSync(join(KIT_ROOT, 'package-lock.json'), join(kit, 'package-lock.json'));
  const installed = statSync(join(KIT_ROOT, 'node_modules', '.package-lock.json')).mtime;
  for (const f of ['package.json', 'package-lock.json']) utimesSync(join(kit, f), new Date(installed.getTime() - 1000), new Date(installed.getTime() - 1000));
  registry = await startPrivateRegistry(join(home, 'registry'));
  const env = kwokTaskEnv(home, uniqueName('e2e-ci'), {
    OPENSHELL_DEV_KUBECONFIG: undefined, // the recipe reads the default, ~/.kube/k3d-openshell-dev.yaml
    OPENSHELL_DEV_REGISTRY_PORT: String(registry.port),
    RUNNER_TEMP: home,
    MISE_TRUSTED_CONFIG_PATHS: kit,
    MISE_OFFLINE: '1',
    MISE_TASK_RUN_AUTO_INSTALL: '0',
    MISE_YES: '1',
  });
  const standIns = `--gateway-bin ${fixtureBinary(join(home, 'bin'), 'openshell-gateway')} --supervisor-bin ${fixtureBinary(join(home, 'bin'), 'openshell-sandbox')}`;
  const ran: string[] = [];
  let failed = false;
  try {
    for (const step of recipeSteps().filter((s) => s.run)) {
      if (failed && step.if !== 'always()') continue;
      const script = step.run!.replace(/(mise run k8s:dev:sync)\b/, `$1 ${standIns}`);
      // GitHub's default shell for run steps: bash -e.
      const r = spawnSync('bash', ['-e', '-c', script], { cwd: kit, env, encoding: 'utf8', timeout: 300_000 });
      ran.push(`$ ${script.trim()}\n→ exit ${r.status}\n${(r.stdout + r.stderr).trim().split('\n').slice(-15).join('\n')}`);
      if (r.status !== 0) failed = true;
      assert.equal(r.status, 0, ran.join('\n\n'));
    }
    const status = JSON.parse(readFileSync(join(home, 'status.json'), 'utf8')) as { healthy: boolean; checks: { name: string; status: string }[] };
    assert.equal(status.healthy, true, JSON.stringify(status.checks));
    assert.equal(existsSync(join(home, '.kwok')), false, 'down removed the cluster');
    assert.deepEqual(processesMentioning(join(home, '.kwok')), [], 'no control-plane process left');
  } finally {
    if (failed) await forceDown(env);
  }
});
