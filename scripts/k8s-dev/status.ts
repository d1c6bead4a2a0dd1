// k8s:dev:status — one screen: engine, cluster, registry, kubeconfig, chart
// release, gateway health and the sideload method in force. The exit status
// says healthy (0) or not (1).
import { fs } from 'zx';
import { devImages } from '../lib/bootstrap.ts';
import { failed, guard, printChecks, type CheckResult } from '../lib/checks.ts';
import { useEngine } from '../lib/engine.ts';
import { call, connect, serverVersion, type Kube } from '../lib/kube.ts';
import { providerFor } from '../lib/providers/index.ts';
import { gatewaySelector, releaseStatus } from '../lib/release.ts';
import { registryProblem, tagDigest } from '../lib/registry.ts';
import { chooseMethod } from '../lib/sideload.ts';
import { SETTINGS, type Settings } from '../lib/settings.ts';
import { isMain, runTask, type TaskContext, type TaskDefinition } from '../lib/task.ts';
import { findWorkloads, rolloutPending } from '../lib/workloads.ts';

/** Where the settings came from (defaults < .env < environment). */
function settingsCheck(s: Settings): CheckResult {
  const from = (o: string) => Object.keys(s.origin).filter((k) => s.origin[k] === o);
  const [dotenv, env] = [from('.env'), from('environment')];
  const parts = [dotenv.length ? `from .env: ${dotenv.join(', ')}` : '', env.length ? `from the environment: ${env.join(', ')}` : ''].filter(Boolean);
  return { name: 'settings', status: 'ok', detail: parts.join('; ') || 'all defaults' };
}

async function releaseCheck(ctx: TaskContext): Promise<CheckResult> {
  const s = ctx.settings;
  const release = await releaseStatus(ctx).catch(() => undefined);
  if (!release) return { name: 'release', status: 'fail', detail: `${s.release} not installed in ${s.namespace}`, fix: 'mise run k8s:dev:bootstrap' };
  const ok = release.status === 'deployed';
  return { name: 'release', status: ok ? 'ok' : 'fail', detail: `${s.release} revision ${release.revision} ${release.status}`, ...(ok ? {} : { fix: 'mise run k8s:dev:bootstrap --force' }) };
}

/** Every node Ready: a stopped kubelet shows here long before the gateway's pods notice. */
async function nodeCheck(kube: Kube): Promise<CheckResult> {
  const nodes = (await call('list Nodes', kube.core.listNode(), kube.timeoutMs)).items;
  if (nodes.length === 0) return { name: 'nodes', status: 'fail', detail: 'the cluster has no nodes: nothing can run', fix: 'mise run k8s:dev:up' };
  const bad = nodes.flatMap((n) => {
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
    return ready?.status === 'True' ? [] : [`${n.metadata?.name} NotReady (${ready ? `${ready.reason ?? ready.status}: ${ready.message ?? ''}`.trim() : 'no Ready condition yet'})`];
  });
  if (bad.length === 0) return { name: 'nodes', status: 'ok', detail: `${nodes.length} Ready` };
  return { name: 'nodes', status: 'fail', detail: bad.join('; '), fix: "the node's kubelet (or its container runtime) is down: restart the cluster (mise run k8s:dev:up), or on your own cluster check the node's kubelet" };
}

const IMAGE_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);

/** Why a workload's pods are not ready, from their container states: an image pull, a crash, or nothing known. */
async function podProblems(ctx: TaskContext, kube: Kube): Promise<{ detail: string; fix: string } | undefined> {
  const s = ctx.settings;
  // Every pod of the release: the gateway's, and the certificate hook Job's, which runs the gateway image
  // before any gateway pod exists (a pull failing there leaves no gateway at all).
  const pods = (await call('list the release Pods', kube.core.listNamespacedPod({ namespace: s.namespace, labelSelector: `app.kubernetes.io/instance=${s.release}` }), kube.timeoutMs)).items;
  for (const p of pods) {
    for (const c of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
      const w = c.state?.waiting;
      if (!w?.reason) continue;
      const what = `pod ${p.metadata?.name} container ${c.name}: ${w.reason}${w.message ? ` (${w.message.split('\n')[0]})` : ''}`;
      if (IMAGE_REASONS.has(w.reason)) {
        return { detail: what, fix: `the node cannot pull ${c.image}: check the registry answers (mise run k8s:dev:up starts it) and holds the image (mise run k8s:dev:sync)` };
      }
      if (w.reason === 'CrashLoopBackOff') return { detail: what, fix: `kubectl --kubeconfig ${s.kubeconfig} -n ${s.namespace} logs ${p.metadata?.name} -c ${c.name} --previous` };
    }
  }
  return undefined;
}

async function gatewayChecks(ctx: TaskContext, kube: Kube): Promise<CheckResult[]> {
  const s = ctx.settings;
  const [workloads, version] = await Promise.all([findWorkloads(kube, s.namespace, gatewaySelector(s)), serverVersion(kube)]);
  if (workloads.length === 0) {
    const chosen = chooseMethod(s.sideloadMethod, version);
    const problem = await podProblems(ctx, kube).catch(() => undefined);
    return [
      {
        name: 'gateway',
        status: 'fail',
        detail: `no gateway in namespace ${s.namespace}${problem ? `; ${problem.detail}` : ''}`,
        fix: problem?.fix ?? 'mise run k8s:dev:bootstrap (in-cluster) or mise run k8s:dev:gateway (out-of-cluster)',
      },
      { name: 'sideload', status: 'ok', detail: `${chosen.method} would be used (${chosen.reason})` },
    ];
  }
  const problem = workloads.some((w) => rolloutPending(w)) ? await podProblems(ctx, kube).catch(() => undefined) : undefined;
  const results: CheckResult[] = [];
  for (const w of workloads) {
    const pending = rolloutPending(w);
    const ready = `${w.status?.readyReplicas ?? 0}/${w.spec?.replicas ?? 1} ready`;
    results.push({
      name: 'gateway',
      status: pending ? 'fail' : 'ok',
      detail: `${w.kind} ${w.metadata?.name}: ${pending ?? ready}${pending && problem ? `; ${problem.detail}` : ''}`,
      ...(pending ? { fix: problem?.fix ?? `kubectl --kubeconfig ${s.kubeconfig} -n ${s.namespace} describe ${w.kind?.toLowerCase()} ${w.metadata?.name}` } : {}),
    });
    const method = await sideloadInForce(kube, s.namespace, w).catch(() => undefined);
    results.push({ name: 'sideload', status: 'ok', detail: `${method ?? 'unknown'} in force (gateway config; Kubernetes ${version.gitVersion})` });
  }
  return results;
}

/** supervisor_sideload_method in the gateway's config file: the ConfigMap its pods mount (the driver reads it there, not from the environment). */
async function sideloadInForce(kube: Kube, namespace: string, workload: object): Promise<string | undefined> {
  const w = workload as { spec?: { template?: { spec?: { volumes?: Array<{ configMap?: { name?: string } }> } } } };
  for (const v of w.spec?.template?.spec?.volumes ?? []) {
    if (!v.configMap?.name) continue;
    const cm = await call('read the gateway config', kube.core.readNamespacedConfigMap({ name: v.configMap.name, namespace }), kube.timeoutMs);
    for (const text of Object.values(cm.data ?? {})) {
      const m = /^\s*supervisor_sideload_method\s*=\s*"([^"]+)"/m.exec(text);
      if (m) return m[1];
    }
  }
  return undefined;
}

export const status: TaskDefinition = {
  name: 'status',
  summary: 'One screen: engine, cluster, registry, kubeconfig, release, gateway health, sideload method; exit status says healthy or not',
  flags: { json: { help: 'also write the verdict, every check and the settings with their origin as JSON on stdout' } },
  async main(ctx: TaskContext) {
    const s = ctx.settings;
    const provider = await providerFor(s.provider);
    const checks: CheckResult[] = [settingsCheck(s)];
    const report = () => {
      printChecks(ctx.log, checks);
      const n = failed(checks);
      if (n === 0) ctx.log.ok('healthy');
      if (ctx.flags.options.json === true) {
        const settings = Object.fromEntries(SETTINGS.map((spec) => [spec.name, { value: s.given[spec.name], origin: s.origin[spec.name] }]));
        process.stdout.write(JSON.stringify({ healthy: n === 0, checks, settings }, null, 2) + '\n');
      }
      return n > 0 ? 1 : 0;
    };

    if (provider.needsEngine) {
      checks.push(...(await guard('engine', async () => {
        const e = await useEngine(ctx);
        return { name: 'engine', status: 'ok', detail: `${e.name} (${e.reason}); DOCKER_HOST=${e.dockerHost ?? '(default socket)'}` };
      })));
      if (failed(checks) > 0) return report();
    }
    let running = false;
    checks.push(...(await guard('cluster', async () => {
      const st = await provider.state(ctx);
      running = st.running;
      return { name: 'cluster', status: st.running ? 'ok' : 'fail', detail: `${s.cluster}: ${st.detail}`, ...(st.running ? {} : { fix: 'mise run k8s:dev:up' }) };
    })));

    const registry = provider.registry(ctx);
    const images = devImages();
    const [registryChecks, kubeChecks, releaseChecks] = await Promise.all([
      guard('registry', async () => {
        const problem = await registryProblem(registry.host);
        if (problem) return { name: 'registry', status: 'fail', detail: problem, fix: 'mise run k8s:dev:up' };
        const tags = await Promise.all([images.gateway, images.supervisor].map(async (i) => `${i.repo}:${i.tag} ${(await tagDigest(registry.host, i.repo, i.tag)) ? 'present' : 'missing'}`));
        const missing = tags.some((t) => t.endsWith('missing'));
        return { name: 'registry', status: missing ? 'warn' : 'ok', detail: `${registry.host} (pods: ${registry.cluster}); ${tags.join(', ')}`, ...(missing ? { fix: 'mise run k8s:dev:sync' } : {}) };
      }),
      guard('kubeconfig', async () => (fs.existsSync(s.kubeconfig) ? { name: 'kubeconfig', status: 'ok', detail: `${s.kubeconfig} (export KUBECONFIG=${s.kubeconfig})` } : { name: 'kubeconfig', status: 'fail', detail: `${s.kubeconfig} missing`, fix: 'mise run k8s:dev:up' })),
      running && fs.existsSync(s.kubeconfig)
        ? guard('gateway', async () => {
            const kube = await connect(ctx);
            const [nodes, release, gateway] = await Promise.all([nodeCheck(kube), releaseCheck(ctx), gatewayChecks(ctx, kube)]);
            return [nodes, release, ...gateway];
          })
        : Promise.resolve([] as CheckResult[]),
    ]);
    checks.push(...registryChecks, ...kubeChecks, ...releaseChecks);

    return report();
  },
};

if (isMain(import.meta)) await runTask(status);
