// k8s:chart:publish without a registry: its plan (flags over settings over
// Chart.yaml, every value checked), the staged Chart.yaml, the commands it
// runs (scripted answers stand in for helm; real helm where the test says so),
// and its mise task.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { publish, publishPlan } from '../../scripts/k8s-chart/publish.ts';
import { chartMeta, isLoopbackRegistry, pushReport, stageChart } from '../../scripts/lib/chart.ts';
import { memoryLogger } from '../../scripts/lib/log.ts';
import { answer, history, reset } from '../../scripts/lib/sh.ts';
import { KIT_ROOT, loadSettings, SettingsError } from '../../scripts/lib/settings.ts';
import { createContext, usage, UserError } from '../../scripts/lib/task.ts';
import { missingTools } from '../support/requires.ts';
import { noDotenvRoot } from '../support/settings-env.ts';

const root = noDotenvRoot();
const work = mkdtempSync(join(tmpdir(), 'openshell-publish-unit-'));
after(() => rmSync(work, { recursive: true, force: true }));
const chart = chartMeta();
const DIGEST = `sha256:${'ab'.repeat(32)}`;

function ctxFor(argv: string[], env: NodeJS.ProcessEnv = {}) {
  reset();
  const full = { PATH: process.env.PATH, HOME: work, ...env };
  const settings = loadSettings({ env: full, root, home: work });
  const log = memoryLogger();
  return { ctx: createContext(publish, { argv, env: full, settings, log }), log };
}

describe('the plan: flags, then OPENSHELL_CHART_*, then Chart.yaml', () => {
  test('defaults: Chart.yaml\'s version and appVersion, the dev registry over plain HTTP', () => {
    assert.deepEqual(publishPlan(ctxFor([]).ctx), { registry: 'oci://localhost:5000/charts', version: chart.version, appVersion: chart.appVersion, plainHttp: true });
    assert.equal(publishPlan(ctxFor([], { OPENSHELL_DEV_REGISTRY_PORT: '5111' }).ctx).registry, 'oci://localhost:5111/charts');
  });
  test('settings win over Chart.yaml, flags over settings; a remote registry is HTTPS unless --plain-http', () => {
    const env = { OPENSHELL_CHART_REGISTRY: 'oci://ghcr.io/nvidia/openshell/charts', OPENSHELL_CHART_VERSION: '1.2.3', OPENSHELL_CHART_APP_VERSION: '0.0.40' };
    assert.deepEqual(publishPlan(ctxFor([], env).ctx), { registry: 'oci://ghcr.io/nvidia/openshell/charts', version: '1.2.3', appVersion: '0.0.40', plainHttp: false });
    assert.deepEqual(publishPlan(ctxFor(['--version', '2.0.0-rc.1', '--app-version', '0.0.41', '--registry', 'oci://registry.example:8443/c/', '--plain-http'], env).ctx), {
      registry: 'oci://registry.example:8443/c',
      version: '2.0.0-rc.1',
      appVersion: '0.0.41',
      plainHttp: true,
    });
  });
  test('a bad flag is exit 2 naming it, its value and what is allowed', () => {
    for (const [argv, want] of [
      [['--version', '1.0'], /^--version "1\.0" is not valid: must be a SemVer 2 version without a leading v/],
      [['--version', 'v1.0.0'], /^--version "v1\.0\.0" is not valid/],
      [['--app-version', '0.0.37 '], null],
      [['--app-version', 'latest'], /^--app-version "latest" is not valid: must be a SemVer version/],
      [['--registry', 'ghcr.io/x'], /^--registry "ghcr\.io\/x" is not valid: must be oci:\/\/<host>\[:<port>\]\[\/<path>\]/],
      [['--registry', 'oci://ghcr.io/NVIDIA'], /^--registry "oci:\/\/ghcr\.io\/NVIDIA" is not valid: .*lower-case path/],
    ] as const) {
      const { ctx } = ctxFor([...argv]);
      if (want === null) {
        assert.equal(publishPlan(ctx).appVersion, '0.0.37', 'surrounding blanks are trimmed');
        continue;
      }
      assert.throws(() => publishPlan(ctx), (e: Error) => e instanceof UserError && e.exitCode === 2 && want.test(e.message), argv.join(' '));
    }
  });
  test('a bad setting is exit 2 naming it (loadSettings)', () => {
    for (const [name, value] of [['OPENSHELL_CHART_VERSION', '01.2.3'], ['OPENSHELL_CHART_APP_VERSION', 'main'], ['OPENSHELL_CHART_REGISTRY', 'https://ghcr.io']] as const) {
      assert.throws(
        () => loadSettings({ env: { [name]: value }, root, home: work }),
        (e: Error) => e instanceof SettingsError && e.exitCode === 2 && e.message.startsWith(`${name}=${JSON.stringify(value)} is not valid: must be`),
      );
    }
  });
  test('--help names the mise task', () => {
    assert.match(usage(publish), /^usage: mise run k8s:chart:publish \[flags\]/);
    assert.match(usage(publish), /--app-version VALUE/);
  });
});

describe('pieces', () => {
  test('stageChart: a copy whose artifacthub.io/images carry the appVersion; the source is untouched', () => {
    const before = readFileSync(join(KIT_ROOT, 'deploy/helm/openshell/Chart.yaml'), 'utf8');
    const dest = join(work, 'staged');
    const images = stageChart(dest, '1.2.3');
    assert.deepEqual(images.map((i) => i.image), chart.images.map((i) => i.image.replace(/:[^:]+$/, ':1.2.3')));
    assert.equal(images.length, 2);
    assert.equal(readFileSync(join(KIT_ROOT, 'deploy/helm/openshell/Chart.yaml'), 'utf8'), before);
    const staged = readFileSync(join(dest, 'Chart.yaml'), 'utf8');
    assert.equal(staged.replaceAll(':1.2.3', `:${chart.appVersion}`), before, 'only the image tags changed');
  });
  test('loopback registries are plain HTTP; others are not', () => {
    for (const r of ['oci://localhost:5000/c', 'oci://127.0.0.1:5000', 'oci://[::1]:5000/x']) assert.equal(isLoopbackRegistry(r), true, r);
    for (const r of ['oci://ghcr.io/x', 'oci://localhost.example/x', 'oci://10.0.0.1:5000']) assert.equal(isLoopbackRegistry(r), false, r);
  });
  test('pushReport reads helm push\'s report', () => {
    assert.deepEqual(pushReport(`Pushed: localhost:5000/c/openshell:0.1.0\nDigest: ${DIGEST}\n`), { ref: 'localhost:5000/c/openshell:0.1.0', digest: DIGEST });
    assert.equal(pushReport('Pushed: x\n'), undefined);
  });
});

describe('the commands', () => {
  test('--dry-run: lints and packages (into its own temp directory), prints the push, pushes nothing', async () => {
    const { ctx, log } = ctxFor(['--dry-run', '--version', '3.0.0', '--registry', 'oci://ghcr.io/nvidia/openshell/charts']);
    answer([[/^helm package /, { stdout: `Successfully packaged chart and saved it to: ${join(work, 'openshell-3.0.0.tgz')}\n` }]]);
    assert.equal(await publish.main(ctx), 0);
    const cmds = history.map((h) => ({ cmd: h.cmd, write: h.write, printed: h.printed }));
    assert.match(cmds[0]!.cmd, /^helm lint --strict \S+\/openshell$/);
    assert.match(cmds[1]!.cmd, new RegExp(`^helm package \\S+/openshell --version 3\\.0\\.0 --app-version ${chart.appVersion.replaceAll('.', '\\.')} --destination \\S+$`));
    assert.deepEqual(cmds[2], { cmd: `helm push ${join(work, 'openshell-3.0.0.tgz')} oci://ghcr.io/nvidia/openshell/charts`, write: true, printed: true });
    assert.equal(cmds.length, 3);
    assert.ok(log.lines.some((l) => l.includes('[dry-run] would run: helm push')));
  });
  test('a push prints the digest; a refused push names the fix (log in)', async () => {
    const { ctx, log } = ctxFor(['--registry', 'oci://localhost:5000/c']);
    answer([[/^helm push /, { stderr: `Pushed: localhost:5000/c/openshell:${chart.version}\nDigest: ${DIGEST}\n` }]]);
    const out: string[] = [];
    const orig = console.log;
    console.log = (s: string) => void out.push(s);
    try {
      assert.equal(await publish.main(ctx), 0);
    } finally {
      console.log = orig;
    }
    assert.match(history.at(-1)!.cmd, /^helm push \S+\.tgz oci:\/\/localhost:5000\/c --plain-http$/);
    assert.deepEqual(out, [`oci://localhost:5000/c/openshell:${chart.version}@${DIGEST}`]);
    assert.ok(log.lines.some((l) => l.includes(`(digest ${DIGEST})`)));

    const denied = ctxFor(['--registry', 'oci://ghcr.io/nvidia/charts']).ctx;
    answer([[/^helm push /, { code: 1, stderr: 'Error: unexpected status from HEAD request: 401 Unauthorized\n' }]]);
    await assert.rejects(publish.main(denied), (e: Error) => e instanceof UserError && /helm push to oci:\/\/ghcr\.io\/nvidia\/charts failed: log in first \(helm registry login ghcr\.io\)/.test(e.message));
  });
});

describe('the mise task', () => {
  test('tasks/k8s-chart.toml runs the script with every argument, after the deps task; mise.toml includes it', () => {
    const toml = readFileSync(join(KIT_ROOT, 'tasks', 'k8s-chart.toml'), 'utf8');
    const body = /^\["k8s:chart:publish"\]\n((?:(?!\n\[).)*)/ms.exec(toml)?.[1] ?? '';
    assert.match(body, /^description = "Package the Helm chart .+[^.]"$/m);
    assert.match(body, /^depends = \["k8s:dev:deps"\]$/m);
    assert.match(body, /^raw_args = true$/m);
    assert.match(body, /^run = "node scripts\/k8s-chart\/publish\.ts"$/m);
    assert.match(readFileSync(join(KIT_ROOT, 'mise.toml'), 'utf8'), /^includes = \[.*"tasks\/k8s-chart\.toml".*\]$/m);
  });

  test('mise lists it and passes -h to the script', { skip: missingTools('mise') }, () => {
    const env = { ...process.env, MISE_TRUSTED_CONFIG_PATHS: KIT_ROOT, MISE_OFFLINE: '1', MISE_YES: '1', MISE_TASK_RUN_AUTO_INSTALL: '0' };
    const tasks = spawnSync('mise', ['tasks'], { cwd: KIT_ROOT, encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(tasks.status, 0, tasks.stderr);
    assert.match(tasks.stdout, /^k8s:chart:publish\s+Package the Helm chart/m);
    const help = spawnSync('mise', ['run', '--skip-deps', 'k8s:chart:publish', '-h'], { cwd: KIT_ROOT, encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^usage: mise run k8s:chart:publish \[flags\]/m);
  });
});

describe('README: the GitHub Actions publish recipe', () => {
  const readme = readFileSync(join(KIT_ROOT, 'README.md'), 'utf8');
  const block = /<!-- chart-publish-recipe:begin -->\n```yaml\n([\s\S]*?)```\n<!-- chart-publish-recipe:end -->/.exec(readme)?.[1] ?? '';
  const runs = [...block.matchAll(/^\s+- run: (.+)$/gm)].map((m) => m[1]!);

  test('it logs in with helm registry login to ghcr.io, then publishes to oci://ghcr.io/...', () => {
    assert.ok(block, 'README.md has the chart-publish-recipe block');
    assert.match(runs[0]!, /\| helm registry login ghcr\.io --username "\$GITHUB_ACTOR" --password-stdin$/);
    assert.match(runs[1]!, /^mise run k8s:chart:publish .*--registry "oci:\/\/ghcr\.io\//);
    assert.match(block, /packages: write/);
  });

  test('its publish step, run by bash as the runner does (a dry run: nothing is pushed), passes valid flags', { skip: missingTools('helm', 'bash') }, () => {
    const dir = mkdtempSync(join(work, 'recipe-'));
    mkdirSync(join(dir, 'bin'));
    // `mise run k8s:chart:publish ARGS` → the script itself, with --dry-run.
    writeFileSync(join(dir, 'bin', 'mise'), `#!/bin/sh\nshift 2\nexec "${process.execPath}" "${join(KIT_ROOT, 'scripts', 'k8s-chart', 'publish.ts')}" --dry-run "$@"\n`);
    chmodSync(join(dir, 'bin', 'mise'), 0o755);
    const r = spawnSync('bash', ['-e', '-c', runs[1]!], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: `${join(dir, 'bin')}:${process.env.PATH}`, HOME: dir, CI: 'true', GITHUB_REF_NAME: 'chart-v0.3.0-rc.1', GITHUB_REPOSITORY_OWNER: 'NVIDIA' },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /\[dry-run\] would run: helm push \S+\/openshell-0\.3\.0-rc\.1\.tgz oci:\/\/ghcr\.io\/nvidia\/charts\n/);
  });
});
