// Real-node timings for `npm run bench` (scripts/bench.ts): a cold node start
// to Ready, a pod's apply to Running (first pull, then cached), the doctor's
// smoke proof (image-volume and init-container with the real supervisor), and
// down. One run each: a node start is the expensive part.
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, kitCopy, PrivateRegistry } from '../support/e2e.ts';
import { busyboxImage } from './images.ts';
import { optionsFromEnv, RealNode } from './realnode.ts';

export interface BenchRow {
  what: string;
  ms: number;
}

const TASKS = join(import.meta.dirname, '..', '..', 'scripts', 'k8s-dev');

function task(name: string, args: string[], env: NodeJS.ProcessEnv): { ms: number; code: number; out: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(TASKS, `${name}.ts`), ...args], { env, encoding: 'utf8', timeout: 600_000 });
  return { ms: performance.now() - t0, code: r.status ?? 1, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

export async function benchRealNode(busyboxPath: string): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const registry = process.env.OPENSHELL_TEST_REGISTRY ?? 'localhost:5000';
  const image = await busyboxImage(registry, busyboxPath);
  const home = mkdtempSync(join(tmpdir(), 'openshell-bench-realnode-'));
  const node = new RealNode(join(home, 'node'));
  // The kit's registry, private to the bench (the smoke proof pushes a :dev supervisor there).
  const kitRegistry = new PrivateRegistry(join(home, 'registry'), await freePort());
  await kitRegistry.start();
  const opts = optionsFromEnv();
  const url = `http://127.0.0.1:${kitRegistry.port}`;
  opts.registries = { ...opts.registries, 'openshell-registry:5000': url, [`localhost:${kitRegistry.port}`]: url };
  try {
    let t0 = performance.now();
    await node.up(opts);
    rows.push({ what: `real node: start → Ready (${node.state!.kubeVersion}, cold state dir)`, ms: performance.now() - t0 });
    for (const [name, what] of [
      ['first', 'real node: pod apply → Running (first pull from the registry)'],
      ['second', 'real node: pod apply → Running (image cached)'],
    ] as const) {
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image, command: ['sleep', '3600'] }] } };
      t0 = performance.now();
      node.kubectl(['apply', '-f', '-'], JSON.stringify(pod));
      const w = node.kubectl(['wait', '--for=condition=Ready', `pod/${name}`, '--timeout=120s'], undefined, 130_000);
      if (w.status !== 0) throw new Error(`pod ${name} did not run: ${w.stderr}`);
      rows.push({ what, ms: performance.now() - t0 });
    }
    const supervisor = process.env.OPENSHELL_TEST_SUPERVISOR_BIN;
    if (supervisor) {
      const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, CI: 'true', ...node.kitEnv(), OPENSHELL_DEV_KUBECONFIG: join(home, 'kit-kubeconfig.yaml'), OPENSHELL_DEV_REGISTRY_PORT: String(kitRegistry.port) };
      const up = task('up', [], env);
      if (up.code !== 0) throw new Error(`up failed:\n${up.out}`);
      const sync = task('sync', ['--only', 'supervisor', '--supervisor-bin', supervisor], env);
      if (sync.code !== 0) throw new Error(`sync failed:\n${sync.out}`);
      for (const method of ['image-volume', 'init-container']) {
        const r = task('doctor', [], { ...env, OPENSHELL_SUPERVISOR_SIDELOAD_METHOD: method });
        if (!new RegExp(`\\[pass\\] sideload\\s+${method}`).test(r.out)) throw new Error(`the ${method} smoke proof failed:\n${r.out}`);
        rows.push({ what: `real node: doctor incl. the ${method} smoke pod (real supervisor)`, ms: r.ms });
      }
    } else {
      console.log('(smoke proof skipped: set OPENSHELL_TEST_SUPERVISOR_BIN to the real static openshell-sandbox)');
    }
  } finally {
    const t0 = performance.now();
    await node.down();
    rows.push({ what: 'real node: down (everything removed)', ms: performance.now() - t0 });
    await kitRegistry.stop();
    rmSync(home, { recursive: true, force: true });
  }
  return rows;
}

/**
 * The real OpenShell dev loop on the real node (test/bed/openshell-loop.ts):
 * cold sync and bootstrap with the real binaries, a sandbox created with the
 * real CLI, then the two inner loops: a supervisor change (a new static
 * binary) to a sandbox running it through k8s:dev:sideload, and a gateway
 * change (a new gateway binary) to the new gateway pod Ready through sync +
 * bootstrap; next to a full rebuild and rollout of both images without the
 * build cache (docker build --no-cache, push, bootstrap, a new sandbox).
 * Compiling the binaries is not in these times (cargo: ~19 min cold on 2 cores).
 */
export async function benchOpenShellLoop(): Promise<BenchRow[]> {
  const { OpenShellLoop } = await import('./openshell-loop.ts');
  const rows: BenchRow[] = [];
  const home = mkdtempSync(join(tmpdir(), 'openshell-bench-loop-'));
  const loop = new OpenShellLoop(home);
  const timed = async <T>(what: string, work: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    const out = await work();
    rows.push({ what, ms: performance.now() - t0 });
    return out;
  };
  const must = (r: { code: number; out: string; task: string }) => {
    if (r.code !== 0) throw new Error(`${r.task} failed:\n${r.out}`);
  };
  const created = (name: string) => {
    const r = loop.createSandbox(name);
    if (r.status !== 0) throw new Error(`openshell sandbox create ${name}: ${r.stderr}`);
  };
  const gatewayImageId = () => loop.kubectl(['-n', 'openshell', 'get', 'pod', 'openshell-gateway-0', '-o', 'jsonpath={.status.containerStatuses[0].imageID}']).stdout;
  try {
    await timed('loop: real node up + kit up (existing provider)', () => loop.start());
    loop.sandboxImage();
    await timed('loop: first sync (real gateway on the Debian base + static supervisor: build + push)', async () => must(await loop.task('sync', ['--gateway-bin', loop.gatewayBin, '--supervisor-bin', loop.supervisorBin])));
    await timed('loop: first bootstrap (real agent-sandbox + chart) → gateway Ready', async () => must(await loop.task('bootstrap', [])));
    await timed('loop: openshell sandbox create → Ready at the gateway (image-volume)', () => created('bench-a'));
    const sup = loop.changedSupervisor(join(home, 'sup'), 'bench');
    await timed('supervisor change → the sandbox runs it (k8s:dev:sideload: push + stop/start + sha256 proof)', async () => must(await loop.task('sideload', [sup, '--sandbox', 'bench-a', '--cli', join(loop.bin, 'openshell'), '--gateway-endpoint', loop.gatewayUrl])));
    const gw = join(home, 'gw', 'openshell-gateway');
    mkdirSync(join(home, 'gw'), { recursive: true });
    copyFileSync(loop.gatewayBin, gw);
    appendFileSync(gw, `\n#openshell-dev-change ${Date.now()}\n`);
    const before = gatewayImageId();
    await timed('gateway change → new gateway pod Ready (sync --only gateway + bootstrap)', async () => {
      must(await loop.task('sync', ['--only', 'gateway', '--gateway-bin', gw]));
      must(await loop.task('bootstrap', []));
    });
    if (gatewayImageId() === before) throw new Error('the gateway pod still runs the old image after sync + bootstrap');
    await timed('full rebuild + rollout: both images docker build --no-cache + push, bootstrap, a new sandbox Ready', async () => {
      // The kit's Dockerfiles and the binaries the tasks staged in .build/bin (of the kit copy they run from), without the layer cache.
      const kit = kitCopy();
      const host = `localhost:${loop.registry.port}`;
      for (const [file, repo, args] of [
        ['Dockerfile.gateway', 'openshell-gateway', ['--build-arg', `BASE_IMAGE=${process.env.OPENSHELL_TEST_GATEWAY_BASE_IMAGE}`]],
        ['Dockerfile.supervisor', 'openshell-supervisor', []],
      ] as const) {
        for (const argv of [['build', '--no-cache', '-f', join(kit, 'deploy', 'docker', file), ...args, '-t', `${host}/${repo}:dev`, kit], ['push', `${host}/${repo}:dev`]]) {
          const r = spawnSync('docker', argv, { encoding: 'utf8', timeout: 900_000 });
          if (r.status !== 0) throw new Error(`docker ${argv.join(' ')}: ${r.stderr}`);
        }
      }
      must(await loop.task('bootstrap', []));
      created('bench-b');
    });
  } finally {
    const t0 = performance.now();
    await loop.stop();
    rows.push({ what: 'loop: down', ms: performance.now() - t0 });
    rmSync(home, { recursive: true, force: true });
  }
  return rows;
}
