// The real OpenShell dev loop on the test bed's real node, shared by the e2e
// test (test/e2e/realnode-openshell.test.ts) and `npm run bench`: the kit's
// tasks (existing provider, a private registry pods reach as
// openshell-registry:5000) with the real binaries from the same source: the
// openshell-gateway image on the Debian base, the static openshell-sandbox as
// the dev supervisor image, the real agent-sandbox manifest; then sandboxes
// created through the real gateway (NodePort 30051 on the node IP, plaintext,
// anonymous: values.dev.yaml) with the real `openshell` CLI.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, PrivateRegistry, runTask, taskEnv, type TaskRun } from '../support/e2e.ts';
import { missingRealNode, optionsFromEnv, RealNode } from './realnode.ts';

/** values.dev.yaml's NodePort. */
export const GATEWAY_NODE_PORT = 30051;

/** What the loop needs from the test bed, or why it cannot run. */
export function missingLoop(env: NodeJS.ProcessEnv = process.env): false | string {
  const real = missingRealNode(env);
  if (real) return real;
  const need: [string, string][] = [
    ['OPENSHELL_TEST_OPENSHELL_BIN', 'the real openshell, openshell-gateway and static openshell-sandbox (.ci/tools/openshell.sh)'],
    ['OPENSHELL_TEST_GATEWAY_BASE_IMAGE', 'the Debian base with the gateway\'s libraries and the supervisor\'s ip, nsenter, nft (.ci/testbed/debian-base.sh)'],
    ['OPENSHELL_TEST_AGENT_SANDBOX_MANIFEST', 'the real agent-sandbox manifest (.ci/testbed/realnode.sh)'],
    ['OPENSHELL_TEST_COREDNS_BIN', 'CoreDNS for the real node: sandbox pods reach the gateway by its Service name'],
  ];
  for (const [name, what] of need) if (!env[name]) return `needs ${name}: ${what}`;
  if (spawnSync('docker', ['version'], { timeout: 20_000 }).status !== 0) return 'needs a running Docker engine (images are built with it)';
  if (spawnSync('sh', ['-c', 'command -v docker-registry && command -v helm && command -v kubectl'], { timeout: 5000 }).status !== 0) return 'needs docker-registry, helm and kubectl on PATH';
  return false;
}

export class OpenShellLoop {
  readonly node: RealNode;
  readonly registry: PrivateRegistry;
  env: NodeJS.ProcessEnv = {};
  readonly bin: string;
  private sandboxImageRef = '';

  readonly home: string;

  constructor(home: string) {
    this.home = home;
    this.node = new RealNode(join(home, 'node'));
    this.registry = new PrivateRegistry(join(home, 'registry'), 0);
    this.bin = process.env.OPENSHELL_TEST_OPENSHELL_BIN!;
  }

  get gatewayBin(): string {
    return join(this.bin, 'openshell-gateway');
  }
  get supervisorBin(): string {
    return join(this.bin, 'openshell-sandbox');
  }
  /** The gateway as the CLI reaches it: the chart's NodePort on the node IP. */
  get gatewayUrl(): string {
    return `http://${this.node.state!.nodeIp}:${GATEWAY_NODE_PORT}`;
  }

  /** The private registry, the real node (with CoreDNS), the kit's `up`. */
  async start(log: (l: string) => void = () => {}): Promise<void> {
    const port = await freePort();
    (this as { registry: PrivateRegistry }).registry = new PrivateRegistry(join(this.home, 'registry'), port);
    await this.registry.start();
    const opts = optionsFromEnv();
    const url = `http://127.0.0.1:${port}`;
    opts.registries = { ...opts.registries, 'openshell-registry:5000': url, [`localhost:${port}`]: url, [`127.0.0.1:${port}`]: url };
    opts.log = log;
    await this.node.up(opts);
    this.workspaceVolumes(4);
    this.env = taskEnv(this.home, {
      ...this.node.kitEnv(),
      OPENSHELL_DEV_KUBECONFIG: join(this.home, 'kit-kubeconfig.yaml'),
      OPENSHELL_DEV_REGISTRY_PORT: String(port),
      OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST: process.env.OPENSHELL_TEST_AGENT_SANDBOX_MANIFEST,
      OPENSHELL_DEV_GATEWAY_BASE_IMAGE: process.env.OPENSHELL_TEST_GATEWAY_BASE_IMAGE,
      OPENSHELL_DEV_TIMEOUT: '180',
      CONTAINER_ENGINE: 'docker',
      DOCKER_HOST: process.env.DOCKER_HOST,
    });
    const up = await runTask('up', [], this.env, { timeoutMs: 60_000 });
    if (up.code !== 0) throw new Error(`up failed:\n${up.out}`);
  }

  /**
   * The driver gives every sandbox a workspace PersistentVolumeClaim (2Gi,
   * ReadWriteOnce, no storage class unless workspace_storage_class is set). The
   * real node has no dynamic provisioner: statically provisioned hostPath
   * volumes under the node's directory bind them, as on a cluster whose
   * administrator provisions volumes by hand.
   */
  workspaceVolumes(n: number): void {
    for (let i = 1; i <= n; i++) {
      const path = join(this.node.dir, 'volumes', `workspace-${i}`);
      mkdirSync(path, { recursive: true });
      const pv = {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: `realnode-workspace-${i}` },
        spec: { capacity: { storage: '2Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain', hostPath: { path, type: 'Directory' } },
      };
      const r = this.node.kubectl(['apply', '-f', '-'], JSON.stringify(pv));
      if (r.status !== 0) throw new Error(`PersistentVolume ${pv.metadata.name}: ${r.stderr}`);
    }
  }

  async stop(): Promise<void> {
    await this.node.down();
    await this.registry.stop();
  }

  task(name: string, args: string[], extra: NodeJS.ProcessEnv = {}, timeoutMs = 600_000): Promise<TaskRun> {
    return runTask(name, args, { ...this.env, ...extra }, { timeoutMs });
  }

  /**
   * The sandbox image: the Debian base (the supervisor's network setup needs ip,
   * nsenter, nft; sha256sum proves which supervisor runs), in the private registry.
   */
  sandboxImage(): string {
    if (this.sandboxImageRef) return this.sandboxImageRef;
    const base = process.env.OPENSHELL_TEST_GATEWAY_BASE_IMAGE!;
    const tag = base.split(':').pop()!;
    const ref = `127.0.0.1:${this.registry.port}/openshell-testbed/sandbox-debian:${tag}`;
    for (const args of [['tag', base, ref], ['push', ref]]) {
      const r = spawnSync('docker', args, { encoding: 'utf8', timeout: 300_000 });
      if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr || r.stdout}`);
    }
    this.sandboxImageRef = ref;
    return ref;
  }

  /** The real CLI against the gateway, with its own HOME (no stored gateways). */
  cli(args: string[], timeoutMs = 240_000): SpawnSyncReturns<string> {
    const home = join(this.home, 'cli-home');
    mkdirSync(home, { recursive: true });
    return spawnSync(join(this.bin, 'openshell'), ['--gateway-endpoint', this.gatewayUrl, ...args], {
      encoding: 'utf8',
      timeout: timeoutMs,
      env: { PATH: process.env.PATH, HOME: home, NO_COLOR: '1', OPENSHELL_TELEMETRY_ENABLED: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /** `openshell sandbox create`: returns when the gateway reports the sandbox ready (or fails). The pod is `default--<name>` (workspace default). */
  createSandbox(name: string): SpawnSyncReturns<string> {
    return this.cli(['sandbox', 'create', '--name', name, '--from', this.sandboxImage(), '--detach', '--no-auto-providers', '--', 'sleep', 'infinity']);
  }

  /** The sandbox's phase as the gateway reports it (`openshell sandbox get -o json`). */
  phase(name: string): string {
    const r = this.cli(['sandbox', 'get', name, '-o', 'json'], 30_000);
    try {
      return String((JSON.parse(r.stdout) as { phase?: string }).phase ?? '');
    } catch {
      return `unknown (${r.stderr.trim().split('\n').pop() ?? r.status})`;
    }
  }

  kubectl(args: string[], input?: string): SpawnSyncReturns<string> {
    return this.node.kubectl(args, input);
  }

  /** A new static supervisor without a rebuild: the same static ELF with bytes appended (the loader ignores them), so its sha256 differs. */
  changedSupervisor(dir: string, mark: string): string {
    mkdirSync(dir, { recursive: true });
    const out = join(dir, 'openshell-sandbox');
    copyFileSync(this.supervisorBin, out);
    appendFileSync(out, `\n#openshell-dev-change ${mark}\n`);
    return out;
  }
}
