// k8s:dev:sync end to end: builds the gateway and supervisor images (FROM
// scratch, from fixture binaries) with a real engine, pushes them to the real
// registry, and checks the tags over the registry API; a second run with the
// same binaries skips both. The same build and push through Docker and
// through Podman's Docker-API socket. The images are busybox stand-ins for
// OpenShell's binaries. Through Docker they go to a registry of this file's
// own on a free port, never a contributor's localhost:5000.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { contentTag } from '../../scripts/lib/images.ts';
import { listTags, tagDigest } from '../../scripts/lib/registry.ts';
import { describeRun, fixtureBinary, KIT_ROOT, missingBusybox, missingPrivateRegistry, type PrivateRegistry, rmTree, runTask, stackLines, startPrivateRegistry, taskEnv, tempDir } from '../support/e2e.ts';
import { missingDocker, missingEnv, missingRegistry, missingTools } from '../support/requires.ts';

const T = { timeout: 300_000 };

// Through Podman the docker CLI pushes via Podman's API, so the Podman service
// itself must treat the registry as insecure (plain HTTP): only a registry
// configured so in Podman's registries.conf will do, and a private one on a
// random port is not. So the Podman suite pushes to OPENSHELL_TEST_REGISTRY,
// which .ci/run exports for its own registry (marked insecure there) and which
// is never assumed: unset, the suite skips rather than push to a contributor's
// localhost:5000.
const PODMAN_REGISTRY = process.env.OPENSHELL_TEST_REGISTRY;
const podmanRegistrySkip = PODMAN_REGISTRY
  ? await missingRegistry(PODMAN_REGISTRY)
  : 'needs OPENSHELL_TEST_REGISTRY: a registry that Podman\'s service treats as plain HTTP and that tests may overwrite (bash .ci/run exports its own)';

/** The Podman socket .ci/run serves (…/podman/podman.sock) → the XDG_RUNTIME_DIR the engine code derives it from. */
function podmanRuntimeDir(): string | undefined {
  const host = process.env.OPENSHELL_TEST_PODMAN_HOST ?? '';
  const m = /^unix:\/\/(.+)\/podman\/podman\.sock$/.exec(host);
  return m?.[1];
}

function podmanSkip(): false | string {
  const why = missingEnv('OPENSHELL_TEST_PODMAN_HOST') || missingTools('podman');
  if (why) return why;
  if (!podmanRuntimeDir()) return `OPENSHELL_TEST_PODMAN_HOST=${process.env.OPENSHELL_TEST_PODMAN_HOST} is not <dir>/podman/podman.sock (the path CONTAINER_ENGINE=podman derives from XDG_RUNTIME_DIR)`;
  return missingDocker({ ...process.env, DOCKER_HOST: process.env.OPENSHELL_TEST_PODMAN_HOST });
}

const engines = [
  { name: 'docker', skip: missingDocker() || missingPrivateRegistry(), registry: 'private', extra: { CONTAINER_ENGINE: 'docker', DOCKER_HOST: process.env.DOCKER_HOST } },
  { name: 'podman', skip: podmanSkip() || podmanRegistrySkip, registry: PODMAN_REGISTRY, extra: { CONTAINER_ENGINE: 'podman', XDG_RUNTIME_DIR: podmanRuntimeDir() } },
] as const;

const images = [
  { which: 'gateway', repo: 'openshell-gateway', dockerfile: 'Dockerfile.gateway', buildArgs: { BASE_IMAGE: 'scratch' } },
  { which: 'supervisor', repo: 'openshell-supervisor', dockerfile: 'Dockerfile.supervisor', buildArgs: {} },
] as const;

for (const engine of engines) {
  describe(`sync through ${engine.name} (busybox stand-in binaries)`, { skip: missingBusybox() || engine.skip }, () => {
    let home = '';
    let env: NodeJS.ProcessEnv = {};
    let args: string[] = [];
    const bins: Record<string, string> = {};
    let registry: PrivateRegistry | undefined;
    let REGISTRY = '';

    before(async () => {
      home = tempDir(`sync-${engine.name}`);
      if (engine.registry === 'private') {
        registry = await startPrivateRegistry(join(home, 'registry'));
        REGISTRY = registry.host;
      } else REGISTRY = engine.registry!;
      const port = REGISTRY.split(':')[1] ?? '5000';
      env = taskEnv(home, { OPENSHELL_DEV_REGISTRY_PORT: port, OPENSHELL_DEV_GATEWAY_BASE_IMAGE: 'scratch', ...engine.extra });
      // Unique binaries: this run really builds and pushes, whatever the registry held before.
      bins.gateway = fixtureBinary(join(home, 'bin'), 'openshell-gateway');
      bins.supervisor = fixtureBinary(join(home, 'bin'), 'openshell-sandbox');
      args = ['--gateway-bin', bins.gateway, '--supervisor-bin', bins.supervisor];
    });
    after(async () => {
      await registry?.stop();
      rmTree(home);
    });

    test('the first run builds both images and pushes :dev and the content tag', T, async (t) => {
      const r = await runTask('sync', args, env, { timeoutMs: 280_000 });
      assert.equal(r.code, 0, describeRun(r));
      assert.deepEqual(stackLines(r.out), []);
      t.diagnostic(`sync via ${engine.name}: ${(r.ms / 1000).toFixed(1)}s`);
      assert.match(r.out, new RegExp(`engine ${engine.name} \\(CONTAINER_ENGINE=${engine.name}\\)`));
      for (const img of images) {
        const tag = contentTag(readFileSync(join(KIT_ROOT, 'deploy', 'docker', img.dockerfile), 'utf8'), readFileSync(bins[img.which]!), img.buildArgs);
        assert.match(r.out, new RegExp(`${REGISTRY}/${img.repo}:dev pushed \\(${tag}\\)`));
        // Over the registry API: both tags exist and point at the same manifest.
        const tags = await listTags(REGISTRY, img.repo);
        assert.ok(tags.includes('dev') && tags.includes(tag), `${img.repo} tags: ${tags.join(', ')}`);
        const [dev, content] = await Promise.all([tagDigest(REGISTRY, img.repo, 'dev'), tagDigest(REGISTRY, img.repo, tag)]);
        assert.ok(dev?.startsWith('sha256:'), `${img.repo}:dev digest ${dev}`);
        assert.equal(dev, content, `${img.repo}:dev is not the content tag`);
      }
    });

    test('a second run with the same binaries skips both images', T, async (t) => {
      const r = await runTask('sync', args, env, { timeoutMs: 120_000 });
      assert.equal(r.code, 0, describeRun(r));
      t.diagnostic(`no-op sync via ${engine.name}: ${(r.ms / 1000).toFixed(1)}s`);
      for (const img of images) assert.match(r.out, new RegExp(`${REGISTRY}/${img.repo}:dev unchanged \\(src-[0-9a-f]{16}\\)`));
      assert.doesNotMatch(r.out, /building|pushed/);
    });

    test('--only supervisor with a new binary pushes just that image', T, async () => {
      const before = await tagDigest(REGISTRY, 'openshell-gateway', 'dev');
      const fresh = fixtureBinary(join(home, 'bin2'), 'openshell-sandbox');
      const r = await runTask('sync', ['--only', 'supervisor', '--supervisor-bin', fresh], env, { timeoutMs: 280_000 });
      assert.equal(r.code, 0, describeRun(r));
      assert.match(r.out, new RegExp(`${REGISTRY}/openshell-supervisor:dev pushed`));
      assert.doesNotMatch(r.out, /openshell-gateway/);
      assert.equal(await tagDigest(REGISTRY, 'openshell-gateway', 'dev'), before, 'the gateway image moved');
      rmTree(dirname(fresh));
    });
  });
}
