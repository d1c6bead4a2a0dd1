// k8s:chart:publish — the chart as an OCI artifact:
//   1. the version and appVersion (--version/--app-version, else
//      OPENSHELL_CHART_VERSION/OPENSHELL_CHART_APP_VERSION, else Chart.yaml's),
//      each SemVer; the registry (--registry, else OPENSHELL_CHART_REGISTRY,
//      else the dev registry's oci://localhost:<port>/charts);
//   2. a staged copy of the chart whose artifacthub.io/images name the images
//      at that appVersion, linted (`helm lint --strict`);
//   3. `helm package --version --app-version` into a temporary directory;
//   4. `helm push` to the registry (plain HTTP for a loopback registry or with
//      --plain-http; log in first with `helm registry login` elsewhere);
//   5. the pushed reference and its digest: a log line, and
//      `oci://<ref>@<digest>` alone on stdout for scripts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { $ } from 'zx';
import { chartMeta, isLoopbackRegistry, pushReport, stageChart } from '../lib/chart.ts';
import { OCI_REGISTRY, SEMVER } from '../lib/settings.ts';
import { $w } from '../lib/sh.ts';
import { isMain, runTask, UserError, type TaskContext, type TaskDefinition } from '../lib/task.ts';

export interface PublishPlan {
  registry: string;
  version: string;
  appVersion: string;
  plainHttp: boolean;
}

/** What to publish where, from the flags, the settings and Chart.yaml; a bad flag is exit 2 naming it. */
export function publishPlan(ctx: TaskContext): PublishPlan {
  const o = ctx.flags.options;
  const s = ctx.settings;
  const chart = chartMeta();
  const flag = (name: string) => (o[name] as string | undefined)?.trim();
  const version = flag('version') ?? (s.chartVersion || chart.version);
  const appVersion = flag('app-version') ?? (s.chartAppVersion || chart.appVersion);
  const registry = (flag('registry') ?? (s.chartRegistry || `oci://localhost:${s.registryPort}/charts`)).replace(/\/$/, '');
  if (!SEMVER.test(version)) throw new UserError(`--version ${JSON.stringify(version)} is not valid: must be a SemVer 2 version without a leading v, such as 0.2.0 or 0.2.0-rc.1`, 2);
  if (!SEMVER.test(appVersion)) throw new UserError(`--app-version ${JSON.stringify(appVersion)} is not valid: must be a SemVer version without a leading v (an OpenShell release, the image tag), such as 0.0.37`, 2);
  if (!OCI_REGISTRY.test(registry)) throw new UserError(`--registry ${JSON.stringify(registry)} is not valid: must be oci://<host>[:<port>][/<path>] with a lower-case path, such as oci://ghcr.io/nvidia/openshell/charts`, 2);
  return { registry, version, appVersion, plainHttp: o['plain-http'] === true || isLoopbackRegistry(registry) };
}

export const publish: TaskDefinition = {
  name: 'publish',
  task: 'k8s:chart:publish',
  summary: 'Package the chart with the given version and appVersion, push it to an OCI registry, print its digest',
  flags: {
    version: { help: 'chart version, SemVer (default: OPENSHELL_CHART_VERSION, else Chart.yaml\'s)', value: true },
    'app-version': { help: 'appVersion: the OpenShell release whose images the chart runs (default: OPENSHELL_CHART_APP_VERSION, else Chart.yaml\'s)', value: true },
    registry: { help: 'oci://host[:port]/path to push to (default: OPENSHELL_CHART_REGISTRY, else oci://localhost:OPENSHELL_DEV_REGISTRY_PORT/charts)', value: true },
    'plain-http': { help: 'speak plain HTTP to the registry (automatic for localhost and 127.0.0.1)' },
  },
  async main(ctx) {
    const plan = publishPlan(ctx);
    const { name } = chartMeta();
    const work = mkdtempSync(join(tmpdir(), 'openshell-chart-publish-'));
    try {
      ctx.log.step(`packaging ${name} ${plan.version} (appVersion ${plan.appVersion})`);
      const staged = join(work, name);
      for (const i of stageChart(staged, plan.appVersion)) ctx.log.info(`artifacthub.io/images: ${i.name} ${i.image}`);
      await $({ timeout: '120s' })`helm lint --strict ${staged}`;
      const pkg = await $({ timeout: '120s' })`helm package ${staged} --version ${plan.version} --app-version ${plan.appVersion} --destination ${work}`;
      const tgz = /saved it to:\s*(\S+\.tgz)/.exec(pkg.stdout)?.[1] ?? join(work, `${name}-${plan.version}.tgz`);
      ctx.log.ok(`packaged ${tgz.split('/').pop()}`);

      ctx.log.step(`pushing to ${plan.registry}${plan.plainHttp ? ' (plain HTTP)' : ''}`);
      const plain = plan.plainHttp ? ['--plain-http'] : [];
      const push = await ctx.log.progress(`helm push ${name}-${plan.version}.tgz`, $w({ timeout: '300s', nothrow: true })`helm push ${tgz} ${plan.registry} ${plain}`);
      if (ctx.dryRun) return 0;
      if (!push.ok) {
        const said = (push.stderr || push.stdout).trim().split('\n').slice(-3).join('\n');
        const hint = /unauthorized|denied|authentication required/i.test(said) ? `: log in first (helm registry login ${plan.registry.replace(/^oci:\/\//, '').split('/')[0]})` : /HTTP response to HTTPS client/.test(said) ? ': the registry speaks plain HTTP, pass --plain-http' : '';
        throw new UserError(`helm push to ${plan.registry} failed${hint}\n${said}`);
      }
      const report = pushReport(push.stdout + push.stderr);
      if (!report) throw new UserError(`helm push succeeded but printed no digest:\n${push.stdout}${push.stderr}`);
      ctx.log.ok(`pushed ${report.ref} (digest ${report.digest})`);
      console.log(`oci://${report.ref}@${report.digest}`);
      return 0;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
};

if (isMain(import.meta)) await runTask(publish);
