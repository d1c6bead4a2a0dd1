// k8s:dev:bootstrap — apply the agent-sandbox CRDs and controller, wait until
// the CRDs are Established and the controller is rolled out, then
// `helm upgrade --install` the chart with values.dev.yaml and wait for the
// gateway. A re-run with nothing changed skips the apply and the upgrade.
import { readFileSync } from 'node:fs';
import {
  chartFingerprint,
  CHART_DIR,
  DEV_VALUES,
  devImages,
  loadManifest,
  MANAGED_BY,
  recordFromData,
  sha256,
  STATE_CONFIGMAP,
  type BootstrapRecord,
  type Manifest,
} from '../lib/bootstrap.ts';
import { call, connect, getOrUndefined, helm, kubectl, serverVersion, waitFor, type Kube } from '../lib/kube.ts';
import { ensureNamespace } from '../lib/cluster.ts';
import { providerFor } from '../lib/providers/index.ts';
import { gatewaySelector, releaseStatus } from '../lib/release.ts';
import { registryProblem, tagDigest } from '../lib/registry.ts';
import { chooseMethod } from '../lib/sideload.ts';
import { isMain, runTask, UserError, type TaskContext, type TaskDefinition } from '../lib/task.ts';
import { requireTools } from '../lib/tools.ts';
import { findWorkloads, waitForRollout } from '../lib/workloads.ts';

const MANIFEST_ANNOTATION = 'openshell.dev/agent-sandbox-sha256';

async function crdsCurrent(kube: Kube, manifest: Manifest): Promise<boolean> {
  for (const crd of manifest.objects.filter((o) => o.kind === 'CustomResourceDefinition')) {
    const live = await getOrUndefined(`read CRD ${crd.metadata.name}`, kube.apiext.readCustomResourceDefinition({ name: crd.metadata.name }), kube.timeoutMs);
    if (live?.metadata?.annotations?.[MANIFEST_ANNOTATION] !== manifest.sha256) return false;
  }
  return true;
}

async function applyAgentSandbox(ctx: TaskContext, kube: Kube, manifest: Manifest): Promise<void> {
  const crds = manifest.objects.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name);
  if (await crdsCurrent(kube, manifest)) {
    ctx.log.ok(`agent-sandbox ${ctx.settings.agentSandboxVersion} already applied (${crds.length} CRDs)`);
  } else {
    ctx.log.step(`applying agent-sandbox from ${manifest.source}`);
    await ctx.run.run({
      argv: kubectl(ctx, 'apply', '--server-side', '--force-conflicts', '--field-manager', MANAGED_BY, '-f', '-'),
      input: manifest.text,
      mutates: true,
      timeoutMs: ctx.settings.timeoutSec * 1000,
    });
    // Mark the CRDs with what was applied, so a re-run can tell nothing changed.
    await ctx.run.run({
      argv: kubectl(ctx, 'annotate', '--overwrite', ...crds.map((c) => `customresourcedefinition/${c}`), `${MANIFEST_ANNOTATION}=${manifest.sha256}`),
      mutates: true,
      timeoutMs: 60_000,
    });
  }
  if (ctx.run.dryRun) return;
  await ctx.log.progress(
    `waiting for ${crds.length} CRD(s) to be Established`,
    waitFor('the agent-sandbox CRDs to be Established', ctx.settings.timeoutSec, async () => {
      for (const name of crds) {
        const crd = await call(`read CRD ${name}`, kube.apiext.readCustomResourceDefinition({ name }), kube.timeoutMs);
        if (!crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return undefined;
      }
      return true;
    }),
  );
  for (const w of manifest.objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')) {
    await waitForRollout(ctx, kube, w.kind, w.metadata.namespace ?? 'default', w.metadata.name);
  }
}

/** Digests of the dev images in the host registry; a clear error naming what to run when absent. */
async function imageDigests(ctx: TaskContext, host: string): Promise<string> {
  const { gateway, supervisor } = devImages();
  const problem = await registryProblem(host);
  if (problem) throw new UserError(`${problem}: run \`mise run k8s:dev:up\` (it creates the registry), then \`mise run k8s:dev:sync\``);
  const found = await Promise.all([gateway, supervisor].map(async (i) => ({ i, digest: await tagDigest(host, i.repo, i.tag) })));
  const missing = found.filter((f) => f.digest === undefined).map((f) => `${host}/${f.i.repo}:${f.i.tag}`);
  if (missing.length > 0) {
    throw new UserError(
      `the dev images are not in the registry (${missing.join(', ')}): run \`mise run k8s:dev:sync\` to build and push them, then re-run bootstrap (or pass --skip-image-check)`,
    );
  }
  return found.map((f) => `${f.i.repo}:${f.i.tag}@${f.digest}`).join(',');
}

async function readRecord(kube: Kube, namespace: string): Promise<BootstrapRecord | undefined> {
  const cm = await getOrUndefined('read the bootstrap record', kube.core.readNamespacedConfigMap({ name: STATE_CONFIGMAP, namespace }), kube.timeoutMs);
  return recordFromData(cm?.data);
}

async function writeRecord(kube: Kube, namespace: string, record: BootstrapRecord): Promise<void> {
  const body = {
    metadata: { name: STATE_CONFIGMAP, namespace, labels: { 'app.kubernetes.io/managed-by': MANAGED_BY } },
    data: { ...record },
  };
  const existing = await getOrUndefined('read the bootstrap record', kube.core.readNamespacedConfigMap({ name: STATE_CONFIGMAP, namespace }), kube.timeoutMs);
  if (existing) {
    await call('update the bootstrap record', kube.core.replaceNamespacedConfigMap({ name: STATE_CONFIGMAP, namespace, body }), kube.timeoutMs);
  } else {
    await call('create the bootstrap record', kube.core.createNamespacedConfigMap({ namespace, body }), kube.timeoutMs);
  }
}

export function helmValuesArgs(ctx: TaskContext): string[] {
  const s = ctx.settings;
  const args = ['-f', DEV_VALUES];
  // values.dev.yaml names the default registry (openshell-registry:5000); pods pull from the one in use.
  if (s.registryName !== 'openshell-registry') {
    args.push('--set', `image.repository=${s.registryName}:5000/openshell-gateway`, '--set', `supervisor.image.repository=${s.registryName}:5000/openshell-supervisor`);
  }
  if (s.sideloadMethod) args.push('--set', `supervisor.sideloadMethod=${s.sideloadMethod}`);
  if (s.sandboxNamespace !== s.namespace) args.push('--set', `sandbox.namespace=${s.sandboxNamespace}`);
  return args;
}

export const bootstrap: TaskDefinition = {
  name: 'bootstrap',
  summary: 'Apply the agent-sandbox CRDs and controller, then install the chart with values.dev.yaml and wait for the gateway',
  flags: {
    'skip-image-check': { help: 'install even when the dev images are not in the local registry' },
    force: { help: 'apply and upgrade even when nothing changed' },
  },
  async main(ctx: TaskContext) {
    const s = ctx.settings;
    const force = ctx.flags.options.force === true;
    const provider = await providerFor(s.provider);
    await requireTools(ctx, 'kubectl', 'helm');

    // Detect
    const state = await provider.state(ctx);
    if (!state.running) throw new UserError(`cluster ${s.cluster} is not running (${state.detail}): run \`mise run k8s:dev:up\` first`);
    const kube = await connect(ctx);
    const version = await serverVersion(kube);
    const sideload = chooseMethod(s.sideloadMethod, version);
    ctx.log.ok(`cluster ${s.cluster}: Kubernetes ${version.gitVersion}; supervisor sideload: ${sideload.method} (${sideload.reason})`);

    // agent-sandbox
    const manifest = await loadManifest(s, ctx.env);
    await applyAgentSandbox(ctx, kube, manifest);

    // The chart
    const images = ctx.flags.options['skip-image-check'] === true ? 'unchecked' : await imageDigests(ctx, provider.registry(ctx).host);
    const wanted: Omit<BootstrapRecord, 'revision'> = {
      manifest: manifest.sha256,
      chart: chartFingerprint(),
      values: sha256(readFileSync(DEV_VALUES, 'utf8') + '\0' + helmValuesArgs(ctx).join('\0')),
      images,
    };
    const [status, record] = await Promise.all([releaseStatus(ctx), readRecord(kube, s.namespace)]);
    const chartSame = record !== undefined && record.chart === wanted.chart && record.values === wanted.values && status?.status === 'deployed' && status.revision === record.revision;
    if (chartSame && record.images === wanted.images && !force) {
      ctx.log.ok(`release ${s.release} is up to date (revision ${status?.revision}): nothing to do`);
    } else {
      await ensureNamespace(ctx, kube, s.namespace);
      if (chartSame && !force) {
        ctx.log.step('dev images changed: restarting the gateway');
      } else {
        ctx.log.step(`${status ? 'upgrading' : 'installing'} release ${s.release} (${CHART_DIR})`);
        await ctx.run.run({
          argv: helm(ctx, 'upgrade', '--install', s.release, CHART_DIR, '--namespace', s.namespace, ...helmValuesArgs(ctx), '--wait', '--timeout', `${s.timeoutSec}s`),
          mode: 'stream',
          mutates: true,
          timeoutMs: (s.timeoutSec + 60) * 1000,
        });
      }
      const gateways = ctx.run.dryRun ? [] : await findWorkloads(kube, s.namespace, gatewaySelector(s));
      if (!ctx.run.dryRun && gateways.length === 0) throw new UserError(`release ${s.release} has no gateway workload in namespace ${s.namespace}`);
      for (const g of gateways) {
        if (chartSame && !force) {
          await ctx.run.run({ argv: kubectl(ctx, 'rollout', 'restart', `${g.kind!.toLowerCase()}/${g.metadata!.name}`, '-n', s.namespace), mutates: true, timeoutMs: 60_000 });
        }
        await waitForRollout(ctx, kube, g.kind!, s.namespace, g.metadata!.name!);
      }
      if (!ctx.run.dryRun) {
        const after = await releaseStatus(ctx);
        await writeRecord(kube, s.namespace, { ...wanted, revision: after?.revision ?? '' });
      }
    }

    // Report
    ctx.log.ok(`gateway ready in namespace ${s.namespace}; sandboxes in ${s.sandboxNamespace}`);
    if (provider.name === 'k3d') ctx.log.info(`gRPC: localhost:${s.httpPort} (NodePort 30051)`);
    ctx.log.info('next: mise run k8s:dev:status');
    return 0;
  },
};

if (isMain(import.meta)) await runTask(bootstrap);
