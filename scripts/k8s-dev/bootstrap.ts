// k8s:dev:bootstrap — apply the agent-sandbox CRDs and controller, wait until
// the CRDs are Established and the controller is rolled out, then
// `helm upgrade --install` the chart with values.dev.yaml and wait for the
// gateway. A re-run with nothing changed skips the apply and the upgrade.
import { fs } from 'zx';
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
import { call, connect, getOrUndefined, serverVersion, waitFor, type Kube } from '../lib/kube.ts';
import { $w } from '../lib/sh.ts';
import { apply, ensureNamespace } from '../lib/cluster.ts';
import { providerFor } from '../lib/providers/index.ts';
import { gatewaySelector, releaseStatus } from '../lib/release.ts';
import { registryProblem, tagDigest } from '../lib/registry.ts';
import { chooseMethod } from '../lib/sideload.ts';
import { isMain, runTask, UserError, type TaskContext, type TaskDefinition } from '../lib/task.ts';
import { requireTools } from '../lib/tools.ts';
import { findWorkloads, waitForRollout } from '../lib/workloads.ts';

const MANIFEST_ANNOTATION = 'openshell.dev/agent-sandbox-sha256';

async function crdsCurrent(kube: Kube, manifest: Manifest, fingerprint: string): Promise<boolean> {
  for (const crd of manifest.objects.filter((o) => o.kind === 'CustomResourceDefinition')) {
    const live = await getOrUndefined(`read CRD ${crd.metadata.name}`, kube.apiext.readCustomResourceDefinition({ name: crd.metadata.name }), kube.timeoutMs);
    if (live?.metadata?.annotations?.[MANIFEST_ANNOTATION] !== fingerprint) return false;
  }
  return true;
}

async function applyAgentSandbox(ctx: TaskContext, kube: Kube, manifest: Manifest, force: boolean): Promise<void> {
  const kc = ['--kubeconfig', ctx.settings.kubeconfig];
  const crds = manifest.objects.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name);
  const apply = () => $w({ input: manifest.text, timeout: `${ctx.settings.timeoutSec}s` })`kubectl ${kc} apply --server-side --force-conflicts --field-manager ${MANAGED_BY} -f -`;
  // What was applied, and how: an edit to the manifest or to the command above re-applies.
  const fingerprint = sha256(manifest.sha256 + '\0' + apply.toString());
  if (!force && (await crdsCurrent(kube, manifest, fingerprint))) {
    ctx.log.ok(`agent-sandbox ${ctx.settings.agentSandboxVersion} already applied (${crds.length} CRDs)`);
  } else {
    ctx.log.step(`applying agent-sandbox from ${manifest.source}`);
    await apply();
    // Mark the CRDs with what was applied, so a re-run can tell nothing changed.
    await $w({ timeout: '60s' })`kubectl ${kc} annotate --overwrite ${crds.map((c) => `customresourcedefinition/${c}`)} ${MANIFEST_ANNOTATION}=${fingerprint}`;
  }
  if (ctx.dryRun) return;
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

function recordObject(namespace: string, record: BootstrapRecord) {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: STATE_CONFIGMAP, namespace, labels: { 'app.kubernetes.io/managed-by': MANAGED_BY } }, data: { ...record } };
}

/** The settings that differ from values.dev.yaml's, as helm flags. */
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
    await requireTools('kubectl', 'helm');

    // Detect
    const state = await provider.state(ctx);
    if (!state.running) throw new UserError(`cluster ${s.cluster} is not running (${state.detail}): run \`mise run k8s:dev:up\` first`);
    const kube = await connect(ctx);
    const version = await serverVersion(kube);
    const sideload = chooseMethod(s.sideloadMethod, version);
    ctx.log.ok(`cluster ${s.cluster}: Kubernetes ${version.gitVersion}; supervisor sideload: ${sideload.method} (${sideload.reason})`);

    // agent-sandbox
    const manifest = await loadManifest(s, ctx.env);
    await applyAgentSandbox(ctx, kube, manifest, force);

    // The chart. The record of what was installed covers the chart, the values and the exact
    // helm command below: editing any of them (a flag in this script too) upgrades on the next run.
    const kc = ['--kubeconfig', s.kubeconfig];
    const upgrade = () =>
      $w({ timeout: `${s.timeoutSec + 60}s` })`helm ${kc} upgrade --install ${s.release} ${CHART_DIR} --namespace ${s.namespace} ${helmValuesArgs(ctx)} --wait --timeout ${s.timeoutSec}s`.quiet(!ctx.log.verbose);
    const images = ctx.flags.options['skip-image-check'] === true ? 'unchecked' : await imageDigests(ctx, provider.registry(ctx).host);
    const wanted: Omit<BootstrapRecord, 'revision'> = {
      manifest: manifest.sha256,
      chart: chartFingerprint(),
      values: sha256(fs.readFileSync(DEV_VALUES, 'utf8') + '\0' + upgrade.toString() + '\0' + helmValuesArgs.toString() + '\0' + helmValuesArgs(ctx).join('\0')),
      images,
    };
    const [status, record] = await Promise.all([releaseStatus(ctx), readRecord(kube, s.namespace)]);
    const chartSame = record !== undefined && record.chart === wanted.chart && record.values === wanted.values && status?.status === 'deployed' && status.revision === record.revision;
    if (chartSame && record.images === wanted.images && !force) {
      ctx.log.ok(`release ${s.release} is up to date (revision ${status?.revision}): nothing to do`);
    } else {
      // The chart puts objects in both namespaces; helm creates neither.
      for (const ns of new Set([s.namespace, s.sandboxNamespace])) await ensureNamespace(ctx, kube, ns);
      if (chartSame && !force) {
        ctx.log.step('dev images changed: restarting the gateway');
      } else {
        ctx.log.step(`${status ? 'upgrading' : 'installing'} release ${s.release} (${CHART_DIR})`);
        await ctx.log.progress(`helm upgrade --install ${s.release} --wait`, upgrade());
      }
      const gateways = ctx.dryRun ? [] : await findWorkloads(kube, s.namespace, gatewaySelector(s));
      if (!ctx.dryRun && gateways.length === 0) throw new UserError(`release ${s.release} has no gateway workload in namespace ${s.namespace}`);
      for (const g of gateways) {
        if (chartSame && !force) await $w({ timeout: '60s' })`kubectl ${kc} rollout restart ${g.kind!.toLowerCase()}/${g.metadata!.name} -n ${s.namespace}`;
        await waitForRollout(ctx, kube, g.kind!, s.namespace, g.metadata!.name!);
      }
      const after = ctx.dryRun ? undefined : await releaseStatus(ctx);
      await apply(ctx, recordObject(s.namespace, { ...wanted, revision: after?.revision ?? '' }));
    }

    // Report
    ctx.log.ok(`gateway ready in namespace ${s.namespace}; sandboxes in ${s.sandboxNamespace}`);
    if (provider.name === 'k3d') ctx.log.info(`gRPC: localhost:${s.httpPort} (NodePort 30051)`);
    ctx.log.info('next: mise run k8s:dev:status');
    return 0;
  },
};

if (isMain(import.meta)) await runTask(bootstrap);
