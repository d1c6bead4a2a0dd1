// The exact commands the tasks run, through a scripted executor: no engine, no
// k3d, no real cluster (a tiny fake API server stands in where a task talks to
// one). HOME and OPENSHELL_DEV_KUBECONFIG always point into a temp directory.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { parse } from 'yaml';
import { bootstrap, helmValuesArgs } from '../../scripts/k8s-dev/bootstrap.ts';
import { down } from '../../scripts/k8s-dev/down.ts';
import { gateway } from '../../scripts/k8s-dev/gateway.ts';
import { devGatewayToml } from '../../scripts/lib/gateway-config.ts';
import { parseToml } from '../support/toml.ts';
import { buildAndPush, imageSpecs, sync } from '../../scripts/k8s-dev/sync.ts';
import { up } from '../../scripts/k8s-dev/up.ts';
import { SKAFFOLD_FILE, watch } from '../../scripts/k8s-dev/watch.ts';
import { DEV_VALUES } from '../../scripts/lib/bootstrap.ts';
import type { Engine } from '../../scripts/lib/engine.ts';
import { contentTag, stageBinary } from '../../scripts/lib/images.ts';
import { memoryLogger } from '../../scripts/lib/log.ts';
import { portFree } from '../../scripts/lib/ports.ts';
import { k3dConfig } from '../../scripts/lib/providers/k3d.ts';
import { answer, history, reset, type Rule } from '../../scripts/lib/sh.ts';
import { KIT_ROOT, loadSettings } from '../../scripts/lib/settings.ts';
import { createContext, parseFlags, UserError, type TaskDefinition } from '../../scripts/lib/task.ts';
import { resetToolCache } from '../../scripts/lib/tools.ts';

const work = mkdtempSync(join(tmpdir(), 'openshell-tasks-unit-'));
after(() => rmSync(work, { recursive: true, force: true }));
beforeEach(() => resetToolCache());

/** A free port, the preferred one when it is free. */
async function freePort(preferred: number, avoid: number[] = []): Promise<number> {
  if (!avoid.includes(preferred) && (await portFree(preferred)) && (await portFree(preferred, '0.0.0.0'))) return preferred;
  for (let p = 20000 + (process.pid % 20000); ; p++) if (!avoid.includes(p) && (await portFree(p)) && (await portFree(p, '0.0.0.0'))) return p;
}

let httpPort = 8080;
let registryPort = 5000;
before(async () => {
  httpPort = await freePort(8080);
  registryPort = await freePort(5000, [httpPort]);
});

let n = 0;
function baseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = join(work, `home-${n++}`);
  mkdirSync(home);
  return {
    PATH: process.env.PATH,
    HOME: home,
    OPENSHELL_DEV_KUBECONFIG: join(home, 'dev-kubeconfig.yaml'),
    OPENSHELL_DEV_HTTP_PORT: String(httpPort),
    OPENSHELL_DEV_REGISTRY_PORT: String(registryPort),
    ...extra,
  };
}

type Rules = Rule[];
/** A machine with Docker, k3d and kubectl that answer. */
const machine: Rules = [
  [/^command -v docker$/, { stdout: '/usr/bin/docker\n' }],
  [/^command -v /, { code: 1 }],
  ['docker --version', { stdout: 'Docker version 28.2.2, build e6534b4\n' }],
  ['docker version', { stdout: '28.2.2\n' }],
  ['k3d version', { stdout: 'k3d version v5.8.3\nk3s version v1.35.1-k3s1 (default)\n' }],
  ['kubectl version', { stdout: '{"clientVersion":{"gitVersion":"v1.35.1"}}' }],
  ['k3d registry list', { stdout: '[]' }],
];

function ctxFor(def: TaskDefinition, env: NodeJS.ProcessEnv, rules: Rules, argv: string[] = []) {
  reset();
  answer([...rules, ...machine]);
  // What really ran (a dry run's writes are printed instead).
  const executor = { get calls() { return history.filter((h) => !h.printed).map((h) => h.cmd); } };
  const log = memoryLogger();
  const settings = loadSettings({ env, root: work, home: env.HOME! });
  return { ctx: createContext(def, { argv, env, settings, log }), executor, log };
}

const ran = (calls: string[], prefix: string) => calls.filter((c) => c.startsWith(prefix));

describe('up', () => {
  test('k3d, cluster absent, --dry-run: records `k3d cluster create --config -` with the Simple config on stdin', async () => {
    const env = baseEnv({ OPENSHELL_DEV_AGENTS: '2' });
    const { ctx, executor, log } = ctxFor(up, env, [['k3d cluster list -o json', { stdout: '[]' }]], ['--dry-run']);
    assert.equal(await up.main(ctx), 0);
    const create = history.find((c) => c.cmd === 'k3d cluster create --config -');
    assert.ok(create, history.map((c) => c.cmd).join('\n'));
    assert.equal(create.write, true);
    assert.deepEqual(ran(executor.calls, 'k3d cluster create'), [], 'dry run: printed, not run');
    assert.ok(log.lines.some((l) => l.includes('[dry-run] would run: k3d cluster create --config - <<EOF')));
    assert.equal(create.env?.DOCKER_HOST, undefined, 'Docker: the default socket');

    const cfg = parse(create.input!) as Record<string, any>;
    assert.equal(cfg.apiVersion, 'k3d.io/v1alpha5');
    assert.equal(cfg.kind, 'Simple');
    assert.equal(cfg.metadata.name, 'openshell-dev');
    assert.equal(cfg.servers, 1);
    assert.equal(cfg.agents, 2);
    assert.deepEqual(cfg.ports, [{ port: `127.0.0.1:${httpPort}:30051`, nodeFilters: ['loadbalancer'] }]);
    assert.equal(cfg.registries.create.name, 'openshell-registry');
    assert.equal(cfg.registries.create.hostPort, String(registryPort));
    assert.deepEqual(parse(cfg.registries.config), { mirrors: { [`localhost:${registryPort}`]: { endpoint: ['http://openshell-registry:5000'] } } });
    const [, minor] = /^rancher\/k3s:v1\.(\d+)\./.exec(cfg.image)!;
    assert.ok(Number(minor) >= 35, `k3s ${cfg.image} supports image volumes`);
    assert.equal(cfg.options.kubeconfig.updateDefaultKubeconfig, false);
    assert.equal(cfg.options.kubeconfig.switchCurrentContext, false);
    // Nothing was written.
    assert.equal(existsSync(env.OPENSHELL_DEV_KUBECONFIG!), false);
    assert.deepEqual(readdirSync(env.HOME!), []);
  });

  describe('with a running cluster', () => {
    let server: Server;
    let apiUrl = '';
    const configMaps = new Map<string, unknown>();
    const writes: string[] = [];
    before(async () => {
      server = createServer((req, res) => {
        const json = (code: number, body: unknown) => {
          res.writeHead(code, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body));
        };
        const cm = '/api/v1/namespaces/kube-public/configmaps';
        if (req.method === 'GET' && req.url?.startsWith('/api/v1/nodes')) {
          const node = (name: string) => ({ metadata: { name }, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
          return json(200, { apiVersion: 'v1', kind: 'NodeList', metadata: {}, items: [node('k3d-openshell-dev-server-0'), node('k3d-openshell-dev-agent-0')] });
        }
        if (req.method === 'GET' && req.url?.startsWith(`${cm}/`)) {
          const name = req.url.slice(cm.length + 1).split('?')[0]!;
          const found = configMaps.get(name);
          return found ? json(200, found) : json(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
        }
        if (req.method === 'POST' && req.url?.startsWith(cm)) {
          let body = '';
          req.on('data', (d: Buffer) => (body += d));
          req.on('end', () => {
            const obj = JSON.parse(body) as { metadata: { name: string } };
            writes.push(`POST ${obj.metadata.name}`);
            configMaps.set(obj.metadata.name, { ...obj, metadata: { ...obj.metadata, resourceVersion: '1' } });
            json(201, configMaps.get(obj.metadata.name));
          });
          return;
        }
        writes.push(`${req.method} ${req.url}`);
        json(500, { kind: 'Status', code: 500, message: `unexpected ${req.method} ${req.url}` });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => server.close());
    // The kit writes with `kubectl apply --server-side -f -`: stored where the fake API server reads.
    const serverSideApply: Rules[number] = [/ apply --server-side /, (ran) => {
      const obj = parse(ran.input) as { metadata: { name: string } };
      writes.push(`APPLY ${obj.metadata.name}`);
      configMaps.set(obj.metadata.name, { ...obj, metadata: { ...obj.metadata, resourceVersion: '1' } });
      return {};
    }];

    test('does not create; writes its own kubeconfig, waits for nodes, advertises the registry; a re-run changes nothing', async () => {
      const env = baseEnv({ OPENSHELL_DEV_TIMEOUT: '5' });
      const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: k3d-openshell-dev
  cluster: {server: "${apiUrl}", insecure-skip-tls-verify: true}
users:
- name: admin@k3d-openshell-dev
  user: {token: dev}
contexts:
- name: k3d-openshell-dev
  context: {cluster: k3d-openshell-dev, user: admin@k3d-openshell-dev}
current-context: k3d-openshell-dev
`;
      const rules: Rules = [
        ['k3d cluster list -o json', { stdout: JSON.stringify([{ name: 'openshell-dev', serversCount: 1, serversRunning: 1, agentsCount: 1, agentsRunning: 1 }]) }],
        ['k3d kubeconfig get openshell-dev', { stdout: kubeconfig }],
        serverSideApply,
      ];
      const first = ctxFor(up, env, rules);
      assert.equal(await up.main(first.ctx), 0, first.log.lines.join('\n'));
      assert.deepEqual(ran(first.executor.calls, 'k3d cluster create'), []);
      assert.deepEqual(ran(first.executor.calls, 'k3d cluster start'), []);
      assert.equal(readFileSync(env.OPENSHELL_DEV_KUBECONFIG!, 'utf8'), kubeconfig);
      assert.deepEqual(writes, ['APPLY local-registry-hosting']);
      const hosting = parse((configMaps.get('local-registry-hosting') as { data: Record<string, string> }).data['localRegistryHosting.v1']!) as Record<string, string>;
      assert.equal(hosting.host, `localhost:${registryPort}`);
      assert.equal(hosting.hostFromClusterNetwork, 'openshell-registry:5000');
      assert.ok(!existsSync(join(env.HOME!, '.kube')), 'merging is opt-in: ~/.kube untouched');

      const second = ctxFor(up, env, rules);
      assert.equal(await up.main(second.ctx), 0);
      assert.deepEqual(writes, ['APPLY local-registry-hosting'], 'no second write');
      assert.ok(!second.log.lines.some((l) => /kubeconfig (created|updated)/.test(l)));
      assert.deepEqual(history.filter((c) => c.write).map((c) => c.cmd), []);
    });

    test('existing provider: the cluster\'s registry configuration is left alone (no local-registry-hosting write)', async () => {
      writes.length = 0;
      configMaps.clear();
      const env = baseEnv({ OPENSHELL_DEV_TIMEOUT: '5', OPENSHELL_DEV_CLUSTER_PROVIDER: 'existing' });
      const kubeconfig = `apiVersion: v1\nkind: Config\nclusters:\n- name: shared\n  cluster: {server: "${apiUrl}", insecure-skip-tls-verify: true}\nusers:\n- name: me\n  user: {token: dev}\ncontexts:\n- name: shared\n  context: {cluster: shared, user: me}\ncurrent-context: shared\n`;
      const { ctx, log } = ctxFor(up, env, [
        ['kubectl version -o json', { stdout: '{"serverVersion":{"gitVersion":"v1.36.3"}}' }],
        ['kubectl config view --minify --flatten --raw', { stdout: kubeconfig }],
        serverSideApply,
      ]);
      assert.equal(await up.main(ctx), 0, log.lines.join('\n'));
      assert.deepEqual(writes, [], 'nothing written to a cluster the kit did not configure');
      assert.equal(configMaps.size, 0);
    });
  });
});

test('down on an absent cluster is a no-op that changes no kubeconfig', async () => {
  const env = baseEnv({ OPENSHELL_DEV_MERGE_KUBECONFIG: 'true' });
  mkdirSync(join(env.HOME!, '.kube'));
  const userConfig = readFileSync(join(KIT_ROOT, 'test', 'fixtures', 'kubeconfig', 'user.yaml'), 'utf8');
  writeFileSync(join(env.HOME!, '.kube', 'config'), userConfig);
  const { ctx, executor, log } = ctxFor(down, env, [['k3d cluster list -o json', { stdout: '[]' }]]);
  assert.equal(await down.main(ctx), 0);
  assert.deepEqual(executor.calls.filter((c) => / delete /.test(c)), []);
  assert.deepEqual(history.filter((c) => c.write), []);
  assert.equal(readFileSync(join(env.HOME!, '.kube', 'config'), 'utf8'), userConfig);
  assert.deepEqual(readdirSync(join(env.HOME!, '.kube')), ['config'], 'no backup written');
  assert.ok(log.lines.some((l) => l.includes('no cluster openshell-dev: nothing to delete')));
});

test('down sweeps a registry left from an earlier cluster', async () => {
  const env = baseEnv();
  const { ctx, executor } = ctxFor(down, env, [
    ['k3d cluster list -o json', { stdout: '[]' }],
    ['k3d registry list -o json', { stdout: JSON.stringify([{ name: 'openshell-registry' }, { name: 'someone-elses' }]) }],
  ]);
  assert.equal(await down.main(ctx), 0);
  assert.deepEqual(executor.calls.filter((c) => / delete /.test(c)), ['k3d registry delete openshell-registry']);
});

test('watch runs skaffold dev against the dev kubeconfig, namespace and registry, passing the rest to skaffold', async () => {
  const env = baseEnv({ OPENSHELL_DEV_NAMESPACE: 'gw', OPENSHELL_DEV_KUBECONFIG: '/tmp/dev.yaml' });
  const { ctx } = ctxFor(watch, env, [], ['--dry-run', '--tail=false']);
  assert.equal(await watch.main(ctx), 0);
  const skaffold = history.find((c) => c.cmd.startsWith('skaffold '));
  assert.equal(
    skaffold?.cmd,
    `skaffold dev --filename ${SKAFFOLD_FILE} --kubeconfig /tmp/dev.yaml --namespace gw --default-repo localhost:${registryPort} --cleanup=true --tail=false`,
  );
  assert.equal(skaffold?.write, true);
  assert.equal(skaffold?.cwd, KIT_ROOT);
  assert.equal(SKAFFOLD_FILE, join(KIT_ROOT, 'skaffold.yaml'));
});

test('gateway: the config file upstream\'s dev gateway writes (the driver reads its settings from the file, not the environment)', () => {
  const toml = devGatewayToml({
    certsDir: '/state/tls',
    gatewayId: 'openshell-dev-dev',
    sandboxNamespace: 'sandboxes',
    defaultImage: 'example/sandbox:1',
    grpcEndpoint: 'http://host.k3d.internal:17670',
    supervisorImage: 'openshell-registry:5000/openshell-supervisor:dev',
    sideloadMethod: 'init-container',
  });
  const doc = parseToml(toml);
  assert.deepEqual(doc, {
    openshell: {
      version: 1,
      gateway: {
        compute_drivers: ['kubernetes'],
        default_image: 'example/sandbox:1',
        disable_tls: true,
        auth: { allow_unauthenticated_users: true },
        gateway_jwt: { signing_key_path: '/state/tls/jwt/signing.pem', public_key_path: '/state/tls/jwt/public.pem', kid_path: '/state/tls/jwt/kid', gateway_id: 'openshell-dev-dev', ttl_secs: 3600 },
      },
      drivers: {
        kubernetes: {
          namespace: 'sandboxes',
          gateway_id: 'openshell-dev-dev',
          grpc_endpoint: 'http://host.k3d.internal:17670',
          supervisor_image: 'openshell-registry:5000/openshell-supervisor:dev',
          supervisor_image_pull_policy: 'Always',
          supervisor_sideload_method: 'init-container',
        },
      },
    },
  });
});

describe('sync', () => {
  const docker: Engine = { name: 'docker', cli: 'docker', reason: 'test', dockerHost: undefined, dockerSock: undefined };
  const podman: Engine = { name: 'podman', cli: 'podman', reason: 'test', dockerHost: 'unix:///x/podman/podman.sock', dockerSock: '/x/podman/podman.sock' };
  const podmanViaDocker: Engine = { ...podman, cli: 'docker' };

  test('build and push: the commands sync runs, for Docker, Podman and Podman through the docker CLI', async () => {
    const { ctx } = ctxFor(sync, baseEnv({ OPENSHELL_DEV_GATEWAY_BASE_IMAGE: 'debian:bookworm-slim' }), []);
    const specs = imageSpecs(ctx);
    assert.equal(specs.supervisor.repo, 'openshell-supervisor');
    assert.equal(specs.gateway.binary, 'openshell-gateway');
    assert.equal(specs.supervisor.binary, 'openshell-sandbox');
    const bin = join(work, 'openshell-gateway');
    writeFileSync(bin, '\x7fELF gateway');
    stageBinary(bin, specs.gateway.binary);
    writeFileSync(bin, '\x7fELF supervisor');
    stageBinary(bin, specs.supervisor.binary);
    const gw = await buildAndPush(ctx, docker, 'localhost:5000', specs.gateway, true);
    const refs = ['localhost:5000/openshell-gateway:dev', `localhost:5000/openshell-gateway:${gw.contentTag}`];
    assert.deepEqual(history.map((h) => h.cmd), [
      `docker build -f ${join(KIT_ROOT, 'deploy', 'docker', 'Dockerfile.gateway')} -t ${refs[0]} -t ${refs[1]} --build-arg BASE_IMAGE=debian:bookworm-slim ${KIT_ROOT}`,
      `docker push ${refs[0]}`,
      `docker push ${refs[1]}`,
    ]);
    assert.ok(history.every((h) => h.write), 'builds and pushes go through $w: --dry-run prints them');
    for (const [engine, push] of [[podman, 'podman push --tls-verify=false'], [podmanViaDocker, 'docker push']] as const) {
      history.length = 0;
      const sv = await buildAndPush(ctx, engine, 'localhost:5000', specs.supervisor, true);
      const ref = 'localhost:5000/openshell-supervisor:dev';
      assert.deepEqual(history.map((h) => h.cmd), [
        `${engine.cli} build -f ${join(KIT_ROOT, 'deploy', 'docker', 'Dockerfile.supervisor')} -t ${ref} -t localhost:5000/openshell-supervisor:${sv.contentTag} ${KIT_ROOT}`,
        `${push} ${ref}`,
        `${push} localhost:5000/openshell-supervisor:${sv.contentTag}`,
      ]);
    }
  });

  test('contentTag is stable and changes with each input', () => {
    const bin = Buffer.from('\x7fELF binary');
    const base = contentTag('FROM scratch\n', bin, { A: '1', B: '2' });
    assert.match(base, /^src-[0-9a-f]{16}$/);
    assert.equal(contentTag('FROM scratch\n', Buffer.from('\x7fELF binary'), { B: '2', A: '1' }), base, 'stable; build-arg order does not matter');
    const variants = [
      contentTag('FROM scratch \n', bin, { A: '1', B: '2' }),
      contentTag('FROM scratch\n', Buffer.from('\x7fELF binarY'), { A: '1', B: '2' }),
      contentTag('FROM scratch\n', bin, { A: '1', B: '3' }),
      contentTag('FROM scratch\n', bin, { A: '1' }),
      contentTag('FROM scratch\n', bin, { A: '1', B: '2', C: '' }),
    ];
    for (const v of variants) assert.notEqual(v, base);
    assert.equal(new Set(variants).size, variants.length);
  });
});

test('bootstrap passes values.dev.yaml and only the settings that differ', () => {
  assert.deepEqual(helmValuesArgs(ctxFor(bootstrap, baseEnv(), []).ctx), ['-f', DEV_VALUES]);
  assert.deepEqual(helmValuesArgs(ctxFor(bootstrap, baseEnv({ OPENSHELL_SUPERVISOR_SIDELOAD_METHOD: 'init-container', OPENSHELL_SANDBOX_NAMESPACE: 'sandboxes' }), []).ctx), [
    '-f', DEV_VALUES,
    '--set', 'supervisor.sideloadMethod=init-container',
    '--set', 'sandbox.namespace=sandboxes',
  ]);
  // Pods pull the dev images from the registry in use, not the default name in values.dev.yaml.
  assert.deepEqual(helmValuesArgs(ctxFor(bootstrap, baseEnv({ OPENSHELL_DEV_REGISTRY_NAME: 'team-a-registry' }), []).ctx), [
    '-f', DEV_VALUES,
    '--set', 'image.repository=team-a-registry:5000/openshell-gateway',
    '--set', 'supervisor.image.repository=team-a-registry:5000/openshell-supervisor',
  ]);
  assert.equal(DEV_VALUES, join(KIT_ROOT, 'deploy', 'helm', 'openshell', 'values.dev.yaml'));
});

test('k3dConfig applies non-default settings', () => {
  const env = baseEnv({
    OPENSHELL_DEV_CLUSTER: 'team-a',
    OPENSHELL_DEV_AGENTS: '0',
    OPENSHELL_DEV_HTTP_PORT: '18080',
    OPENSHELL_DEV_REGISTRY_PORT: '15000',
    OPENSHELL_DEV_REGISTRY_NAME: 'team-a-registry',
    OPENSHELL_DEV_K3S_IMAGE: 'rancher/k3s:v1.36.0-k3s1',
    OPENSHELL_DEV_TIMEOUT: '90',
  });
  const s = loadSettings({ env, root: work, home: env.HOME! });
  const cfg = k3dConfig(s) as Record<string, any>;
  assert.equal(cfg.metadata.name, 'team-a');
  assert.equal(cfg.agents, 0);
  assert.equal(cfg.image, 'rancher/k3s:v1.36.0-k3s1');
  assert.deepEqual(cfg.ports, [{ port: '127.0.0.1:18080:30051', nodeFilters: ['loadbalancer'] }]);
  assert.deepEqual(cfg.registries.create, { name: 'team-a-registry', host: '127.0.0.1', hostPort: '15000' });
  assert.deepEqual(parse(cfg.registries.config), { mirrors: { 'localhost:15000': { endpoint: ['http://team-a-registry:5000'] } } });
  assert.equal(cfg.options.k3d.timeout, '90s');
  assert.equal(cfg.options.k3d.wait, true);
  // A registry kept from an earlier cluster is attached, not created again.
  const reuse = k3dConfig(s, { reuseRegistry: true }) as Record<string, any>;
  assert.equal(reuse.registries.create, undefined);
  assert.deepEqual(reuse.registries.use, ['team-a-registry:5000']);
  // The defaults are the seed's.
  const defaults = k3dConfig(loadSettings({ env: { HOME: env.HOME }, root: work, home: env.HOME! })) as Record<string, any>;
  assert.equal(defaults.metadata.name, 'openshell-dev');
  assert.deepEqual(defaults.ports, [{ port: '127.0.0.1:8080:30051', nodeFilters: ['loadbalancer'] }]);
  assert.equal(defaults.registries.create.hostPort, '5000');
  assert.equal(defaults.agents, 1);
  assert.equal(defaults.registries.create.image, undefined);
  // OPENSHELL_DEV_REGISTRY_IMAGE picks the registry image k3d runs (a mirror, an offline copy).
  const img = k3dConfig(loadSettings({ env: { ...env, OPENSHELL_DEV_REGISTRY_IMAGE: 'mirror.example/library/registry:2' }, root: work, home: env.HOME! })) as Record<string, any>;
  assert.equal(img.registries.create.image, 'mirror.example/library/registry:2');
  assert.throws(() => loadSettings({ env: { ...env, OPENSHELL_DEV_REGISTRY_IMAGE: 'no tag' }, root: work, home: env.HOME! }), /OPENSHELL_DEV_REGISTRY_IMAGE="no tag" is not valid/);
});


test('up --dry-run prints the k3d config where k3d is not installed yet', async () => {
  const env = baseEnv();
  const { ctx, executor, log } = ctxFor(up, env, [[/^k3d /, { code: 127, stderr: 'k3d: command not found' }]], ['--dry-run']);
  assert.equal(await up.main(ctx), 0, log.lines.join('\n'));
  assert.ok(log.lines.some((l) => l.includes('[dry-run] would run: k3d cluster create --config - <<EOF') && l.includes('kind: Simple')), log.lines.join('\n'));
  assert.deepEqual(ran(executor.calls, 'k3d cluster create'), []);
});

describe('flags', () => {
  test('-h is --help for every task', () => {
    for (const def of [up, down, bootstrap, sync, watch, gateway]) assert.equal(parseFlags(def, ['-h']).help, true, def.name);
  });
  test('watch passes every argument that is not its own to skaffold dev', () => {
    assert.deepEqual(parseFlags(watch, ['-p', 'ha']).args, ['-p', 'ha']);
    const f = parseFlags(watch, ['--dry-run', '-p', 'ha', '--verbose']);
    assert.equal(f.dryRun, true);
    assert.equal(f.verbose, true);
    assert.deepEqual(f.args, ['-p', 'ha']);
    // `mise run k8s:dev:watch -- -p ha --dry-run`: its own flags are its own wherever they stand.
    const late = parseFlags(watch, ['-p', 'ha', '--dry-run']);
    assert.equal(late.dryRun, true);
    assert.deepEqual(late.args, ['-p', 'ha']);
    const after = parseFlags(watch, ['--', '--dry-run']);
    assert.equal(after.dryRun, false);
    assert.deepEqual(after.args, ['--dry-run'], 'after --, even its own flags pass through');
  });
  test('gateway passes every argument that is not its own to the gateway', () => {
    const f = parseFlags(gateway, ['--port', '9090', '--verbose', '--', '--dry-run', '-x']);
    assert.equal(f.verbose, true);
    assert.equal(f.dryRun, false);
    assert.deepEqual(f.args, ['--port', '9090', '--dry-run', '-x']);
  });
  test('a task without passthrough refuses an unknown flag with exit 2 and its usage', () => {
    assert.throws(() => parseFlags(up, ['-p', 'ha']), (err: UserError) => err.exitCode === 2 && /Unknown option '-p'/.test(err.message) && /usage: mise run k8s:dev:up/.test(err.message));
  });
  test('watch --dry-run prints the skaffold command with the passed arguments', async () => {
    const { ctx, executor, log } = ctxFor(watch, baseEnv(), [], ['--dry-run', '-p', 'ha']);
    assert.equal(await watch.main(ctx), 0);
    assert.deepEqual(ran(executor.calls, 'skaffold'), []);
    assert.ok(log.lines.some((l) => /\[dry-run\] would run: skaffold dev .* --cleanup=true -p ha$/.test(l)), log.lines.join('\n'));
  });
});

test('k3dConfig keeps what cluster.yaml says in registries.config; only the localhost mirror follows the settings', () => {
  const s = loadSettings({ env: { HOME: work, OPENSHELL_DEV_REGISTRY_PORT: '5111' }, root: work, home: work });
  const base = readFileSync(join(KIT_ROOT, 'deploy', 'k3d', 'cluster.yaml'), 'utf8').replace(
    '    mirrors:\n',
    '    mirrors:\n      "docker.io":\n        endpoint:\n          - https://mirror.example.com\n',
  );
  const cfg = k3dConfig(s, {}, base) as { registries: { config: string } };
  assert.deepEqual(parse(cfg.registries.config), {
    mirrors: {
      'docker.io': { endpoint: ['https://mirror.example.com'] },
      'localhost:5111': { endpoint: ['http://openshell-registry:5000'] },
    },
  });
});
