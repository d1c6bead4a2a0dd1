// The doctor's sideload proof: a short-lived pod that gets the supervisor the
// way sandbox pods do (image volume, or emptyDir + copy-self) and runs
// `/opt/openshell/bin/openshell-sandbox --version`. Image volumes have been
// seen to mount empty, without an error, on some k3s/containerd releases: a
// version number is not proof, a binary that runs is. The pod is always
// deleted afterwards; when the chosen method fails, the other is tried so the
// report can say which one works on this cluster.
import { randomBytes } from 'node:crypto';
import type { IPod } from 'kubernetes-models/v1/Pod';
import { stringify } from 'yaml';
import { devImages } from './bootstrap.ts';
import { registryEndpoints } from './registry.ts';
import { $ } from 'zx';
import { $w } from './sh.ts';
import type { Settings } from './settings.ts';
import {
  AGENT_CONTAINER,
  chooseMethod,
  kubeServerVersion,
  otherMethod,
  SIDELOAD_SETTING,
  sideloadFragments,
  SUPERVISOR_BINARY,
  type MethodChoice,
  type PullPolicy,
  type SideloadMethod,
} from './sideload.ts';
import type { TaskContext } from './task.ts';

export interface CheckResult {
  /** Short name of the check, e.g. "sideload". */
  name: string;
  status: 'ok' | 'warn' | 'fail' | 'skip';
  /** One line: what was found. */
  detail: string;
  /** What to do about it (fail and warn). */
  fix?: string;
}

export interface SmokePodOptions {
  method: SideloadMethod;
  /** The supervisor image (binary at /openshell-sandbox). */
  image: string;
  pullPolicy?: PullPolicy | undefined;
  namespace: string;
  name: string;
}

export const SMOKE_LABEL = 'openshell.dev/sideload-smoke';

/** The dev supervisor image as pods pull it (through the registry's in-cluster name). */
export function devSupervisorImage(s: Pick<Settings, 'registryName' | 'registryPort'>): string {
  const { supervisor } = devImages();
  return `${registryEndpoints(s).cluster}/${supervisor.repo}:${supervisor.tag}`;
}

export function smokePodName(method: SideloadMethod, suffix = randomBytes(3).toString('hex')): string {
  return `openshell-sideload-smoke-${method === 'image-volume' ? 'iv' : 'ic'}-${suffix}`;
}

/**
 * The smoke pod: the agent container of a sandbox pod reduced to its sideload
 * part. It runs the supervisor image itself (static binary, nothing else
 * needed), so the proof pulls nothing a sandbox would not; the binary is read
 * only from the volume at /opt/openshell/bin.
 */
export function smokePodManifest(o: SmokePodOptions): IPod {
  const f = sideloadFragments(o.method, { image: o.image, pullPolicy: o.pullPolicy });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: o.name,
      namespace: o.namespace,
      labels: { 'app.kubernetes.io/part-of': 'openshell', 'app.kubernetes.io/component': 'sideload-smoke', [SMOKE_LABEL]: o.method },
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 0,
      activeDeadlineSeconds: 300,
      volumes: f.volumes,
      ...(f.initContainers.length > 0 ? { initContainers: f.initContainers } : {}),
      containers: [
        {
          name: AGENT_CONTAINER,
          image: o.image,
          ...(o.pullPolicy ? { imagePullPolicy: o.pullPolicy } : {}),
          command: f.agent.command,
          args: ['--version'],
          securityContext: f.agent.securityContext,
          volumeMounts: f.agent.volumeMounts,
        },
      ],
    },
  };
}

export interface ProveOptions {
  /** Default: settings.sideloadMethod, else chosen by the server version. */
  method?: SideloadMethod;
  /** Default: the dev image, devSupervisorImage(settings). */
  image?: string;
  /** Default IfNotPresent (the chart's default for the supervisor image). */
  pullPolicy?: PullPolicy;
  /** Default: the sandbox namespace when it exists, else `default`. */
  namespace?: string;
  /** e.g. "v1.35.1-k3s1"; default: asked from the API server. */
  serverVersion?: string;
  /** Seconds to wait for each pod to finish (default: min(OPENSHELL_DEV_TIMEOUT, 120)). */
  timeoutSec?: number;
  /** Try the other method when the chosen one fails (default true). */
  tryOther?: boolean;
  /** Called once the pod exists, before waiting (tests read the stored spec here). */
  onCreated?: (pod: { name: string; namespace: string; method: SideloadMethod }) => Promise<void>;
  /** Poll interval (ms). */
  pollMs?: number;
}

export interface SmokeOutcome {
  method: SideloadMethod;
  pod: string;
  /** works: the binary ran and exited 0; broken: it did not; inconclusive: no verdict in time (no real kubelet?). */
  verdict: 'works' | 'broken' | 'inconclusive' | 'printed';
  /** Version line printed by the binary, or why it failed. */
  detail: string;
  /** The failure is about the image (pull), not the method. */
  imageProblem: boolean;
  /** The pod was refused for a reason unrelated to the method (admission, quota, service account). */
  clusterProblem?: boolean;
}

interface PodStatusJson {
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    initContainerStatuses?: ContainerStatusJson[];
    containerStatuses?: ContainerStatusJson[];
  };
}
interface ContainerStatusJson {
  name: string;
  state?: {
    waiting?: { reason?: string; message?: string };
    running?: object;
    terminated?: { exitCode?: number; reason?: string; message?: string };
  };
}

const IMAGE_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);
const TERMINAL_WAITING = new Set([...IMAGE_REASONS, 'CreateContainerError', 'CreateContainerConfigError', 'RunContainerError', 'StartError']);

/** Verdict from one look at the pod's status; undefined while it is still on its way. */
export function judgeSmokePod(pod: PodStatusJson): { verdict: 'works' | 'broken'; detail: string; imageProblem: boolean } | undefined {
  const st = pod.status ?? {};
  const statuses = [...(st.initContainerStatuses ?? []), ...(st.containerStatuses ?? [])];
  for (const c of statuses) {
    const w = c.state?.waiting;
    if (w?.reason && TERMINAL_WAITING.has(w.reason)) {
      return { verdict: 'broken', detail: `${c.name}: ${w.reason}${w.message ? `: ${w.message}` : ''}`, imageProblem: IMAGE_REASONS.has(w.reason) };
    }
    const t = c.state?.terminated;
    if (t && t.exitCode !== 0) {
      const msg = t.message?.trim();
      return { verdict: 'broken', detail: `${c.name} exited ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}${msg ? `: ${msg}` : ''}`, imageProblem: false };
    }
  }
  if (st.phase === 'Succeeded') return { verdict: 'works', detail: 'exited 0', imageProblem: false };
  if (st.phase === 'Failed') return { verdict: 'broken', detail: `pod Failed${st.reason ? ` (${st.reason})` : ''}${st.message ? `: ${st.message}` : ''}`, imageProblem: false };
  return undefined;
}

async function defaultNamespace(ctx: TaskContext): Promise<string> {
  const ns = ctx.settings.sandboxNamespace;
  const r = await $({ nothrow: true, timeout: '15s' })`kubectl --kubeconfig ${ctx.settings.kubeconfig} get namespace ${ns} -o name`;
  return r.ok ? ns : 'default';
}

async function recentEvents(ctx: TaskContext, namespace: string, pod: string): Promise<string> {
  const r = await $({ nothrow: true, timeout: '15s' })`kubectl --kubeconfig ${ctx.settings.kubeconfig} get events -n ${namespace} --field-selector involvedObject.name=${pod} -o json`;
  try {
    const items = (JSON.parse(r.stdout) as { items?: Array<{ type?: string; reason?: string; message?: string }> }).items ?? [];
    const bad = items.filter((e) => e.type === 'Warning');
    return (bad.length > 0 ? bad : items)
      .slice(-2)
      .map((e) => `${e.reason}: ${e.message}`)
      .join('; ');
  } catch {
    return '';
  }
}

/** Create one smoke pod, wait for its verdict, read what the binary printed, delete it. */
export async function runSmokePod(ctx: TaskContext, o: SmokePodOptions & Pick<ProveOptions, 'timeoutSec' | 'onCreated' | 'pollMs'>): Promise<SmokeOutcome> {
  const manifest = smokePodManifest(o);
  const kc = ['--kubeconfig', ctx.settings.kubeconfig];
  const ns = ['-n', o.namespace];
  const base = { method: o.method, pod: `${o.namespace}/${o.name}` };
  const created = await $w({ input: stringify(manifest), nothrow: true, timeout: '30s' })`kubectl ${kc} create -f -`;
  if (ctx.dryRun) return { ...base, verdict: 'printed', detail: 'dry-run: printed, not created', imageProblem: false };
  if (!created.ok) {
    // e.g. an API server without image volumes rejects the volume outright.
    const why = (created.stderr || created.stdout).trim().split('\n').slice(-2).join(' ');
    // Only a refusal that names the volume is about the method (e.g. no image volumes before 1.31).
    const aboutMethod = /volume|\.image\b|field/i.test(why);
    return { ...base, verdict: 'broken', detail: `the API server refused the pod: ${why}`, imageProblem: false, ...(aboutMethod ? {} : { clusterProblem: true }) };
  }
  try {
    await o.onCreated?.({ name: o.name, namespace: o.namespace, method: o.method });
    const timeoutSec = o.timeoutSec ?? Math.min(ctx.settings.timeoutSec, 120);
    const deadline = Date.now() + timeoutSec * 1000;
    let last: PodStatusJson = {};
    const poll = async (): Promise<SmokeOutcome | undefined> => {
      for (;;) {
        const r = await $({ nothrow: true, timeout: '15s' })`kubectl ${kc} get pod ${o.name} ${ns} -o json`;
        if (r.ok && r.stdout.trim().startsWith('{')) {
          last = JSON.parse(r.stdout) as PodStatusJson;
          const verdict = judgeSmokePod(last);
          if (verdict) {
            const logs = await $({ nothrow: true, timeout: '15s' })`kubectl ${kc} logs ${o.name} ${ns} -c ${AGENT_CONTAINER}`;
            if (verdict.verdict === 'works') {
              const line = (logs.stdout.trim().split('\n')[0] ?? '').trim();
              return { ...base, verdict: 'works', detail: line ? `${SUPERVISOR_BINARY} --version printed "${line}"` : `${SUPERVISOR_BINARY} --version exited 0`, imageProblem: false };
            }
            const tail = logs.ok ? (logs.stdout.trim().split('\n').pop() ?? '') : '';
            return { ...base, verdict: 'broken', detail: verdict.detail + (tail ? ` (output: ${tail})` : ''), imageProblem: verdict.imageProblem };
          }
        }
        if (Date.now() >= deadline) return undefined;
        await new Promise((res) => setTimeout(res, o.pollMs ?? 1000));
      }
    };
    const outcome = await ctx.log.progress(`waiting for smoke pod ${o.namespace}/${o.name} (${o.method})`, poll());
    if (outcome) return outcome;
    const phase = last.status?.phase ?? 'unknown';
    const events = await recentEvents(ctx, o.namespace, o.name);
    const imageProblem = /pull|not found|manifest unknown/i.test(events);
    const detail =
      phase === 'Running'
        ? `pod still Running after ${timeoutSec}s: --version should exit at once (a simulated kubelet such as kwok runs no binary)`
        : `no verdict after ${timeoutSec}s (phase ${phase})${events ? `: ${events}` : ''}`;
    return { ...base, verdict: phase === 'Running' ? 'inconclusive' : 'broken', detail, imageProblem };
  } finally {
    await $w({ nothrow: true, timeout: '30s' })`kubectl ${kc} delete pod ${o.name} ${ns} --ignore-not-found --now --wait=false`;
  }
}

function fixFor(method: SideloadMethod): string {
  return `set ${SIDELOAD_SETTING}=${method} in .env and supervisor.sideloadMethod=${method} in the chart values (values.dev.yaml), then re-run mise run k8s:dev:bootstrap`;
}

/**
 * Prove the sideload on this cluster. The doctor calls this; under --dry-run
 * it prints the smoke pod (kubectl create -f - with the manifest) and creates
 * nothing.
 */
export async function proveSideload(ctx: TaskContext, opts: ProveOptions = {}): Promise<CheckResult> {
  const name = 'sideload';
  const image = opts.image ?? devSupervisorImage(ctx.settings);
  // The seed's volume carries a pullPolicy; IfNotPresent is the chart's default.
  opts = { ...opts, pullPolicy: opts.pullPolicy ?? 'IfNotPresent' };
  const explicit = opts.method ?? ctx.settings.sideloadMethod;

  let choice: MethodChoice;
  try {
    const version = explicit ? undefined : (opts.serverVersion ?? (await kubeServerVersion(['--kubeconfig', ctx.settings.kubeconfig])).gitVersion);
    choice = chooseMethod(explicit, version);
  } catch (err) {
    if (!ctx.dryRun) {
      return { name, status: 'fail', detail: `cannot choose the sideload method: ${(err as Error).message}`, fix: `start the cluster (mise run k8s:dev:up) or set ${SIDELOAD_SETTING}` };
    }
    // Dry-run without a cluster: show both pods.
    ctx.log.info(`[dry-run] the server version is unknown (${(err as Error).message}): printing the smoke pod for both methods`);
    for (const method of ['image-volume', 'init-container'] as const) {
      await runSmokePod(ctx, { method, image, pullPolicy: opts.pullPolicy, namespace: opts.namespace ?? ctx.settings.sandboxNamespace, name: smokePodName(method) });
    }
    return { name, status: 'skip', detail: 'dry-run: smoke pods printed for both methods, nothing created' };
  }

  const namespace = opts.namespace ?? (ctx.dryRun ? ctx.settings.sandboxNamespace : await defaultNamespace(ctx));
  const run = (method: SideloadMethod) =>
    runSmokePod(ctx, { method, image, pullPolicy: opts.pullPolicy, namespace, name: smokePodName(method), timeoutSec: opts.timeoutSec, onCreated: opts.onCreated, pollMs: opts.pollMs });

  const first = await run(choice.method);
  const why = `${choice.method} (${choice.reason})`;
  if (first.verdict === 'printed') return { name, status: 'skip', detail: `dry-run: smoke pod for ${why} printed, not created` };
  if (first.verdict === 'works') return { name, status: 'ok', detail: `${why} works: ${first.detail}` };
  if (first.verdict === 'inconclusive') {
    return { name, status: 'warn', detail: `${why} not proven: ${first.detail}`, fix: 'run the doctor against a cluster with a real kubelet (k3d) to prove the sideload' };
  }
  if (first.clusterProblem) {
    return { name, status: 'fail', detail: `${why}: ${first.detail}`, fix: `fix what the API server reports in namespace ${namespace}, then re-run mise run k8s:dev:doctor` };
  }
  if (first.imageProblem) {
    return {
      name,
      status: 'fail',
      detail: `${why}: the supervisor image ${image} could not be pulled: ${first.detail}`,
      fix: 'build and push the supervisor image (mise run k8s:dev:sync), and check the registry is reachable from the cluster',
    };
  }
  if (opts.tryOther === false) {
    return { name, status: 'fail', detail: `${why} failed: ${first.detail}`, fix: fixFor(otherMethod(choice.method)) };
  }
  const other = otherMethod(choice.method);
  const second = await run(other);
  if (second.verdict === 'works') {
    return {
      name,
      status: 'fail',
      detail: `${why} failed: ${first.detail}; ${other} works on this cluster: ${second.detail}`,
      fix: fixFor(other),
    };
  }
  if (second.verdict === 'inconclusive') {
    return { name, status: 'fail', detail: `${why} failed: ${first.detail}; ${other} was accepted but not proven: ${second.detail}`, fix: fixFor(other) };
  }
  return {
    name,
    status: 'fail',
    detail: `${why} failed: ${first.detail}; ${other} did not work either: ${second.detail}`,
    fix: `check the supervisor image ${image} really holds /openshell-sandbox (a static binary) and that the sandbox namespace admits root containers`,
  };
}
