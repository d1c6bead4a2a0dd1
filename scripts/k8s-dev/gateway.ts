// k8s:dev:gateway — run the real gateway out-of-cluster against the dev
// cluster, as OpenShell's own dev gateway runs (tasks/scripts/gateway.sh):
// sandbox JWT keys from the gateway's `generate-certs`, a config file with the
// Kubernetes driver's settings (TLS off, the sandbox namespace, a grpc_endpoint
// pods can reach, the dev supervisor image, the sideload method), then the
// gateway on that file. The driver reads its settings from the file only:
// environment variables such as OPENSHELL_SANDBOX_IMAGE are not read by it.
// Arguments after `--` go to the gateway.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { devImages, kitCacheDir } from '../lib/bootstrap.ts';
import { ensureNamespace } from '../lib/cluster.ts';
import { devGatewayToml } from '../lib/gateway-config.ts';
import { connect, getOrUndefined, serverVersion } from '../lib/kube.ts';
import { providerFor } from '../lib/providers/index.ts';
import { $ } from 'zx';
import { $w } from '../lib/sh.ts';
import { chooseMethod } from '../lib/sideload.ts';
import { findSourceDir } from '../lib/source.ts';
import { isMain, runTask, UserError, type TaskContext, type TaskDefinition } from '../lib/task.ts';

export const gateway: TaskDefinition = {
  name: 'gateway',
  summary: 'Run the gateway out-of-cluster (cargo run -p openshell-server: openshell-gateway) against the dev cluster, configured as upstream\'s dev gateway',
  passthrough: 'the gateway',
  async main(ctx: TaskContext) {
    const s = ctx.settings;
    const source = findSourceDir(s);
    if (!existsSync(s.kubeconfig)) throw new UserError(`no kubeconfig at ${s.kubeconfig}: run \`mise run k8s:dev:up\` first`);
    const provider = await providerFor(s.provider);
    const state = join(kitCacheDir(ctx.env), `gateway-${s.cluster}`);
    const certs = join(state, 'tls');
    const config = join(state, 'gateway.toml');
    const gatewayId = `${s.cluster}-dev`;

    // Detect: the cluster answers and serves the Sandbox API; the sandbox namespace exists.
    const kube = await connect(ctx);
    const sideload = chooseMethod(s.sideloadMethod, await serverVersion(kube));
    const crd = await getOrUndefined('read the Sandbox CRD', kube.apiext.readCustomResourceDefinition({ name: 'sandboxes.agents.x-k8s.io' }), kube.timeoutMs);
    if (!crd) throw new UserError('the agent-sandbox CRDs are not installed, and the gateway exits without them: run `mise run k8s:dev:bootstrap` first');
    await ensureNamespace(ctx, kube, s.sandboxNamespace);

    // Where sandbox pods reach this gateway: k3d's alias for the host, on the
    // k3d network's gateway address (not every interface: users are anonymous).
    let bind = s.gatewayBindAddress;
    if (bind === '' && s.provider === 'k3d' && process.platform === 'linux') {
      const net = await $({ nothrow: true, timeout: '20s', env: ctx.env })`docker network inspect k3d-${s.cluster} --format ${'{{(index .IPAM.Config 0).Gateway}}'}`;
      bind = net.ok ? net.stdout.trim() : '';
    }
    if (bind === '') bind = '127.0.0.1';
    const endpoint = s.grpcEndpoint || (s.provider === 'k3d' ? `http://host.k3d.internal:${s.gatewayPort}` : `http://${bind}:${s.gatewayPort}`);

    // Credentials: the sandbox JWT signing keys, made once by the gateway itself.
    const gw = (args: string[]) => $w({ cwd: source, env: ctx.env, stdio: 'inherit', nothrow: true })`sh -c ${`${s.gatewayCommand} "$@"`} gateway ${args}`;
    if (!existsSync(join(certs, 'jwt', 'signing.pem'))) {
      ctx.log.step(`generating the gateway's credentials in ${certs}`);
      const r = await gw(['generate-certs', '--output-dir', certs, '--server-san', '127.0.0.1', '--server-san', 'localhost']);
      if (!r.ok && !ctx.flags.dryRun) throw new UserError(`\`${s.gatewayCommand} generate-certs\` failed (exit ${r.exitCode}): see its output above`);
    }

    // The config file, owner-only (it names key files).
    const { supervisor } = devImages();
    const toml = devGatewayToml({
      certsDir: certs,
      gatewayId,
      sandboxNamespace: s.sandboxNamespace,
      defaultImage: s.sandboxImage,
      grpcEndpoint: endpoint,
      supervisorImage: `${provider.registry(ctx).cluster}/${supervisor.repo}:${supervisor.tag}`,
      sideloadMethod: sideload.method,
    });
    if (ctx.flags.dryRun) ctx.log.info(`[dry-run] would write ${config}:\n${toml}`);
    else {
      mkdirSync(state, { recursive: true });
      writeFileSync(config, toml, { mode: 0o600 });
      chmodSync(config, 0o600);
    }
    ctx.log.info(`config ${config}: namespace ${s.sandboxNamespace}, grpc_endpoint ${endpoint}, supervisor ${supervisor.repo}:${supervisor.tag} by ${sideload.method} (${sideload.reason})`);

    // Run until Ctrl+C.
    ctx.log.step(`running \`${s.gatewayCommand}\` in ${source} on ${bind}:${s.gatewayPort} (Ctrl+C stops it)`);
    const r = await $w({ cwd: source, env: { ...ctx.env, KUBECONFIG: s.kubeconfig }, stdio: 'inherit', nothrow: true })`sh -c ${`${s.gatewayCommand} "$@"`} gateway ${[
      '--config', config,
      '--bind-address', bind,
      '--port', String(s.gatewayPort),
      '--drivers', 'kubernetes',
      '--disable-tls',
      '--db-url', `sqlite:${join(state, 'gateway.db')}?mode=rwc`,
      ...ctx.flags.args,
    ]}`;
    return r.exitCode ?? 1;
  },
};

if (isMain(import.meta)) await runTask(gateway);
