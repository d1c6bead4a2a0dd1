// k3d: k3s in containers on Docker or Podman, with a bundled registry. The
// cluster comes from the declarative deploy/k3d/cluster.yaml, filled in from
// the settings and piped to `k3d cluster create --config -`.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { useEngine } from '../engine.ts';
import { GATEWAY_NODE_PORT, KIT_ROOT, type Settings } from '../settings.ts';
import type { TaskContext } from '../task.ts';
import { UserError } from '../task.ts';
import { requireTools } from '../tools.ts';
import { portProblem } from '../ports.ts';
import type { ClusterProvider, ClusterState, RegistryEndpoints } from './types.ts';

export const K3D_CONFIG = join(KIT_ROOT, 'deploy', 'k3d', 'cluster.yaml');
const REGISTRY_CONTAINER_PORT = 5000;

interface K3dCluster {
  name: string;
  serversCount?: number;
  serversRunning?: number;
  agentsCount?: number;
  agentsRunning?: number;
}

interface K3dRegistry {
  name: string;
  State?: { Running?: boolean };
}

/** The Simple config for these settings: the declarative file with the settings applied. */
export function k3dConfig(s: Settings, opts: { reuseRegistry?: boolean } = {}, base = readFileSync(K3D_CONFIG, 'utf8')): Record<string, unknown> {
  const cfg = parse(base) as Record<string, any>;
  cfg.metadata = { ...cfg.metadata, name: s.cluster };
  cfg.agents = s.agents;
  cfg.image = s.k3sImage;
  const ports = (cfg.ports ?? []) as Array<{ port: string; nodeFilters: string[] }>;
  const gateway = ports.find((p) => p.port.endsWith(`:${GATEWAY_NODE_PORT}`));
  const bind = gateway?.port.match(/^(\d+\.\d+\.\d+\.\d+):/)?.[1] ?? '127.0.0.1';
  if (gateway) gateway.port = `${bind}:${s.httpPort}:${GATEWAY_NODE_PORT}`;
  else ports.push({ port: `${bind}:${s.httpPort}:${GATEWAY_NODE_PORT}`, nodeFilters: ['loadbalancer'] });
  cfg.ports = ports;
  cfg.registries = { ...cfg.registries };
  if (opts.reuseRegistry) {
    // A registry left from an earlier cluster keeps its images: attach it instead of creating one.
    delete cfg.registries.create;
    cfg.registries.use = [`${s.registryName}:${REGISTRY_CONTAINER_PORT}`];
  } else {
    cfg.registries.create = { ...cfg.registries.create, name: s.registryName, hostPort: String(s.registryPort) };
    if (s.registryImage) cfg.registries.create.image = s.registryImage;
  }
  cfg.registries.config = stringify({ mirrors: { [`localhost:${s.registryPort}`]: { endpoint: [`http://${s.registryName}:${REGISTRY_CONTAINER_PORT}`] } } });
  cfg.options = { ...cfg.options, k3d: { ...cfg.options?.k3d, timeout: `${s.timeoutSec}s` } };
  return cfg;
}

async function listJson<T>(ctx: TaskContext, argv: string[]): Promise<T[]> {
  const r = await ctx.run.run({ argv, check: false, timeoutMs: 30_000 });
  if (r.code !== 0) {
    if (r.code === 127) throw new UserError('k3d not found on PATH: run `mise install` (tools are pinned in mise.toml)');
    throw new UserError(`\`${argv.join(' ')}\` failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
  }
  const text = r.stdout.trim();
  return text === '' ? [] : (JSON.parse(text) as T[]);
}

async function findRegistry(ctx: TaskContext): Promise<K3dRegistry | undefined> {
  const regs = await listJson<K3dRegistry>(ctx, ['k3d', 'registry', 'list', '-o', 'json']);
  return regs.find((r) => r.name === ctx.settings.registryName);
}

/**
 * What k3d leaves behind when a create fails half-way and its own rollback
 * fails too (seen when an image cannot be pulled): the cluster network and the
 * images volume. Only objects with k3d's names and labels for this cluster.
 */
export async function sweepLeftovers(ctx: TaskContext, cli: string): Promise<string[]> {
  const name = ctx.settings.cluster;
  const [networks, volumes] = await Promise.all([
    ctx.run.run({ argv: [cli, 'network', 'ls', '--filter', 'label=app=k3d', '--format', '{{.Name}}'], check: false, timeoutMs: 30_000 }),
    ctx.run.run({ argv: [cli, 'volume', 'ls', '--filter', `label=k3d.cluster=${name}`, '--format', '{{.Name}}'], check: false, timeoutMs: 30_000 }),
  ]);
  const network = networks.stdout.split('\n').filter((n) => n.trim() === `k3d-${name}`);
  const vols = volumes.stdout.split('\n').map((v) => v.trim()).filter((v) => v !== '');
  for (const n of network) await ctx.run.run({ argv: [cli, 'network', 'rm', n], mutates: true, check: false, timeoutMs: 30_000 });
  if (vols.length > 0) await ctx.run.run({ argv: [cli, 'volume', 'rm', ...vols], mutates: true, check: false, timeoutMs: 30_000 });
  return [...network.map((n) => `network ${n}`), ...vols.map((v) => `volume ${v}`)];
}

export const k3dProvider: ClusterProvider = {
  name: 'k3d',
  tools: ['k3d', 'kubectl'],
  needsEngine: true,
  runsContainers: true,

  async state(ctx): Promise<ClusterState> {
    await useEngine(ctx);
    const clusters = await listJson<K3dCluster>(ctx, ['k3d', 'cluster', 'list', '-o', 'json']);
    const c = clusters.find((x) => x.name === ctx.settings.cluster);
    if (!c) return { exists: false, running: false, detail: 'k3d: no cluster' };
    const running = (c.serversRunning ?? 0) > 0;
    return {
      exists: true,
      running,
      detail: `k3d: ${c.serversRunning ?? 0}/${c.serversCount ?? 0} servers, ${c.agentsRunning ?? 0}/${c.agentsCount ?? 0} agents running`,
    };
  },

  async create(ctx) {
    await requireTools(ctx, 'k3d');
    const s = ctx.settings;
    const registry = await findRegistry(ctx);
    const busy = [await portProblem('OPENSHELL_DEV_HTTP_PORT', s.httpPort)];
    if (!registry) busy.push(await portProblem('OPENSHELL_DEV_REGISTRY_PORT', s.registryPort));
    const problems = busy.filter((p): p is string => p !== null);
    if (problems.length > 0) throw new UserError(problems.join('\n'), 2);
    const config = stringify(k3dConfig(s, { reuseRegistry: registry !== undefined }));
    try {
      await ctx.log.progress(
        `creating k3d cluster ${s.cluster}`,
        ctx.run.run({ argv: ['k3d', 'cluster', 'create', '--config', '-'], input: config, mode: 'stream', mutates: true, timeoutMs: (s.timeoutSec + 120) * 1000 }),
      );
    } catch (err) {
      // Leave nothing half-made behind, so the next `up` starts clean.
      const engine = await useEngine(ctx);
      const swept = await sweepLeftovers(ctx, engine.cli);
      const pull = /failed to pull image '([^']+)'/.exec((err as Error).message)?.[1];
      const hint = pull ? `the engine cannot pull ${pull}: check its network access (or pull it by hand), then re-run` : 'see the output above, then re-run';
      throw new UserError(`k3d could not create cluster ${s.cluster}: ${hint}${swept.length ? ` (removed what it left: ${swept.join(', ')})` : ''}`);
    }
  },

  async start(ctx) {
    const s = ctx.settings;
    // A create interrupted half-way (Ctrl+C while k3d starts the nodes) leaves the
    // containers but k3d's rollback removes the network: `k3d cluster start`
    // can never succeed on that. Remove the remains and create the cluster again.
    const engine = await useEngine(ctx);
    const net = await ctx.run.run({ argv: [engine.cli, 'network', 'inspect', `k3d-${s.cluster}`], check: false, timeoutMs: 30_000 });
    if (net.code !== 0 && !ctx.run.dryRun) {
      ctx.log.warn(`cluster ${s.cluster} was left half-created (its network k3d-${s.cluster} is gone): deleting what remains and creating it again`);
      await this.delete(ctx);
      await this.create(ctx);
      return;
    }
    await ctx.log.progress(
      `starting k3d cluster ${s.cluster}`,
      ctx.run.run({ argv: ['k3d', 'cluster', 'start', s.cluster, '--wait', '--timeout', `${s.timeoutSec}s`], mode: 'stream', mutates: true, timeoutMs: (s.timeoutSec + 60) * 1000 }),
    );
  },

  async delete(ctx) {
    const s = ctx.settings;
    const state = await this.state(ctx);
    if (state.exists) {
      // `k3d cluster delete` also rewrites the default kubeconfig (KUBECONFIG or
      // ~/.kube/config) through client-go, reformatting it and dropping its
      // comments, even when it holds none of our entries. Ours are removed by the
      // kit itself, byte for byte, so k3d gets a scratch kubeconfig instead.
      const scratch = mkdtempSync(join(tmpdir(), 'openshell-k3d-delete-'));
      const kubeconfig = join(scratch, 'kubeconfig');
      writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\n', { mode: 0o600 });
      try {
        await ctx.log.progress(
          `deleting k3d cluster ${s.cluster}`,
          ctx.run.run({ argv: ['k3d', 'cluster', 'delete', s.cluster], env: { KUBECONFIG: kubeconfig }, mode: 'stream', mutates: true, timeoutMs: 180_000 }),
        );
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    }
    // k3d removes a registry it created with the cluster; one reused from earlier may remain.
    if (await findRegistry(ctx)) {
      await ctx.run.run({ argv: ['k3d', 'registry', 'delete', s.registryName], mutates: true, timeoutMs: 60_000 });
    }
    const swept = await sweepLeftovers(ctx, (await useEngine(ctx)).cli);
    if (swept.length > 0) ctx.log.ok(`removed what an earlier failed create left: ${swept.join(', ')}`);
  },

  async kubeconfig(ctx) {
    return ctx.run.out(['k3d', 'kubeconfig', 'get', ctx.settings.cluster], { timeoutMs: 30_000 });
  },

  registry(ctx): RegistryEndpoints {
    return { host: `localhost:${ctx.settings.registryPort}`, cluster: `${ctx.settings.registryName}:${REGISTRY_CONTAINER_PORT}` };
  },
};
