// A real node with the kit pointed at it (the `existing` provider), for the
// e2e files that drive the kit's tasks on real pods: the node, a registry
// private to the file (pods pull it as openshell-registry:5000), a busybox
// test image, and the task environment after a successful `up`.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { busyboxImage } from './images.ts';
import { missingRealNode, optionsFromEnv, RealNode } from './realnode.ts';
import { busybox, describeRun, freePort, PrivateRegistry, rmTree, runTask, taskEnv, tempDir } from '../support/e2e.ts';
import { missingDocker, missingRegistry, missingTools } from '../support/requires.ts';

export const SHARED_REGISTRY = process.env.OPENSHELL_TEST_REGISTRY ?? 'localhost:5000';
export const AGENT_SANDBOX_MANIFEST = process.env.OPENSHELL_TEST_AGENT_SANDBOX_MANIFEST;

/** Why a kit-on-a-real-node file cannot run here, or false. */
export async function missingKitNode(): Promise<false | string> {
  return (
    missingRealNode() ||
    missingDocker() ||
    (await missingRegistry(SHARED_REGISTRY)) ||
    missingTools('helm', 'kubectl', 'docker-registry') ||
    (AGENT_SANDBOX_MANIFEST ? false : 'needs OPENSHELL_TEST_AGENT_SANDBOX_MANIFEST (.ci/testbed/realnode.sh renders the real agent-sandbox manifest)') ||
    (busybox() ? false : 'needs a static busybox (apt-get install busybox-static) for the test image')
  );
}

export class KitNode {
  readonly home: string;
  readonly node: RealNode;
  readonly registry: PrivateRegistry;
  /** The task environment (existing provider on the node's kubeconfig). */
  readonly env: NodeJS.ProcessEnv = {};
  /** A busybox image in the shared registry the node pulls from. */
  readonly app: string;

  private constructor(home: string, node: RealNode, registry: PrivateRegistry, app: string) {
    this.home = home;
    this.node = node;
    this.registry = registry;
    this.app = app;
  }

  /** Start the node and the registry, then `up` through the kit; `extra` adds to or overrides the task environment. */
  static async start(what: string, extra: Record<string, string | undefined> = {}): Promise<KitNode> {
    const home = tempDir(what);
    const app = await busyboxImage(SHARED_REGISTRY, busybox()!);
    const registry = new PrivateRegistry(join(home, 'registry'), await freePort());
    await registry.start();
    const opts = optionsFromEnv();
    const url = `http://127.0.0.1:${registry.port}`;
    opts.registries = { ...opts.registries, 'openshell-registry:5000': url, [`localhost:${registry.port}`]: url, [`127.0.0.1:${registry.port}`]: url };
    const node = new RealNode(join(home, 'node'));
    const kit = new KitNode(home, node, registry, app);
    try {
      await node.up(opts);
      Object.assign(
        kit.env,
        taskEnv(home, {
          ...node.kitEnv(),
          OPENSHELL_DEV_KUBECONFIG: join(home, 'kit-kubeconfig.yaml'),
          OPENSHELL_DEV_REGISTRY_PORT: String(registry.port),
          OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST: AGENT_SANDBOX_MANIFEST,
          OPENSHELL_DEV_TIMEOUT: '120',
          CONTAINER_ENGINE: 'docker',
          DOCKER_HOST: process.env.DOCKER_HOST,
          ...extra,
        }),
      );
      const up = await runTask('up', [], kit.env, { timeoutMs: 60_000 });
      assert.equal(up.code, 0, describeRun(up));
    } catch (err) {
      await kit.stop();
      throw err;
    }
    return kit;
  }

  async stop(): Promise<void> {
    await this.node.down();
    await this.registry.stop();
    rmTree(this.home);
  }
}
