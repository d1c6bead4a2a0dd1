// k8s:dev:doctor — preflight: every check prints pass or fail with the fix;
// any failure makes the exit status non-zero. With a running cluster it also
// proves the supervisor sideload with a short-lived smoke pod.
import { fs, os } from 'zx';
import { failed, guard, printChecks, type CheckResult } from '../lib/checks.ts';
import { detectEngine, pingEngine, pointAtEngine, type Engine } from '../lib/engine.ts';
import { kubeconfigFiles, hasOurEntries } from '../lib/kubeconfig.ts';
import { portProblem } from '../lib/ports.ts';
import { providerFor } from '../lib/providers/index.ts';
import type { ClusterState } from '../lib/providers/types.ts';
import { registryProblem } from '../lib/registry.ts';
import { kubeNames } from '../lib/settings.ts';
import { proveSideload } from '../lib/smoke-pod.ts';
import { isMain, runTask, type TaskContext, type TaskDefinition } from '../lib/task.ts';
import { checkTool } from '../lib/tools.ts';

async function engineChecks(ctx: TaskContext): Promise<CheckResult[]> {
  let engine: Engine;
  try {
    engine = await detectEngine(ctx);
  } catch (err) {
    return [{ name: 'engine', status: 'fail', detail: (err as Error).message, fix: 'install Docker or Podman, or set CONTAINER_ENGINE=docker|podman' }];
  }
  pointAtEngine(engine);
  const endpoint = `DOCKER_HOST=${engine.dockerHost ?? '(unset: default socket)'} DOCKER_SOCK=${engine.dockerSock ?? '(unset)'}`;
  const resolved: CheckResult = { name: 'engine', status: 'ok', detail: `${engine.name} via the ${engine.cli} CLI (${engine.reason}); ${endpoint}` };
  try {
    const version = await pingEngine(engine);
    return [resolved, { name: 'engine api', status: 'ok', detail: `${engine.name} ${version} answers` }];
  } catch (err) {
    const [what, fix] = (err as Error).message.split(': start');
    return [resolved, { name: 'engine api', status: 'fail', detail: what ?? '', fix: fix ? `start${fix}` : 'start the engine' }];
  }
}

async function toolChecks(ctx: TaskContext, tools: string[]): Promise<CheckResult[]> {
  const results = await Promise.all(tools.map((t) => checkTool(t)));
  return results.map((r) => ({
    name: r.name,
    status: r.ok ? 'ok' : 'fail',
    detail: r.ok ? r.message : r.message.split(': ')[0]!,
    ...(r.ok ? {} : { fix: r.message.split(': ').slice(1).join(': ') }),
  }));
}

async function portChecks(ctx: TaskContext, state: ClusterState): Promise<CheckResult[]> {
  const s = ctx.settings;
  if (state.exists) return [{ name: 'ports', status: 'ok', detail: `${s.httpPort} and ${s.registryPort} belong to the existing cluster ${s.cluster}` }];
  const problems = (await Promise.all([portProblem('OPENSHELL_DEV_HTTP_PORT', s.httpPort), portProblem('OPENSHELL_DEV_REGISTRY_PORT', s.registryPort)])).filter((p) => p !== null);
  if (problems.length === 0) return [{ name: 'ports', status: 'ok', detail: `${s.httpPort} (gateway) and ${s.registryPort} (registry) are free` }];
  return problems.map((p) => ({ name: 'ports', status: 'fail', detail: p!.split(';')[0]!, fix: 'stop what listens there, or set OPENSHELL_DEV_HTTP_PORT / OPENSHELL_DEV_REGISTRY_PORT in .env' }));
}

function kubeconfigChecks(ctx: TaskContext): CheckResult[] {
  const s = ctx.settings;
  const out: CheckResult[] = [];
  const names = kubeNames(s);
  for (const file of kubeconfigFiles(ctx.env, ctx.env.HOME ?? os.homedir())) {
    if (!fs.existsSync(file)) continue;
    try {
      const ours = hasOurEntries(fs.readFileSync(file, 'utf8'), names, file);
      out.push({ name: 'kubeconfig', status: 'ok', detail: `${file} parses${ours ? ` and holds context ${names.context}` : ''}` });
    } catch (err) {
      out.push({ name: 'kubeconfig', status: s.mergeKubeconfig ? 'fail' : 'warn', detail: (err as Error).message.split(';')[0]!, fix: `repair ${file} (kubectl cannot read it either); the kit never writes to an unreadable file` });
    }
  }
  out.push({ name: 'kubeconfig', status: 'ok', detail: `the cluster's own file: ${s.kubeconfig}${fs.existsSync(s.kubeconfig) ? '' : ' (written by up)'}; merge into yours: ${s.mergeKubeconfig ? 'on' : 'off'}` });
  return out;
}

export const doctor: TaskDefinition = {
  name: 'doctor',
  summary: 'Preflight: engine, tools and versions, ports, names, kubeconfig, and a smoke pod proving the supervisor sideload',
  flags: { 'no-smoke': { help: 'skip the sideload smoke pod' } },
  async main(ctx: TaskContext) {
    const s = ctx.settings;
    const provider = await providerFor(s.provider);
    const checks: CheckResult[] = [
      { name: 'settings', status: 'ok', detail: `valid; cluster ${s.cluster} (${s.cluster.length}/32 characters), provider ${s.provider}` },
    ];
    if (provider.needsEngine) checks.push(...(await engineChecks(ctx)));
    const tools = [...new Set([...provider.tools, 'kubectl', 'helm', 'skaffold'])];
    checks.push(...(await toolChecks(ctx, tools)));

    const engineUp = !checks.some((c) => c.name.startsWith('engine') && c.status === 'fail');
    let state: ClusterState | undefined;
    if (engineUp) {
      const [st] = await guard('cluster', async () => {
        state = await provider.state(ctx);
        return { name: 'cluster', status: 'ok', detail: state.detail };
      });
      checks.push(st!);
    }
    if (provider.name !== 'existing' && state) checks.push(...(await portChecks(ctx, state)));
    checks.push(...kubeconfigChecks(ctx));

    if (state?.running) {
      const host = provider.registry(ctx).host;
      const problem = await registryProblem(host);
      checks.push(problem ? { name: 'registry', status: 'fail', detail: problem, fix: 'run `mise run k8s:dev:up` (it creates the registry)' } : { name: 'registry', status: 'ok', detail: `${host} answers` });
    }
    if (ctx.flags.options['no-smoke'] === true) {
      checks.push({ name: 'sideload', status: 'skip', detail: '--no-smoke' });
    } else if (state?.running || ctx.dryRun) {
      // Where nodes run nothing (kwok) the verdict can only be "not proven": don't wait long for it.
      checks.push(...(await guard('sideload', () => proveSideload(ctx, provider.runsContainers ? {} : { timeoutSec: 10 }))));
    } else {
      checks.push({ name: 'sideload', status: 'skip', detail: 'no running cluster to prove it on', fix: 'mise run k8s:dev:up, then re-run the doctor' });
    }

    printChecks(ctx.log, checks);
    const n = failed(checks);
    if (n > 0) ctx.log.error(`${n} check(s) failed`);
    else ctx.log.ok('all checks passed');
    return n > 0 ? 1 : 0;
  },
};

if (isMain(import.meta)) await runTask(doctor);
