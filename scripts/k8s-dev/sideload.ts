// k8s:dev:sideload — get a rebuilt supervisor into sandboxes, the way the
// Kubernetes driver lets one in (openshell-driver-kubernetes, driver.rs): the
// agent mounts the supervisor read-only at /opt/openshell/bin under both
// methods (an image volume, or an emptyDir an init container fills with
// `copy-self`) and sandbox pods have restartPolicy Never, so a running pod
// never runs another binary. A new pod does: it mounts (image-volume) or
// copies (init-container) the supervisor image again, pulled with the
// gateway's supervisor_image_pull_policy (Always in values.dev.yaml).
//   1. build the static supervisor (OPENSHELL_DEV_SUPERVISOR_BUILD_COMMAND in
//      the OpenShell checkout), or take the path given as the first argument;
//      a dynamic binary is refused;
//   2. push it as the dev supervisor image (:dev and a content tag), as `sync`;
//   3. find the sandbox pods (OPENSHELL_DEV_SANDBOX_SELECTOR in the sandbox
//      namespace; --sandbox narrows to some), skip those that already run it;
//   4. stop and start each sandbox through the gateway with the real CLI
//      (`openshell sandbox stop`, `openshell sandbox start`): the driver
//      suspends the Sandbox (the agent-sandbox controller deletes the pod) and
//      resumes it (a new pod from the Sandbox's podTemplate). Deleting the pod
//      alone is not enough: the controller recreates it and the new supervisor
//      connects, but the gateway has seen the sandbox's main process exit and
//      keeps it in phase Error, which only a lifecycle operation leaves;
//   5. wait for each new pod to run and the gateway to report the sandbox
//      Ready, and prove the binary: sha256 of /opt/openshell/bin/openshell-sandbox
//      in the agent container (where the agent image has sha256sum), else the
//      init container's image digest.
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { buildAndPush, imageSpecs } from './sync.ts';
import { elfLinkage } from '../lib/elf.ts';
import { useEngine } from '../lib/engine.ts';
import { stageBinary } from '../lib/images.ts';
import { providerFor } from '../lib/providers/index.ts';
import { registryProblem, tagDigest } from '../lib/registry.ts';
import { $ } from 'zx';
import { $w } from '../lib/sh.ts';
import { judgeRecreated, openshellNamesFrom, sandboxPodsFrom, sha256File, SUPERVISOR_BINARY, supervisorImageProblem, type SandboxPod, type Verdict } from '../lib/sideload.ts';
import { devImages } from '../lib/bootstrap.ts';
import { builtBinaryPath, findSourceDir } from '../lib/source.ts';
import { SUPERVISOR_BUILD_COMMAND } from '../lib/settings.ts';
import { isMain, runTask, UserError, type TaskContext, type TaskDefinition } from '../lib/task.ts';

async function obtainBinary(ctx: TaskContext): Promise<string> {
  const given = ctx.flags.args[0];
  if (given) {
    const path = isAbsolute(given) ? given : resolve(process.cwd(), given);
    if (!existsSync(path) || !statSync(path).isFile()) throw new UserError(`${given}: no such file (give the path of a built openshell-sandbox binary)`, 2);
    return path;
  }
  const command = (ctx.flags.options['build-command'] as string | undefined) ?? ctx.settings.supervisorBuildCommand;
  const source = findSourceDir(ctx.settings);
  ctx.log.step(`building the supervisor: ${command} (in ${source})`);
  await $w({ cwd: source, timeout: '60m' })`sh -c ${command}`.quiet(false);
  const path = builtBinaryPath(source, command, 'openshell-sandbox');
  if (!ctx.dryRun && !existsSync(path)) {
    throw new UserError(`the build finished but ${path} does not exist: give the binary's path as the first argument, or fix OPENSHELL_DEV_SUPERVISOR_BUILD_COMMAND`);
  }
  return path;
}

/** The sha256 of the supervisor the pod's agent runs, or why it cannot be read (no sha256sum in the agent image). */
async function runningSha(kc: string, p: SandboxPod): Promise<{ sha?: string; why?: string }> {
  const r = await $({ nothrow: true, timeout: '30s' })`kubectl --kubeconfig ${kc} exec -n ${p.namespace} ${p.name} -c ${p.container} -- sha256sum ${SUPERVISOR_BINARY}`;
  const sha = /^([0-9a-f]{64})\s/.exec(r.stdout)?.[1];
  return sha ? { sha } : { why: ((r.stderr || r.stdout).trim().split('\n').pop() ?? '') || `exit ${r.exitCode}` };
}

/** Run the real CLI against the gateway (its own flags; the endpoint is plaintext on the dev cluster). */
function cli(ctx: TaskContext, write: boolean) {
  const o = ctx.flags.options;
  const bin = (o.cli as string | undefined) ?? 'openshell';
  const endpoint = (o['gateway-endpoint'] as string | undefined) ?? `http://localhost:${ctx.settings.httpPort}`;
  return (args: string[], workspace: string) =>
    (write ? $w : $)({ nothrow: true, timeout: `${ctx.settings.timeoutSec + 30}s`, env: { ...process.env, NO_COLOR: '1' } })`${bin} --gateway-endpoint ${endpoint} --workspace ${workspace} ${args}`;
}

/** The CLI's error as one line: its report (miette) wraps a message over lines starting with │. */
const lastLine = (r: { stdout: string; stderr: string; exitCode: number | null }) =>
  (r.stderr || r.stdout)
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .map((l) => l.replace(/^\s*(Error:)?[\s│×]*/, '').trim())
    .filter(Boolean)
    .join(' ') || `exit ${r.exitCode}`;

export const sideload: TaskDefinition = {
  name: 'sideload',
  summary: 'Push a rebuilt static supervisor as the dev supervisor image, then stop and start the sandboxes through the gateway so they run it',
  flags: {
    'build-command': { help: 'build command run in the OpenShell checkout (default: OPENSHELL_DEV_SUPERVISOR_BUILD_COMMAND)', value: true },
    sandbox: { help: 'only these sandboxes (OpenShell sandbox names, comma-separated; default: every sandbox whose pod the selector finds)', value: true },
    cli: { help: 'the openshell CLI (default: openshell on PATH)', value: true },
    'gateway-endpoint': { help: 'the gateway as the CLI reaches it (default: http://localhost:OPENSHELL_DEV_HTTP_PORT, k3d\'s port for the NodePort)', value: true },
  },
  async main(ctx) {
    const s = ctx.settings;
    const kc = s.kubeconfig;
    const only = ((ctx.flags.options.sandbox as string | undefined) ?? '').split(',').map((x) => x.trim()).filter(Boolean);
    const bad = only.find((n) => !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(n));
    if (bad !== undefined) throw new UserError(`--sandbox ${JSON.stringify(bad)} is not valid: sandbox names (lower-case letters, digits and '-'), comma-separated`, 2);
    const endpoint = ctx.flags.options['gateway-endpoint'] as string | undefined;
    if (endpoint !== undefined && !/^https?:\/\/[^\s/]+\/?$/.test(endpoint)) throw new UserError(`--gateway-endpoint ${JSON.stringify(endpoint)} is not valid: an http:// or https:// address, e.g. http://localhost:8080`, 2);
    if (!existsSync(kc) && !ctx.dryRun) throw new UserError(`no kubeconfig at ${kc}: run \`mise run k8s:dev:up\` first (or set OPENSHELL_DEV_KUBECONFIG)`);

    // 1. The binary: static, or refused (it runs inside any agent image, and copy-self runs it in a FROM-scratch image).
    const binary = await obtainBinary(ctx);
    const built = existsSync(binary);
    if (built && elfLinkage(binary) !== 'static') {
      throw new UserError(`${binary} is not a static binary (${elfLinkage(binary)}): sandbox pods cannot run it. Build it with OPENSHELL_DEV_SUPERVISOR_BUILD_COMMAND's default (${SUPERVISOR_BUILD_COMMAND})`, 2);
    }
    const sha = built ? await sha256File(binary) : undefined;
    ctx.log.info(`supervisor binary ${binary}${sha ? ` (sha256 ${sha.slice(0, 12)})` : ''}`);

    // 2. The sandboxes to update, before anything is pushed (a wrong selector or name should cost nothing).
    ctx.log.step(`finding sandbox pods: -l ${s.sandboxSelector} in namespace ${s.sandboxNamespace}`);
    const [list, boxes] = await Promise.all([
      $({ nothrow: true, timeout: '30s' })`kubectl --kubeconfig ${kc} get pods -n ${s.sandboxNamespace} -l ${s.sandboxSelector} -o json`,
      $({ nothrow: true, timeout: '30s' })`kubectl --kubeconfig ${kc} get sandboxes.agents.x-k8s.io -n ${s.sandboxNamespace} -o json`,
    ]);
    for (const r of [list, boxes]) {
      if (!r.ok && !ctx.dryRun) throw new UserError(`cannot list the sandboxes (${lastLine(r)}): is the cluster up and bootstrapped? (mise run k8s:dev:status)`);
    }
    const names = openshellNamesFrom(boxes.stdout || '{"items":[]}');
    let pods = sandboxPodsFrom(list.stdout || '{"items":[]}').flatMap((p) => {
      const n = names.get(p.name);
      return n ? [{ ...p, sandbox: n.name, workspace: n.workspace }] : [];
    });
    const missing = only.filter((n) => !pods.some((p) => p.sandbox === n));
    if (missing.length > 0) throw new UserError(`no running sandbox ${missing.join(', ')} in ${s.sandboxNamespace} (running: ${pods.map((p) => p.sandbox).join(', ') || 'none'})`, 2);
    if (only.length > 0) pods = pods.filter((p) => only.includes(p.sandbox));

    // 3. Push the dev supervisor image, as sync does.
    const { supervisor } = devImages();
    const engine = await useEngine(ctx);
    const host = (await providerFor(s.provider)).registry(ctx).host;
    const problem = await registryProblem(host);
    if (problem && !ctx.dryRun) throw new UserError(`${problem}: run \`mise run k8s:dev:up\` first (it creates the registry)`);
    let digest: string | undefined;
    if (built && ctx.dryRun) {
      ctx.log.info(`[dry-run] would stage ${binary} in .build/bin and build and push ${host}/${supervisor.repo}:dev and its content tag`);
    } else if (built) {
      const spec = imageSpecs(ctx).supervisor;
      stageBinary(binary, spec.binary);
      const r = await buildAndPush(ctx, engine, host, spec);
      digest = await tagDigest(host, spec.repo, r.contentTag);
      ctx.log.ok(`${host}/${spec.repo}:dev ${r.action} (${r.contentTag}${digest ? `, ${digest.slice(0, 19)}` : ''})`);
    }
    if (pods.length === 0) {
      ctx.log.warn(`no running OpenShell sandbox in ${s.sandboxNamespace} (pods -l ${s.sandboxSelector}): the image is pushed, new sandboxes get it; nothing to restart`);
      return 0;
    }

    // 4. Which sandboxes can take it: the dev image, pulled Always; and which run it already.
    const todo: typeof pods = [];
    const refused: string[] = [];
    for (const p of pods) {
      const why = supervisorImageProblem(p, supervisor.ref);
      if (why) {
        refused.push(`${p.sandbox} (${p.namespace}/${p.name}): ${why}`);
        continue;
      }
      if (sha && !ctx.dryRun && (await runningSha(kc, p)).sha === sha) {
        ctx.log.ok(`${p.sandbox} (${p.namespace}/${p.name}): already runs sha256 ${sha.slice(0, 12)}`);
        continue;
      }
      todo.push(p);
    }
    for (const r of refused) ctx.log.error(r);

    // 5. Stop and start through the gateway; the driver suspends and resumes the Sandbox, a new pod runs the new image.
    const t0 = Date.now();
    const run = cli(ctx, true);
    const read = cli(ctx, false);
    const verdicts: Verdict[] = [];
    for (const p of todo) {
      const label = `${p.sandbox} (${p.namespace}/${p.name}, ${p.method})`;
      ctx.log.step(`${label}: openshell sandbox stop, then start`);
      const stop = await ctx.log.progress(`stopping ${p.sandbox}`, run(['sandbox', 'stop', p.sandbox], p.workspace));
      const start = stop.ok ? await ctx.log.progress(`starting ${p.sandbox}`, run(['sandbox', 'start', p.sandbox], p.workspace)) : undefined;
      if (!stop.ok || (start && !start.ok)) {
        verdicts.push({ state: 'failed', detail: `openshell sandbox ${stop.ok ? 'start' : 'stop'} failed: ${lastLine(start ?? stop)}`, pod: label });
        continue;
      }
      if (ctx.dryRun) continue;
      let v: Verdict = { state: 'waiting', detail: 'not recreated yet' };
      let phase = '';
      const deadline = Date.now() + s.timeoutSec * 1000;
      await ctx.log.progress(`waiting for ${p.namespace}/${p.name} to run again and ${p.sandbox} to be Ready at the gateway`, (async () => {
        while (Date.now() < deadline) {
          const r = await $({ nothrow: true, timeout: '20s' })`kubectl --kubeconfig ${kc} get pod -n ${p.namespace} ${p.name} -o json`;
          v = r.ok ? judgeRecreated(r.stdout, p.uid, digest) : { state: 'waiting', detail: 'no pod yet' };
          if (v.state === 'failed') return;
          if (v.state === 'running') {
            const g = await read(['sandbox', 'get', p.sandbox, '-o', 'json'], p.workspace);
            phase = g.ok ? String((JSON.parse(g.stdout) as { phase?: string }).phase ?? '') : `unknown (${lastLine(g)})`;
            if (phase === 'Ready') return;
            if (phase === 'Error') return;
          }
          await new Promise((res) => setTimeout(res, 500));
        }
      })());
      if (v.state === 'running' && phase !== 'Ready') {
        v = { state: 'failed', detail: `the new pod runs, but the gateway reports the sandbox ${phase || 'not Ready'}` };
      } else if (v.state === 'running') {
        const now = await runningSha(kc, p);
        if (now.sha) v = now.sha === sha ? { state: 'updated', detail: `sha256 ${now.sha.slice(0, 12)} in ${SUPERVISOR_BINARY}` } : { state: 'failed', detail: `the new pod runs sha256 ${now.sha.slice(0, 12)}, not ${sha?.slice(0, 12)}: does the gateway's supervisor_image_pull_policy say Always?` };
        else if (v.digestMatches) v = { state: 'updated', detail: `init container image ${digest?.slice(0, 19)} (no sha256sum in the agent: ${now.why})` };
        else v = { state: 'unverified', detail: `Ready, but the binary cannot be checked: no sha256sum in the agent image (${now.why})${v.digestMatches === false ? '; the init container ran another digest' : ''}` };
      } else if (v.state === 'waiting') {
        v = { state: 'failed', detail: `not running after ${s.timeoutSec}s (${v.detail}); kubectl -n ${p.namespace} describe pod ${p.name}` };
      }
      verdicts.push({ ...v, pod: label });
    }

    // 6. What was updated.
    ctx.log.step(`result (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    for (const v of verdicts) {
      if (v.state === 'updated') ctx.log.ok(`${v.pod}: restarted, Ready, runs the new supervisor (${v.detail})`);
      else if (v.state === 'unverified') ctx.log.warn(`${v.pod}: restarted, Ready; ${v.detail}`);
      else ctx.log.error(`${v.pod}: ${v.detail}`);
    }
    const updated = verdicts.filter((v) => v.state === 'updated').length;
    const unverified = verdicts.filter((v) => v.state === 'unverified').length;
    const failed = verdicts.filter((v) => v.state === 'failed').length + refused.length;
    ctx.log.info(`${updated} updated, ${unverified} unverified, ${failed} failed, ${pods.length - todo.length - refused.length} already current`);
    return failed > 0 ? 1 : 0;
  },
};

if (isMain(import.meta)) await runTask(sideload);
