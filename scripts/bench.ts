// npm run bench — how fast the dev loop feels, measured (not a test):
//   1. task start-up (`node <task>.ts --help`: Node, imports, settings)
//   2. first runs and no-op re-runs of up, sync, bootstrap, status on a
//      throwaway cluster (kwok provider unless OPENSHELL_DEV_CLUSTER_PROVIDER says
//      otherwise), then down
//   2b. k3d with the test bed's stand-in k3s image: first up, no-op up, down
//   3. the test bed's real node (test/bed/realnode.ts): start → Ready, pod apply →
//      Running, the doctor's smoke proof, down (only with OPENSHELL_TEST_REAL_NODE=1, as root)
//   4. the real OpenShell loop on the real node (test/bed/openshell-loop.ts): a
//      supervisor change to a sandbox running it (k8s:dev:sideload), a gateway
//      change to the new gateway pod Ready (sync + bootstrap), next to a full
//      image rebuild and rollout
// Sections whose tools are missing are skipped with the reason.
import { spawnSync } from 'node:child_process';
import { copyFileSync, appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchOpenShellLoop, benchRealNode } from '../test/bed/bench.ts';
import { missingLoop } from '../test/bed/openshell-loop.ts';
import { missingRealNode } from '../test/bed/realnode.ts';
import { KIT_ROOT } from './lib/settings.ts';

const TASKS = ['up', 'down', 'bootstrap', 'gateway', 'watch', 'sync', 'status', 'doctor', 'sideload'];
const runs = Number(process.env.BENCH_RUNS ?? 5);

interface Timing {
  what: string;
  ms: number[];
}

function runTaskProcess(task: string, args: string[], env: NodeJS.ProcessEnv): { ms: number; code: number; out: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(KIT_ROOT, 'scripts', 'k8s-dev', `${task}.ts`), ...args], { env, encoding: 'utf8', timeout: 600_000 });
  return { ms: performance.now() - t0, code: r.status ?? 1, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

function measure(what: string, n: number, once: () => number): Timing {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) ms.push(once());
  return { what, ms };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
function table(rows: Timing[]): string {
  const lines = ['| what | median | min | max | runs |', '| --- | --- | --- | --- | --- |'];
  for (const r of rows) lines.push(`| ${r.what} | ${fmt(median(r.ms))} | ${fmt(Math.min(...r.ms))} | ${fmt(Math.max(...r.ms))} | ${r.ms.length} |`);
  return lines.join('\n');
}

function has(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
}

// 1. Start-up
const startup = TASKS.map((t) => measure(`start-up: ${t} --help`, runs, () => runTaskProcess(t, ['--help'], process.env).ms));
console.log('\n## Task start-up\n');
console.log(table(startup));

// 2. No-op re-runs
const provider = process.env.OPENSHELL_DEV_CLUSTER_PROVIDER ?? 'kwok';
const missing = ['kubectl', 'helm', 'docker', ...(provider === 'kwok' ? ['kwokctl', 'kube-apiserver', 'etcd'] : ['k3d'])].filter((b) => !has(b));
if (missing.length > 0) {
  console.log(`\n## No-op re-runs: skipped (needs ${missing.join(', ')} on PATH; bash .ci/run provisions them)`);
} else {
  const home = mkdtempSync(join(tmpdir(), 'openshell-bench-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    OPENSHELL_DEV_CLUSTER_PROVIDER: provider,
    OPENSHELL_DEV_CLUSTER: `bench-${process.pid}`,
    OPENSHELL_DEV_KUBECONFIG: join(home, 'kubeconfig.yaml'),
    OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST: process.env.OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST ?? join(KIT_ROOT, 'test', 'fixtures', 'agent-sandbox', 'manifest.yaml'),
    OPENSHELL_DEV_GATEWAY_BASE_IMAGE: process.env.OPENSHELL_DEV_GATEWAY_BASE_IMAGE ?? 'scratch',
  };
  // Stand-in binaries (static busybox), unique per run so the first sync really pushes.
  const bins = ['openshell-gateway', 'openshell-sandbox'].map((b) => {
    const p = join(home, b);
    copyFileSync('/bin/busybox', p);
    appendFileSync(p, `${b}-${Date.now()}`);
    return p;
  });
  const syncArgs = ['--gateway-bin', bins[0]!, '--supervisor-bin', bins[1]!];
  const rows: Timing[] = [];
  const step = (task: string, args: string[] = []) => {
    const r = runTaskProcess(task, args, env);
    if (r.code !== 0) throw new Error(`${task} failed (exit ${r.code}):\n${r.out}`);
    return r.ms;
  };
  try {
    rows.push({ what: `up (create ${provider} cluster)`, ms: [step('up')] });
    rows.push({ what: 'sync (build + push both images)', ms: [step('sync', syncArgs)] });
    rows.push({ what: 'bootstrap (CRDs + chart install)', ms: [step('bootstrap')] });
    rows.push(measure('up, no-op', runs, () => step('up')));
    rows.push(measure('sync, no source change', runs, () => step('sync', syncArgs)));
    rows.push(measure('bootstrap, nothing changed', runs, () => step('bootstrap')));
    rows.push(measure('status', runs, () => step('status')));
  } catch (err) {
    process.exitCode = 1;
    console.error(`\nbench stopped: ${(err as Error).message}`);
  } finally {
    rows.push({ what: 'down', ms: [runTaskProcess('down', [], env).ms] });
    rmSync(home, { recursive: true, force: true });
  }
  console.log(`\n## First runs and no-op re-runs (${provider} provider)\n`);
  console.log(table(rows));
}

// 2b. k3d on the test bed's stand-in k3s image (where .ci/run exported it):
// real k3d from the kit's cluster.yaml, one server and one agent.
const standin = process.env.OPENSHELL_TEST_K3S_STANDIN_IMAGE;
const k3dMissing = [
  ...['k3d', 'kubectl', 'docker'].filter((b) => !has(b)),
  ...['OPENSHELL_TEST_K3S_STANDIN_IMAGE', 'K3D_IMAGE_TOOLS', 'K3D_IMAGE_LOADBALANCER', 'OPENSHELL_TEST_K3D_REGISTRY_IMAGE'].filter((n) => !process.env[n]),
];
if (k3dMissing.length > 0) {
  console.log(`\n## k3d on the stand-in k3s image: skipped (needs ${k3dMissing.join(', ')}; bash .ci/run provisions them)`);
} else {
  const home = mkdtempSync(join(tmpdir(), 'openshell-bench-k3d-'));
  const free = () => Number(spawnSync(process.execPath, ['-e', 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'], { encoding: 'utf8' }).stdout.trim());
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    OPENSHELL_DEV_CLUSTER_PROVIDER: 'k3d',
    OPENSHELL_DEV_CLUSTER: `bench-k3d-${process.pid}`,
    OPENSHELL_DEV_KUBECONFIG: join(home, 'kubeconfig.yaml'),
    OPENSHELL_DEV_HTTP_PORT: String(free()),
    OPENSHELL_DEV_REGISTRY_PORT: String(free()),
    OPENSHELL_DEV_REGISTRY_NAME: `bench-k3d-reg-${process.pid}`,
    OPENSHELL_DEV_K3S_IMAGE: standin,
    OPENSHELL_DEV_REGISTRY_IMAGE: process.env.OPENSHELL_TEST_K3D_REGISTRY_IMAGE,
  };
  const rows: Timing[] = [];
  const step = (task: string) => {
    const r = runTaskProcess(task, [], env);
    if (r.code !== 0) throw new Error(`${task} failed (exit ${r.code}):\n${r.out}`);
    return r.ms;
  };
  try {
    rows.push({ what: 'up (create: k3d cluster, registry, 2 nodes Ready)', ms: [step('up')] });
    rows.push(measure('up, no-op', runs, () => step('up')));
    rows.push({ what: 'down', ms: [step('down')] });
  } catch (err) {
    process.exitCode = 1;
    console.error(`\nbench stopped: ${(err as Error).message}`);
    runTaskProcess('down', [], env);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  console.log(`\n## k3d on the stand-in k3s image (${standin})\n`);
  console.log(table(rows));
}

// 3. The real node
const noRealNode = missingRealNode() || (spawnSync('docker', ['version']).status !== 0 ? 'needs a running Docker engine to build the test image' : false);
if (noRealNode) {
  console.log(`\n## Real node: skipped (${noRealNode})`);
} else {
  console.log('\n## Real node (kubelet + containerd + runc + CNI)\n');
  try {
    const rows = await benchRealNode('/bin/busybox');
    console.log(table(rows.map((r) => ({ what: r.what, ms: [r.ms] }))));
  } catch (err) {
    process.exitCode = 1;
    console.error(`real-node bench stopped: ${(err as Error).message}`);
  }
}

// 4. The real OpenShell loop
const noLoop = missingLoop();
if (noLoop) {
  console.log(`\n## The real OpenShell loop: skipped (${noLoop})`);
} else {
  console.log('\n## The real OpenShell loop on the real node (real gateway, supervisor, CLI, agent-sandbox)\n');
  try {
    const rows = await benchOpenShellLoop();
    console.log(table(rows.map((r) => ({ what: r.what, ms: [r.ms] }))));
  } catch (err) {
    process.exitCode = 1;
    console.error(`OpenShell loop bench stopped: ${(err as Error).message}`);
  }
}
