// k3d: k3s in containers on Docker or Podman, with a bundled registry. The
// cluster comes from the declarative deploy/k3d/cluster.yaml, filled in from
// the settings and piped to `k3d cluster create --config -`.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { useEngine } from '../engine.ts';
import { GATEWAY_NODE_PORT, KIT_ROOT, type Settings } from '../settings.ts';
import type { TaskContext } from '../task.ts';
import { UserError } from '../task.ts';
import { $, $w, isDryRun, ProcessOutput } from '../sh.ts';
import { requireTools } from '../tools.ts';
import { portProblem } from '../ports.ts';
import { REGISTRY_CONTAINER_PORT, registryEndpoints } from '../registry.ts';
import type { ClusterProvider, ClusterState, RegistryEndpoints } from './types.ts';

export const K3D_CONFIG = join(KIT_ROOT, 'deploy', 'k3d', 'cluster.yaml');

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
  // cluster.yaml's registries.config (k3s registries.yaml) is kept; only the mirror that makes
  // localhost:<port>/… resolve to the registry container follows the settings.
  const registries = (parse(cfg.registries.config ?? '') ?? {}) as { mirrors?: Record<string, { endpoint: string[] }> };
  const mirrors = Object.fromEntries(Object.entries(registries.mirrors ?? {}).filter(([host]) => !/^localhost:\d+$/.test(host)));
  mirrors[`localhost:${s.registryPort}`] = { endpoint: [`http://${s.registryName}:${REGISTRY_CONTAINER_PORT}`] };
  cfg.registries.config = stringify({ ...registries, mirrors });
  cfg.options = { ...cfg.options, k3d: { ...cfg.options?.k3d, timeout: `${s.timeoutSec}s` } };
  return cfg;
}

/** `k3d … list -o json`, parsed; a missing k3d names the fix. */
async function listJson<T>(what: 'cluster' | 'registry'): Promise<T[]> {
  const r = await $({ nothrow: true, timeout: '30s' })`k3d ${what} list -o json`;
  if (r.exitCode === 127) throw new UserError('k3d not found on PATH: run `mise install` (tools are pinned in mise.toml)');
  if (!r.ok) throw new UserError(`\`k3d ${what} list\` failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
  return r.stdout.trim() === '' ? [] : r.json<T[]>();
}

async function findRegistry(ctx: TaskContext): Promise<K3dRegistry | undefined> {
  return (await listJson<K3dRegistry>('registry')).find((r) => r.name === ctx.settings.registryName);
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
    const clusters = await listJson<K3dCluster>('cluster');
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
    const s = ctx.settings;
    // A dry run prints the config even where k3d is not installed yet.
    const registry = ctx.dryRun ? await findRegistry(ctx).catch(() => undefined) : (await requireTools('k3d'), await findRegistry(ctx));
    const busy = [await portProblem('OPENSHELL_DEV_HTTP_PORT', s.httpPort)];
    if (!registry) busy.push(await portProblem('OPENSHELL_DEV_REGISTRY_PORT', s.registryPort));
    const problems = busy.filter((p): p is string => p !== null);
    if (problems.length > 0) throw new UserError(problems.join('\n'), 2);
    const config = stringify(k3dConfig(s, { reuseRegistry: registry !== undefined }));
    try {
      await ctx.log.progress(`creating k3d cluster ${s.cluster}`, $w({ input: config, timeout: `${s.timeoutSec + 120}s` })`k3d cluster create --config -`.quiet(false));
    } catch (err) {
      // Leave nothing half-made behind, so the next `up` starts clean.
      const engine = await useEngine(ctx);
      const swept = await sweepLeftovers(ctx, engine.cli);
      const said = err instanceof ProcessOutput ? err.stdout + err.stderr : String(err);
      const pull = /failed to pull image '([^']+)'/.exec(said)?.[1];
      const hint = pull ? `the engine cannot pull ${pull}: check its network access (or pull it by hand), then re-run` : 'see the output above, then re-run';
      throw new UserError(`k3d could not create cluster ${s.cluster}: ${hint}${swept.length ? ` (removed what it left: ${swept.join(', ')})` : ''}`);
    }
  },

  async start(ctx) {
    const s = ctx.settings;
    // A create interrupted half-way (Ctrl+C while k3d starts the nodes) leaves
    // nodes that `k3d cluster start` can never start: k3d's rollback may have
    // removed the network, or the load balancer never got its configuration.
    // Such a cluster has no kubeconfig from us yet (up writes it only after a
    // create succeeds): remove the remains and create the cluster again.
    const recreate = async (why: string) => {
      ctx.log.warn(`cluster ${s.cluster} was left half-created (${why}): deleting what remains and creating it again`);
      await this.delete(ctx);
      await this.create(ctx);
    };
    const engine = await useEngine(ctx);
    const net = await $({ nothrow: true, timeout: '30s' })`${engine.cli} network inspect ${`k3d-${s.cluster}`}`;
    if (net.exitCode !== 0 && !isDryRun()) return recreate(`its network k3d-${s.cluster} is gone`);
    try {
      await ctx.log.progress(`starting k3d cluster ${s.cluster}`, $w({ timeout: `${s.timeoutSec + 60}s` })`k3d cluster start ${s.cluster} --wait --timeout ${s.timeoutSec}s`.quiet(false));
    } catch (err) {
      if (isDryRun() || existsSync(s.kubeconfig)) throw err;
      await recreate(`k3d cannot start it, and no up finished creating it: there is no ${s.kubeconfig}`);
    }
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
          $w({ timeout: '180s', env: { ...$.env, KUBECONFIG: kubeconfig } })`k3d cluster delete ${s.cluster}`.quiet(false),
        );
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    }
    // k3d removes a registry it created with the cluster; one reused from earlier may remain.
    if (await findRegistry(ctx)) {
      await $w({ timeout: '60s' })`k3d registry delete ${s.registryName}`;
    }
    const swept = await sweepLeftovers(ctx, (await useEngine(ctx)).cli);
    if (swept.length > 0) ctx.log.ok(`removed what an earlier failed create left: ${swept.join(', ')}`);
  },

  async kubeconfig(ctx) {
    return (await $({ timeout: '30s' })`k3d kubeconfig get ${ctx.settings.cluster}`).stdout;
  },

  registry(ctx): RegistryEndpoints {
    return registryEndpoints(ctx.settings);
  },
};
