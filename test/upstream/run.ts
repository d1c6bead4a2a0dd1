// npm run test:upstream [-- TARGET...]: OpenShell's own Kubernetes e2e tests
// (../shared/openshell/e2e/rust, features e2e,e2e-kubernetes) against a gateway
// the kit's chart installs on the test bed's real node, the way upstream's
// e2e/with-kube-gateway.sh runs them against its own chart:
//   build     the test executables (.ci/tools/openshell-e2e.sh) and the sandbox
//             image (.ci/testbed/sandbox-image.sh), both cached;
//   install   the real node, the kit's up → sync (the real gateway and static
//             supervisor) → bootstrap (real agent-sandbox, the chart with
//             values.dev.yaml: plaintext, as upstream's values-skaffold.yaml),
//             then the chart's sandbox.defaultImage set to the local image;
//   reach     kubectl port-forward to the gateway Service's gRPC port and the
//             gateway pod's `health` port on 127.0.0.1, the CLI's gateway
//             registered as plaintext (metadata.json, active_gateway) in a
//             private XDG_CONFIG_HOME, OPENSHELL_GATEWAY naming it;
//   run       every test executable with the env upstream's wrapper exports,
//             a table test by test on stdout and in test/upstream/last-run.md;
//   teardown  always (also on Ctrl+C): port-forwards, the node, the registry.
// The real node part holds /tmp/realnode.lock (one real node per host).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingLoop, OpenShellLoop } from '../bed/openshell-loop.ts';
import { freePort, KIT_ROOT, tempDir } from '../support/e2e.ts';
import { which } from '../support/requires.ts';
import { SILENT_GATES } from './gates.ts';
import { parseList, results, runExecutable, type TestResult } from './libtest.ts';
import { report } from './report.ts';
import { StaticProvisioner } from './volumes.ts';

const LOCK = '/tmp/realnode.lock';
const NS = 'openshell'; // the kit's default namespace, release and sandbox namespace
const REPORT = join(KIT_ROOT, 'test', 'upstream', 'last-run.md');
/** Per executable; upstream's harness waits up to 600s for one sandbox, too long for a hold of the node. */
const TIMEOUT_S = Number(process.env.OPENSHELL_UPSTREAM_TEST_TIMEOUT ?? 300);
/** The order: the gateway's health and one sandbox first (if those fail, the rest will say why the same way). */
const FIRST = ['readyz_health', 'smoke'];

const log = (l: string) => console.log(`[upstream] ${l}`);

function skip(why: string): never {
  console.log(`SKIP npm run test:upstream: ${why}`);
  process.exit(0);
}

/** A build script's output directory or image, or the skip it implies. */
function build(script: string, what: string): string {
  const t0 = performance.now();
  const r = spawnSync('bash', [join(KIT_ROOT, script)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PATH: `${process.env.PATH}:${process.env.HOME}/.cargo/bin` } });
  if (r.status !== 0) skip(`${what} could not be built (${script} exited ${r.status}; its log is above)`);
  log(`${what}: ${r.stdout.trim()} (${((performance.now() - t0) / 1000).toFixed(0)}s)`);
  return r.stdout.trim();
}

function missingParts(): false | string {
  const loop = missingLoop();
  // Another test's node: wait for it on the lock (checked again there).
  if (loop && !loop.startsWith('another real node runs')) return loop;
  if (!existsSync(join(KIT_ROOT, '..', 'shared', 'openshell', 'e2e', 'rust', 'Cargo.toml')) && !process.env.OPENSHELL_SRC) {
    const main = spawnSync('git', ['-C', KIT_ROOT, 'rev-parse', '--path-format=absolute', '--git-common-dir'], { encoding: 'utf8' }).stdout.trim();
    if (!existsSync(join(main, '..', '..', 'shared', 'openshell', 'e2e', 'rust', 'Cargo.toml'))) return 'needs the OpenShell source with e2e/rust (../shared/openshell beside the repository, or OPENSHELL_SRC)';
  }
  if (!which('cargo') && !existsSync(join(process.env.HOME ?? '', '.cargo', 'bin', 'cargo'))) return 'needs cargo (on PATH or in ~/.cargo/bin) to build the e2e test executables';
  if (!which('flock')) return 'needs flock (util-linux) to hold /tmp/realnode.lock';
  return false;
}

/** Phase 1 (no lock): skip checks and the cached builds, then phase 2 under the node lock. */
async function main(): Promise<void> {
  const missing = missingParts();
  if (missing) skip(missing);
  const tests = build('.ci/tools/openshell-e2e.sh', 'e2e test executables');
  const image = build('.ci/testbed/sandbox-image.sh', 'sandbox image');
  const want = process.argv.slice(2);
  const all = readFileSync(join(tests, 'TARGETS'), 'utf8').split('\n').filter(Boolean);
  const unknown = want.filter((t) => !all.includes(t));
  if (unknown.length > 0) {
    console.error(`unknown test target(s): ${unknown.join(', ')}; the targets are: ${all.join(', ')}`);
    process.exit(2);
  }
  log(`waiting for ${LOCK} (one real node per host)`);
  const child = spawn('flock', [LOCK, process.execPath, fileURLToPath(import.meta.url), '--locked', tests, image, ...want], { stdio: 'inherit' });
  // Ctrl+C reaches the child too (same process group); it tears down, then we exit with its code.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
}

interface Forward {
  proc: ChildProcess;
  port: number;
}

/** kubectl port-forward to 127.0.0.1:<free port>; resolves when the port accepts TCP. */
async function portForward(kubectl: string, kubeconfig: string, target: string, remote: string, logFile: string): Promise<Forward> {
  const port = await freePort();
  const proc = spawn(kubectl, ['--kubeconfig', kubeconfig, '-n', NS, 'port-forward', target, `${port}:${remote}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  process.once('exit', () => proc.kill('SIGKILL'));
  proc.stdout!.on('data', (d: Buffer) => appendFileSync(logFile, d));
  proc.stderr!.on('data', (d: Buffer) => appendFileSync(logFile, d));
  for (let i = 0; i < 60; i++) {
    if (proc.exitCode !== null) break;
    const ok = await new Promise<boolean>((res) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), res(true)));
      s.on('error', () => res(false));
    });
    if (ok) return { proc, port };
    await new Promise((r) => setTimeout(r, 500));
  }
  proc.kill();
  throw new Error(`kubectl port-forward ${target} ${port}:${remote} did not accept TCP within 30s:\n${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`);
}

/** What e2e_register_plaintext_gateway writes: the CLI's gateway record and the active gateway. */
function registerPlaintextGateway(configHome: string, name: string, endpoint: string, port: number): void {
  const dir = join(configHome, 'openshell', 'gateways', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'metadata.json'), JSON.stringify({ name, gateway_endpoint: endpoint, is_remote: false, gateway_port: port, auth_mode: 'plaintext' }, null, 2) + '\n');
  writeFileSync(join(configHome, 'openshell', 'active_gateway'), name);
}

/** Why the sandbox pods in the namespace are not running (container waiting reasons), for a timeout's report. */
function sandboxPodsWaiting(loop: OpenShellLoop): string {
  const r = loop.node.kubectl(['-n', NS, 'get', 'pods', '-o', 'json'], undefined, 20_000);
  if (r.status !== 0) return `(kubectl get pods: ${r.stderr.trim()})`;
  type Status = { name: string; state?: { waiting?: { reason?: string; message?: string } } };
  const pods = (JSON.parse(r.stdout) as { items: { metadata: { name: string }; status: { containerStatuses?: Status[]; initContainerStatuses?: Status[] } }[] }).items;
  const lines = pods.flatMap((p) =>
    [...(p.status.initContainerStatuses ?? []), ...(p.status.containerStatuses ?? [])]
      .filter((c) => c.state?.waiting)
      .map((c) => `pod ${p.metadata.name} container ${c.name}: ${c.state!.waiting!.reason ?? ''} ${(c.state!.waiting!.message ?? '').slice(0, 300)}`.trim()),
  );
  return lines.length > 0 ? lines.slice(0, 4).join('\n') : '(no sandbox pod was waiting)';
}

/** `openshell sandbox delete` for every sandbox the gateway lists. */
function deleteAllSandboxes(env: NodeJS.ProcessEnv): void {
  const cli = env.OPENSHELL_BIN!;
  const names = spawnSync(cli, ['sandbox', 'list', '--names'], { encoding: 'utf8', env, timeout: 30_000 }).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  for (const name of names) spawnSync(cli, ['sandbox', 'delete', name], { encoding: 'utf8', env, timeout: 60_000 });
}

/** Phase 2 (holding the node lock): install, reach, run, report, tear down. */
async function locked(tests: string, image: string, want: string[]): Promise<number> {
  const missing = missingLoop();
  if (missing) skip(`${missing} (after taking ${LOCK}: a node not started under the lock)`);
  const t0 = performance.now();
  const home = tempDir('upstream-e2e');
  // Every target's full output, kept after the run beside the report.
  const logs = join(KIT_ROOT, 'test', 'upstream', 'last-run-logs');
  rmSync(logs, { recursive: true, force: true });
  mkdirSync(logs, { recursive: true });
  const abort = new AbortController();
  const forwards: Forward[] = [];
  let provisioner: StaticProvisioner | undefined;
  const loop = new OpenShellLoop(home);
  let tearing: Promise<void> | undefined;
  const teardown = () =>
    (tearing ??= (async () => {
      log('teardown: port-forwards, provisioner, node, registry');
      for (const f of forwards) f.proc.kill();
      provisioner?.stop();
      await loop.node.down().catch((e: unknown) => log(`node teardown: ${String(e)}`));
      // Ctrl+C reaches the registry too (our process group); stop() returns at once for a registry already gone.
      await loop.registry.stop();
      rmSync(home, { recursive: true, force: true });
      log('torn down');
    })());
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) return;
    interrupted = true;
    log('interrupted: tearing down');
    abort.abort();
    void teardown().then(() => process.exit(130));
  });

  const rows: TestResult[] = [];
  const setupMs: Record<string, number> = {};
  const step = async <T>(what: string, fn: () => Promise<T> | T): Promise<T> => {
    const s = performance.now();
    log(`${what}…`);
    const v = await fn();
    setupMs[what] = performance.now() - s;
    log(`${what}: ${(setupMs[what] / 1000).toFixed(0)}s`);
    return v;
  };
  try {
    await step('real node + registry + up', () => loop.start());
    const node = loop.node.state!;
    const kubectl = join(node.bins.kube, 'kubectl');
    provisioner = new StaticProvisioner(loop.node, join(loop.node.dir, 'volumes'));
    provisioner.start();
    await step('sync (real gateway + static supervisor images)', async () => {
      const r = await loop.task('sync', ['--gateway-bin', loop.gatewayBin, '--supervisor-bin', loop.supervisorBin]);
      if (r.code !== 0) throw new Error(`sync failed:\n${r.out}`);
    });
    await step('bootstrap (agent-sandbox + the chart, values.dev.yaml)', async () => {
      const r = await loop.task('bootstrap', []);
      if (r.code !== 0) throw new Error(`bootstrap failed:\n${r.out}`);
    });
    const sandboxImage = await step('sandbox image → the chart\'s sandbox.defaultImage', () => {
      const tag = image.split(':').pop()!;
      const ref = `127.0.0.1:${loop.registry.port}/openshell-testbed/sandbox:${tag}`;
      for (const args of [['tag', image, ref], ['push', '-q', ref]]) {
        const r = spawnSync('docker', args, { encoding: 'utf8', timeout: 300_000 });
        if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr || r.stdout}`);
      }
      // The kit's value for the gateway's default_image; everything else as bootstrap installed it.
      const r = spawnSync('helm', ['--kubeconfig', loop.node.kubeconfig, 'upgrade', NS, join(KIT_ROOT, 'deploy', 'helm', 'openshell'), '-n', NS, '--reuse-values', '--set', `sandbox.defaultImage=${ref}`, '--wait', '--timeout', '180s'], { encoding: 'utf8', timeout: 240_000 });
      if (r.status !== 0) throw new Error(`helm upgrade --set sandbox.defaultImage: ${r.stderr || r.stdout}`);
      return ref;
    });
    const grpc = await step('port-forward svc/openshell-gateway (gRPC)', () => portForward(kubectl, loop.node.kubeconfig, 'svc/openshell-gateway', 'grpc', join(logs, 'port-forward-grpc.log')));
    forwards.push(grpc);
    const health = await step('port-forward statefulset/openshell-gateway (health)', () => portForward(kubectl, loop.node.kubeconfig, 'statefulset/openshell-gateway', 'health', join(logs, 'port-forward-health.log')));
    forwards.push(health);

    const configHome = join(home, 'config');
    const gatewayName = `openshell-e2e-kube-${grpc.port}`;
    registerPlaintextGateway(configHome, gatewayName, `http://127.0.0.1:${grpc.port}`, grpc.port);
    // The env upstream's e2e/with-kube-gateway.sh exports before `cargo test`.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: join(home, 'home'),
      TMPDIR: process.env.TMPDIR,
      LANG: 'C.UTF-8',
      XDG_CONFIG_HOME: configHome,
      XDG_DATA_HOME: join(home, 'data'),
      OPENSHELL_BIN: join(loop.bin, 'openshell'),
      OPENSHELL_GATEWAY: gatewayName,
      OPENSHELL_E2E_DRIVER: 'kubernetes',
      OPENSHELL_E2E_HEALTH_PORT: String(health.port),
      OPENSHELL_E2E_KUBE_CONTEXT_ACTIVE: 'realnode',
      OPENSHELL_E2E_SANDBOX_NAMESPACE: NS,
      OPENSHELL_PROVISION_TIMEOUT: process.env.OPENSHELL_PROVISION_TIMEOUT ?? '300',
      OPENSHELL_TELEMETRY_ENABLED: 'false',
      CONTAINER_ENGINE: 'docker',
      DOCKER_HOST: process.env.DOCKER_HOST,
      KUBECONFIG: loop.node.kubeconfig,
      NO_COLOR: '1',
    };
    mkdirSync(env.HOME!, { recursive: true });
    log(`gateway ${gatewayName} at http://127.0.0.1:${grpc.port} (health :${health.port}); sandboxes from ${sandboxImage}`);

    const targets = readFileSync(join(tests, 'TARGETS'), 'utf8').split('\n').filter(Boolean);
    const order = (want.length > 0 ? want : [...FIRST.filter((t) => targets.includes(t)), ...targets.filter((t) => !FIRST.includes(t))]);
    const srcDir = join(tests, 'src', 'e2e', 'rust');
    const testsStart = performance.now();
    for (const target of order) {
      if (abort.signal.aborted) break;
      const exe = join(tests, 'bin', target);
      const listed = parseList(spawnSync(exe, ['--list'], { encoding: 'utf8', env, cwd: srcDir }).stdout);
      const logFile = join(logs, `${target}.log`);
      let stuck = '';
      const run = await runExecutable(exe, ['--show-output'], env, srcDir, logFile, TIMEOUT_S * 1000, abort.signal, () => {
        stuck = sandboxPodsWaiting(loop);
      });
      const got = results(target, listed, run.out, run.timedOut, stuck, SILENT_GATES);
      // A killed executable's guards never ran: its sandboxes would linger into the next target.
      if (run.timedOut) deleteAllSandboxes(env);
      rows.push(...got);
      const counts = ['pass', 'skip', 'fail', 'ignored', 'timeout', 'not run'].map((o) => `${got.filter((g) => g.outcome === o).length} ${o}`).join(', ');
      log(`${target}: ${counts} (${(run.ms / 1000).toFixed(0)}s)`);
      for (const g of got.filter((g) => g.outcome === 'fail')) log(`  FAIL ${g.test}: ${g.why.split('\n').slice(0, 3).join(' | ')}`);
    }
    const md = report(rows, { setupMs, testsMs: performance.now() - testsStart, totalMs: performance.now() - t0, sandboxImage, interrupted: abort.signal.aborted });
    writeFileSync(REPORT, md);
    console.log('\n' + md);
    log(`report: ${REPORT} (full output per target: ${logs}/)`);
    writeFileSync(join(logs, 'gateway.log'), loop.kubectl(['-n', NS, 'logs', 'openshell-gateway-0', '--tail', '2000']).stdout);
    return rows.some((r) => r.outcome !== 'pass' && r.outcome !== 'ignored') ? 1 : 0;
  } catch (err) {
    log(`setup failed: ${err instanceof Error ? err.message : String(err)}`);
    log(`gateway log:\n${loop.node.state ? loop.kubectl(['-n', NS, 'logs', 'openshell-gateway-0', '--tail', '60']).stdout : '(no node)'}`);
    return 1;
  } finally {
    await teardown();
    log(`total ${((performance.now() - t0) / 1000).toFixed(0)}s`);
  }
}

if (process.argv[2] === '--locked') {
  const [tests, image, ...want] = process.argv.slice(3);
  locked(tests!, image!, want).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
} else {
  void main();
}
