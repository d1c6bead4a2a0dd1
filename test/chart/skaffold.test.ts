// skaffold.yaml and the Dockerfiles: structure, the setValueTemplates names
// skaffold derives from image names, the profiles rendering with real helm,
// the real skaffold's parser when it is installed, and the images built by a
// real Docker engine (with stand-in binaries) when one answers.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { missingDocker, missingTools } from '../support/requires.ts';
import { devImages } from '../../scripts/lib/bootstrap.ts';
import { devValues, gatewayWorkload, render, repoRoot } from './support/helm.ts';

const run = promisify(execFile);

interface Release {
  name: string;
  chartPath: string;
  namespace: string;
  valuesFiles: string[];
  setValueTemplates: Record<string, string>;
}
interface Artifact {
  image: string;
  context?: string;
  docker: { dockerfile: string };
  sync?: { manual: { src: string; dest: string; strip?: string }[] };
}
interface SkaffoldConfig {
  apiVersion: string;
  build: { local: { push: boolean }; artifacts: Artifact[] };
  deploy: { helm: { releases: Release[] } };
  profiles: { name: string; patches: { op: string; path: string; value: string }[] }[];
}

const config = parse(readFileSync(join(repoRoot, 'skaffold.yaml'), 'utf8')) as SkaffoldConfig;
// Bare names: skaffold prefixes the registry the cluster advertises (--default-repo).
const GATEWAY = 'openshell-gateway';
const SUPERVISOR = 'openshell-supervisor';
/** Skaffold's template key for an image: / - . : become _. */
const templateKey = (image: string) => image.replace(/[/\-.:]/g, '_');

describe('skaffold.yaml', () => {
  test('skaffold pushes to the repositories `sync` pushes to (the values.dev.yaml images, registry-relative)', () => {
    const { gateway, supervisor } = devImages();
    assert.deepEqual(config.build.artifacts.map((a) => a.image), [gateway.repo, supervisor.repo]);
  });

  test('the gateway\'s base image: OPENSHELL_DEV_GATEWAY_BASE_IMAGE, else the same default as the Dockerfile\'s', () => {
    const dockerfile = /^ARG BASE_IMAGE=(\S+)$/m.exec(readFileSync(join(repoRoot, 'deploy/docker/Dockerfile.gateway'), 'utf8'))?.[1];
    const gateway = config.build.artifacts.find((a) => a.image === GATEWAY) as Artifact & { docker: { buildArgs?: Record<string, string> } };
    assert.equal(gateway.docker.buildArgs?.BASE_IMAGE, `{{ env "OPENSHELL_DEV_GATEWAY_BASE_IMAGE" | default "${dockerfile}" }}`);
  });

  test('two docker artifacts pushed to the registry', () => {
    assert.match(config.apiVersion, /^skaffold\/v4beta\d+$/);
    assert.equal(config.build.local.push, true);
    assert.deepEqual(
      config.build.artifacts.map((a) => [a.image, a.docker.dockerfile]),
      [
        [GATEWAY, 'deploy/docker/Dockerfile.gateway'],
        [SUPERVISOR, 'deploy/docker/Dockerfile.supervisor'],
      ],
    );
  });

  test('helm release openshell in namespace openshell with values.dev.yaml and image templates', () => {
    const [rel] = config.deploy.helm.releases;
    assert.ok(rel);
    assert.equal(rel.name, 'openshell');
    assert.equal(rel.namespace, 'openshell');
    assert.equal(rel.chartPath, 'deploy/helm/openshell');
    assert.deepEqual(rel.valuesFiles, ['deploy/helm/openshell/values.dev.yaml']);
    assert.deepEqual(rel.setValueTemplates, {
      'image.repository': `{{.IMAGE_REPO_${templateKey(GATEWAY)}}}`,
      'image.tag': `{{.IMAGE_TAG_${templateKey(GATEWAY)}}}`,
      'supervisor.image.repository': `{{.IMAGE_REPO_${templateKey(SUPERVISOR)}}}`,
      'supervisor.image.tag': `{{.IMAGE_TAG_${templateKey(SUPERVISOR)}}}`,
    });
    assert.equal(templateKey(GATEWAY), 'openshell_gateway');
  });

  test('no file sync for the supervisor: no container runs its image, and the agent mounts it read-only (k8s:dev:sideload restarts sandboxes instead)', () => {
    const sup = config.build.artifacts.find((a) => a.image === SUPERVISOR);
    assert.ok(sup);
    assert.equal(sup.sync, undefined);
  });

  test('profiles for the enterprise variants have their own values files, with the chart\'s preflights on', () => {
    assert.deepEqual(config.profiles.map((p) => p.name).sort(), ['ha', 'ingress', 'oidc']);
    for (const p of config.profiles) {
      for (const patch of p.patches) {
        assert.equal(patch.path, '/deploy/helm/releases/0/valuesFiles/-');
        assert.equal(patch.value, `skaffold/values-${p.name}.yaml`, 'not a chart test fixture (ci/)');
        const values = parse(readFileSync(join(repoRoot, patch.value), 'utf8')) as Record<string, unknown>;
        assert.equal(values.preflight, undefined, `${patch.value} keeps the agent-sandbox preflight on`);
        assert.doesNotMatch(JSON.stringify(values), /"force":true/, `${patch.value} does not force Gateway API objects`);
      }
    }
  });

  for (const name of ['ha', 'ingress', 'oidc']) {
    test(`profile ${name} renders on top of values.dev.yaml`, { skip: missingTools('helm') }, async () => {
      const p = config.profiles.find((x) => x.name === name);
      const files = p?.patches.map((x) => join(repoRoot, x.value)) ?? [];
      const objs = await render(['-f', devValues, ...files.flatMap((f) => ['-f', f])]);
      assert.equal(gatewayWorkload(objs).spec.template.spec.containers[0]?.image, 'openshell-registry:5000/openshell-gateway:dev');
    });
  }

  test('the real skaffold parses it (skaffold diagnose --yaml-only)', { skip: missingTools('skaffold') }, async () => {
    for (const profile of ['', 'ha', 'ingress', 'oidc']) {
      const args = ['diagnose', '--yaml-only', '--filename', join(repoRoot, 'skaffold.yaml')];
      if (profile) args.push('--profile', profile);
      const { stdout } = await run('skaffold', args, { cwd: repoRoot, timeout: 60_000 });
      assert.match(stdout, /image: openshell-gateway/);
    }
  });
});

test('skaffold names its images as `sync` pushes them: <advertised registry>/openshell-gateway', { skip: missingTools('skaffold') }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'openshell-skaffold-'));
  try {
    for (const f of ['skaffold.yaml', 'deploy', 'skaffold']) cpSync(join(repoRoot, f), join(dir, f), { recursive: true });
    mkdirSync(join(dir, '.build/bin'), { recursive: true });
    for (const bin of ['openshell-gateway', 'openshell-sandbox']) writeFileSync(join(dir, '.build/bin', bin), 'stand-in\n');
    const { stdout } = await run('skaffold', ['build', '--dry-run', '-q', '--default-repo', 'localhost:5000', '--filename', join(dir, 'skaffold.yaml')], { cwd: dir, timeout: 120_000, env: { ...process.env, SKAFFOLD_UPDATE_CHECK: 'false' } });
    const builds = (JSON.parse(stdout) as { builds: { imageName: string; tag: string }[] }).builds;
    const { gateway, supervisor } = devImages();
    assert.deepEqual(builds.map((b) => b.tag.replace(/:[^:/]+$/, '')), [`localhost:5000/${gateway.repo}`, `localhost:5000/${supervisor.repo}`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('Dockerfiles', () => {
  const gateway = readFileSync(join(repoRoot, 'deploy/docker/Dockerfile.gateway'), 'utf8');
  const supervisor = readFileSync(join(repoRoot, 'deploy/docker/Dockerfile.supervisor'), 'utf8');

  test('no compiler inside; parameterised bases and binary directory', () => {
    for (const f of [gateway, supervisor]) {
      assert.doesNotMatch(f, /^\s*RUN\b/m, 'no RUN steps: binaries come prebuilt');
      assert.match(f, /^ARG BIN_DIR=\.build\/bin$/m);
    }
    assert.match(gateway, /^ARG BASE_IMAGE=gcr\.io\/distroless\/cc-debian12/m);
    assert.match(gateway, /COPY \$\{BIN_DIR\}\/openshell-gateway \/usr\/local\/bin\/openshell-gateway$/m);
    assert.match(gateway, /^USER 65532:65532$/m);
    assert.match(supervisor, /^FROM scratch$/m);
    assert.match(supervisor, /COPY \$\{BIN_DIR\}\/openshell-sandbox \/openshell-sandbox$/m);
  });

  const ctx = mkdtempSync(join(tmpdir(), 'openshell-docker-'));
  const tags = [`openshell-test-gateway:${process.pid}`, `openshell-test-supervisor:${process.pid}`];
  after(async () => {
    rmSync(ctx, { recursive: true, force: true });
    await run('docker', ['rmi', '-f', ...tags]).catch(() => undefined);
  });

  test('both images build from prebuilt binaries (stand-ins) with a real Docker engine', { skip: missingDocker(), timeout: 120_000 }, async () => {
    mkdirSync(join(ctx, '.build/bin'), { recursive: true });
    for (const bin of ['openshell-gateway', 'openshell-sandbox']) {
      writeFileSync(join(ctx, '.build/bin', bin), '#!/bin/sh\necho stand-in\n');
      chmodSync(join(ctx, '.build/bin', bin), 0o755);
    }
    // No registry is reachable here: build the gateway on scratch instead of distroless.
    await run('docker', ['build', '-q', '-t', tags[0] as string, '--build-arg', 'BASE_IMAGE=scratch', '-f', join(repoRoot, 'deploy/docker/Dockerfile.gateway'), ctx], { timeout: 120_000 });
    await run('docker', ['build', '-q', '-t', tags[1] as string, '-f', join(repoRoot, 'deploy/docker/Dockerfile.supervisor'), ctx], { timeout: 120_000 });
    const inspect = async (tag: string) =>
      JSON.parse((await run('docker', ['image', 'inspect', tag, '--format', '{{json .Config}}'])).stdout) as { User: string; Entrypoint: string[] };
    const gw = await inspect(tags[0] as string);
    assert.equal(gw.User, '65532:65532');
    assert.deepEqual(gw.Entrypoint, ['/usr/local/bin/openshell-gateway']);
    const sup = await inspect(tags[1] as string);
    assert.deepEqual(sup.Entrypoint, ['/openshell-sandbox']);
    const id = (await run('docker', ['create', tags[1] as string])).stdout.trim();
    try {
      const { stdout } = await run('docker', ['export', id], { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 });
      assert.ok(stdout.includes(Buffer.from('openshell-sandbox')), 'binary at the image root');
    } finally {
      await run('docker', ['rm', '-f', id]);
    }
  });

  // The real binaries from .ci/tools/openshell.sh: the gateway as a plain `cargo build` links the
  // system libz3, so its base is the test bed's Debian 12 with libz3-4 (.ci/testbed/debian-base.sh).
  const realBin = process.env.OPENSHELL_TEST_OPENSHELL_BIN;
  const realBase = process.env.OPENSHELL_TEST_GATEWAY_BASE_IMAGE;
  const noReal = missingDocker() || (!realBin || !realBase ? 'needs the real OpenShell binaries and a Debian base (OPENSHELL_TEST_OPENSHELL_BIN, OPENSHELL_TEST_GATEWAY_BASE_IMAGE: bash .ci/run exports them)' : false);
  test('the real openshell-gateway runs on its base image and the real supervisor is a static binary at /openshell-sandbox', { skip: noReal, timeout: 300_000 }, async () => {
    const real = mkdtempSync(join(tmpdir(), 'openshell-docker-real-'));
    const tag = `openshell-test-gateway-real:${process.pid}`;
    const supTag = `openshell-test-supervisor-real:${process.pid}`;
    try {
      mkdirSync(join(real, '.build/bin'), { recursive: true });
      for (const bin of ['openshell-gateway', 'openshell-sandbox']) cpSync(join(realBin!, bin), join(real, '.build/bin', bin));
      await run('docker', ['build', '-q', '-t', tag, '--build-arg', `BASE_IMAGE=${realBase}`, '-f', join(repoRoot, 'deploy/docker/Dockerfile.gateway'), real], { timeout: 300_000 });
      const { stdout } = await run('docker', ['run', '--rm', '--network', 'none', tag, '--version'], { timeout: 60_000 });
      assert.match(stdout, /^openshell-gateway \d+\.\d+\.\d+/);
      await run('docker', ['build', '-q', '-t', supTag, '-f', join(repoRoot, 'deploy/docker/Dockerfile.supervisor'), real], { timeout: 300_000 });
      // FROM scratch: only a static binary can run there at all.
      const sup = await run('docker', ['run', '--rm', '--network', 'none', supTag, '--version'], { timeout: 60_000 });
      assert.match(sup.stdout, /openshell-sandbox \d+\.\d+\.\d+/);
    } finally {
      rmSync(real, { recursive: true, force: true });
      await run('docker', ['rmi', '-f', tag, supTag]).catch(() => undefined);
    }
  });
});
