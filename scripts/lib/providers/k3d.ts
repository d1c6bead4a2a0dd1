// k3d: k3s in containers on Docker or Podman, with a bundled registry. What the
// tasks read about it (the cluster's state, its kubeconfig, the registry) and the
// Simple config that up.ts pipes to `k3d cluster create --config -`: the
// declarative deploy/k3d/cluster.yaml with the settings applied. The commands
// that create, start and delete it are in up.ts and down.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { useEngine } from '../engine.ts';
import { GATEWAY_NODE_PORT, KIT_ROOT, type Settings } from '../settings.ts';
import type { TaskContext } from '../task.ts';
import { UserError } from '../task.ts';
import { $ } from 'zx';
import { $w } from '../sh.ts';
import { REGISTRY_CONTAINER_PORT, registryEndpoints } from '../registry.ts';
import type { ClusterProvider, ClusterState, RegistryEndpoints } from './types.ts';

export const K3D_CONFIG = join(KIT_ROOT, 'deploy', 'k3d', 'cluster.yaml');

export interface K3dCluster {
  name: string;
  serversCount?: number;
  serversRunning?: number;
  agentsCount?: number;
  agentsRunning?: number;
}

export interface K3dRegistry {
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
  // cluster.yaml's registries.config (k3s registries.yaml) is kept; only the mirror that makes
  // localhost:<port>/… resolve to the registry container follows the settings.
  const registries = (parse(cfg.registries.config ?? '') ?? {}) as { mirrors?: Record<string, { endpoint: string[] }> };
  const mirrors = Object.fromEntries(Object.entries(registries.mirrors ?? {}).filter(([host]) => !/^localhost:\d+$/.test(host)));
  mirrors[`localhost:${s.registryPort}`] = { endpoint: [`http://${s.registryName}:${REGISTRY_CONTAINER_PORT}`] };
  cfg.registries.config = stringify({ ...registries, mirrors });
  cfg.options = { ...cfg.options, k3d: { ...cfg.options?.k3d, timeout: `${s.timeoutSec}s` } };
  return cfg;
}

/** `k3d cluster|registry list -o json`, parsed; a missing k3d names the fix. */
export async function k3dList(what: 'cluster'): Promise<K3dCluster[]>;
export async function k3dList(what: 'registry'): Promise<K3dRegistry[]>;
export async function k3dList<T>(what: 'cluster' | 'registry'): Promise<T[]> {
  const r = await $({ nothrow: true, timeout: '30s' })`k3d ${what} list -o json`;
  if (r.exitCode === 127) throw new UserError('k3d not found on PATH: run `mise install` (tools are pinned in mise.toml)');
  if (!r.ok) throw new UserError(`\`k3d ${what} list\` failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
  return r.stdout.trim() === '' ? [] : r.json<T[]>();
}

/**
 * What k3d leaves behind when a create fails half-way and its own rollback
 * fails too (seen when an image cannot be pulled): the cluster network and the
 * images volume. Only objects with k3d's names and labels for this cluster.
 */
export async function sweepLeftovers(ctx: TaskContext, cli: string): Promise<string[]> {
  const name = ctx.settings.cluster;
  const [networks, volumes] = await Promise.all([
    $({ nothrow: true, timeout: '30s' })`${cli} network ls --filter label=app=k3d --format ${'{{.Name}}'}`,
    $({ nothrow: true, timeout: '30s' })`${cli} volume ls --filter label=k3d.cluster=${name} --format ${'{{.Name}}'}`,
  ]);
  const network = networks.lines().filter((n) => n.trim() === `k3d-${name}`);
  const vols = volumes.lines().map((v) => v.trim()).filter((v) => v !== '');
  for (const n of network) await $w({ nothrow: true, timeout: '30s' })`${cli} network rm ${n}`;
  if (vols.length > 0) await $w({ nothrow: true, timeout: '30s' })`${cli} volume rm ${vols}`;
  return [...network.map((n) => `network ${n}`), ...vols.map((v) => `volume ${v}`)];
}

export const k3dProvider: ClusterProvider = {
  name: 'k3d',
  tools: ['k3d', 'kubectl'],
  needsEngine: true,
  runsContainers: true,

  async state(ctx): Promise<ClusterState> {
    await useEngine(ctx);
    const clusters = await k3dList('cluster');
    const c = clusters.find((x) => x.name === ctx.settings.cluster);
    if (!c) return { exists: false, running: false, detail: 'k3d: no cluster' };
    const running = (c.serversRunning ?? 0) > 0;
    return {
      exists: true,
      running,
      detail: `k3d: ${c.serversRunning ?? 0}/${c.serversCount ?? 0} servers, ${c.agentsRunning ?? 0}/${c.agentsCount ?? 0} agents running`,
    };
  },

  async kubeconfig(ctx) {
    return (await $({ timeout: '30s' })`k3d kubeconfig get ${ctx.settings.cluster}`).stdout;
  },

  registry(ctx): RegistryEndpoints {
    return registryEndpoints(ctx.settings);
  },
};
