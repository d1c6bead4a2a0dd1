// Horizontal scale on the test bed's real node (kubelet, containerd, CNI,
// kube-proxy): the chart installs two real gateway replicas (a Deployment) on a
// real PostgreSQL (Debian's, on the node's bridge address), one of them takes
// the reconciler lease; then a `helm upgrade` rolls both pods while the test
// keeps asking through the Service (kube-proxy) on fresh connections: /readyz
// on the health port and the gRPC Health call on the API port. Every answer
// must be a success; the lease moves to a new pod. A client holding one HTTP/2
// connection across the rollout is measured (the gateway has no
// max-connection-age: such a connection lives until its pod goes away).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, constants } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HostPostgres, missingPostgres } from '../bed/host-postgres.ts';
import { missingLoop, OpenShellLoop } from '../bed/openshell-loop.ts';
import { chartDir, devValues, parseObjects } from '../chart/support/helm.ts';
import { describeRun, freePort, rmTree, tempDir, waitUntil } from '../support/e2e.ts';

const skip = missingLoop() || missingPostgres();
const NS = 'openshell';
const RELEASE = 'openshell';

/** One probe's verdict. */
interface Sample {
  at: number;
  ok: boolean;
  detail: string;
}

/** GET on a new TCP connection (no keep-alive: each request goes through kube-proxy's choice anew). */
function getFresh(url: string, timeoutMs = 2000): Promise<Sample> {
  const at = performance.now();
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ at, ok: res.statusCode === 200, detail: `HTTP ${res.statusCode}` }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ at, ok: false, detail: err.message }));
    req.end();
  });
}

/** The gateway's gRPC Health call (an empty message) on a session; ok when grpc-status is 0. */
function grpcHealth(session: ReturnType<typeof connect>, timeoutMs = 2000): Promise<Sample> {
  const at = performance.now();
  return new Promise((resolve) => {
    let status = '';
    let grpcStatus: string | undefined;
    const done = (ok: boolean, detail: string) => resolve({ at, ok, detail });
    try {
      const stream = session.request({
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: '/openshell.v1.OpenShell/Health',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      stream.setTimeout(timeoutMs, () => stream.close(constants.NGHTTP2_CANCEL));
      stream.on('response', (h) => {
        status = String(h[constants.HTTP2_HEADER_STATUS]);
        grpcStatus ??= h['grpc-status'] as string | undefined;
      });
      stream.on('trailers', (t) => {
        grpcStatus = t['grpc-status'] as string | undefined;
      });
      stream.on('data', () => {});
      stream.on('close', () => done(status === '200' && grpcStatus === '0', `HTTP ${status || '-'} grpc-status ${grpcStatus ?? '-'} (rst ${stream.rstCode})`));
      stream.on('error', (err) => done(false, err.message));
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
    } catch (err) {
      done(false, (err as Error).message);
    }
  });
}

/** gRPC Health on a new HTTP/2 connection. */
async function grpcHealthFresh(url: string): Promise<Sample> {
  const session = connect(url);
  session.on('error', () => {});
  try {
    return await grpcHealth(session);
  } finally {
    session.close();
  }
}

/** Run `probe` every `intervalMs` until `stop()` says so. */
async function probeLoop(probe: () => Promise<Sample>, intervalMs: number, stop: () => boolean): Promise<Sample[]> {
  const out: Sample[] = [];
  while (!stop()) {
    const t0 = performance.now();
    out.push(await probe());
    await sleep(Math.max(0, intervalMs - (performance.now() - t0)));
  }
  return out;
}

function summary(name: string, samples: Sample[]): string {
  const failed = samples.filter((s) => !s.ok);
  return `${name}: ${samples.length} answers, ${failed.length} failed${failed.length ? ` (${[...new Set(failed.map((f) => f.detail))].join('; ')})` : ''}`;
}

describe('horizontal scale on a real node: two gateway replicas on PostgreSQL, a rolling upgrade that never stops serving', { skip }, () => {
  let home = '';
  let loop: OpenShellLoop;
  let pg: HostPostgres;
  const kc = () => loop.node.kubeconfig;

  const helm = (args: string[], timeoutMs = 300_000): Promise<{ code: number | null; out: string }> =>
    new Promise((resolve) => {
      const child = spawn('helm', [...args, '--kubeconfig', kc()], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
    });

  const gatewayPods = (): { name: string; ready: boolean; deleting: boolean }[] => {
    const r = loop.kubectl(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/component=gateway', '-o', 'json']);
    const items = (JSON.parse(r.stdout || '{"items":[]}') as { items: { metadata: { name: string; deletionTimestamp?: string }; status: { conditions?: { type: string; status: string }[] } }[] }).items;
    return items.map((p) => ({ name: p.metadata.name, ready: p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false, deleting: !!p.metadata.deletionTimestamp }));
  };
  const logsOf = (pod: string) => loop.kubectl(['-n', NS, 'logs', pod]).stdout.replace(/\x1b\[[0-9;]*m/g, '');

  // The operator's values: PostgreSQL, two replicas, the chart's rollout, PDB and preStop defaults
  // (values.dev.yaml only for the local images, plaintext and no user auth; it turns those off).
  const values = (uriSecret: string) => [
    '-f', devValues,
    '--set', 'replicaCount=2',
    '--set', 'database.external.enabled=true',
    '--set', `database.external.secretName=${uriSecret}`,
    '--set', 'podDisruptionBudget.enabled=true',
    '--set', 'gateway.preStopSleepSeconds=5',
    '--set', 'gateway.terminationGracePeriodSeconds=30',
    '--set', 'service.type=ClusterIP',
  ];

  before(async () => {
    home = tempDir('realnode-rollout');
    loop = new OpenShellLoop(home);
    await loop.start();
    const s = loop.node.state!;
    pg = new HostPostgres(s.nodeIp, await freePort(), s.podCidr);
    await pg.start();
  });

  after(async () => {
    await pg?.stop();
    await loop?.stop();
    rmTree(home);
  });

  let svcIp = '';

  test('the chart installs two real gateway replicas as a Deployment on PostgreSQL; one holds the reconciler lease', { timeout: 600_000 }, async () => {
    const sync = await loop.task('sync', ['--only', 'gateway', '--gateway-bin', loop.gatewayBin]);
    assert.equal(sync.code, 0, describeRun(sync));
    // The agent-sandbox API the gateway needs at start (its CRDs; no sandbox is made here).
    const crds = parseObjects(readFileSync(process.env.OPENSHELL_TEST_AGENT_SANDBOX_MANIFEST as string, 'utf8')).filter((o) => o.kind === 'CustomResourceDefinition');
    assert.ok(crds.length > 0, 'the manifest has the agent-sandbox CRDs');
    const apply = loop.kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: crds }));
    assert.equal(apply.status, 0, apply.stderr);
    assert.equal(loop.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']).status, 0);

    assert.equal(loop.kubectl(['create', 'namespace', NS]).status, 0);
    const uri = pg.createDb('openshell');
    assert.equal(loop.kubectl(['-n', NS, 'create', 'secret', 'generic', 'openshell-postgres', `--from-literal=uri=${uri}`]).status, 0);
    const t0 = performance.now();
    const r = await helm(['upgrade', '--install', RELEASE, chartDir, '-n', NS, ...values('openshell-postgres'), '--wait', '--timeout', '5m']);
    const pods = gatewayPods();
    assert.equal(r.code, 0, `${r.out}\n${pods.map((p) => `${p.name}:\n${logsOf(p.name).slice(-2000)}`).join('\n')}`);
    console.log(`# helm install (2 replicas on PostgreSQL) → Ready: ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    const kind = loop.kubectl(['-n', NS, 'get', 'deployment', 'openshell-gateway', '-o', 'jsonpath={.spec.replicas} {.status.readyReplicas} {.spec.strategy.rollingUpdate.maxUnavailable} {.spec.strategy.rollingUpdate.maxSurge}']).stdout;
    assert.equal(kind, '2 2 0 1');
    assert.equal(pods.filter((p) => p.ready).length, 2, JSON.stringify(pods));
    await waitUntil('a replica to hold the reconciler lease', 60_000, () => pods.some((p) => /acquired reconciler lease/.test(logsOf(p.name))));
    const holders = pods.filter((p) => /acquired reconciler lease/.test(logsOf(p.name)));
    assert.equal(holders.length, 1, `exactly one lease holder: ${holders.map((p) => p.name).join(', ')}`);
    // Each names itself by its pod name (OPENSHELL_REPLICA_ID).
    assert.match(logsOf(holders[0]!.name), new RegExp(`acquired reconciler lease replica=${holders[0]!.name}`));
    svcIp = loop.kubectl(['-n', NS, 'get', 'service', 'openshell-gateway', '-o', 'jsonpath={.spec.clusterIP}']).stdout;
    assert.match(svcIp, /^\d+\.\d+\.\d+\.\d+$/);
    assert.equal((await getFresh(`http://${svcIp}:8081/readyz`)).ok, true, 'readyz through the Service');
    const h = await grpcHealthFresh(`http://${svcIp}:8080`);
    assert.equal(h.ok, true, `gRPC Health through the Service: ${h.detail}`);
  });

  test('a rolling upgrade replaces both pods while /readyz and gRPC Health through the Service answer every time; the lease moves', { timeout: 600_000 }, async () => {
    assert.ok(svcIp, 'installed by the test above');
    const before = gatewayPods().map((p) => p.name);
    let stopping = false;
    const readyz = probeLoop(() => getFresh(`http://${svcIp}:8081/readyz`), 100, () => stopping);
    const health = probeLoop(() => grpcHealthFresh(`http://${svcIp}:8080`), 200, () => stopping);
    // A client that keeps one HTTP/2 connection (like a supervisor or a CLI watch).
    const held = connect(`http://${svcIp}:8080`);
    held.on('error', () => {});
    let heldBroke: Sample | undefined;
    const heldLoop = probeLoop(async () => {
      const s = await grpcHealth(held);
      if (!s.ok) heldBroke ??= s;
      return s;
    }, 500, () => stopping || heldBroke !== undefined);
    const t0 = performance.now() + 2000;
    let helmSeconds = 0;
    let rolloutSeconds = 0;
    try {
      await sleep(2000); // a baseline before the rollout starts
      const up = await helm(['upgrade', RELEASE, chartDir, '-n', NS, '--reuse-values', '--set-string', `gateway.podAnnotations.rollout=${Date.now()}`, '--wait', '--timeout', '5m']);
      helmSeconds = (performance.now() - t0) / 1000;
      assert.equal(up.code, 0, up.out);
      // Until the old pods are gone (preStop sleep, then the gateway's shutdown), and a little after.
      await waitUntil('the old pods to be gone', 120_000, () => !gatewayPods().some((p) => before.includes(p.name)));
      rolloutSeconds = (performance.now() - t0) / 1000;
      await sleep(2000);
    } finally {
      stopping = true;
    }
    const [r, g, kept] = await Promise.all([readyz, health, heldLoop]);
    held.close();

    const after = gatewayPods();
    console.log(`# rolling upgrade: helm --wait ${helmSeconds.toFixed(1)}s, old pods gone after ${rolloutSeconds.toFixed(1)}s`);
    console.log(`# ${summary('/readyz via the Service (new connection each, every 100 ms)', r)}`);
    console.log(`# ${summary('gRPC Health via the Service (new connection each, every 200 ms)', g)}`);
    const brokeAt = heldBroke ? `${((heldBroke.at - t0) / 1000).toFixed(1)}s after the upgrade began (${heldBroke.detail})` : 'never';
    console.log(`# one held HTTP/2 connection: ${kept.filter((s) => s.ok).length} answers, broke ${brokeAt}`);

    assert.equal(after.length, 2, JSON.stringify(after));
    assert.ok(after.every((p) => p.ready && !before.includes(p.name)), `both pods replaced and ready: ${JSON.stringify({ before, after })}`);
    assert.ok(r.length > 50 && g.length > 25, `enough samples: ${r.length} /readyz, ${g.length} Health`);
    assert.deepEqual(r.filter((s) => !s.ok), [], summary('/readyz', r));
    assert.deepEqual(g.filter((s) => !s.ok), [], summary('gRPC Health', g));
    // Leader duties move: a new pod takes the reconciler lease.
    await waitUntil('a new pod to take the reconciler lease', 90_000, () => after.some((p) => /acquired reconciler lease/.test(logsOf(p.name))));
    // A client whose connection ended reconnects through the Service to a ready replica.
    const again = await grpcHealthFresh(`http://${svcIp}:8080`);
    assert.equal(again.ok, true, again.detail);
  });
});
