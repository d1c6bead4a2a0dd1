// The chart speaks the real gateway's contract. For every values file the kit
// ships (the defaults, values.dev.yaml, every ci/ variant, every skaffold
// profile), `helm template`, apply what it renders to a real kube-apiserver
// (strict field validation) that serves the real agent-sandbox CRDs, run the
// certificate hook's container (the real `openshell-gateway generate-certs`)
// under the hook's own ServiceAccount and Role, then start the real
// `openshell-gateway` with exactly what its pod gets: its args, its env (from
// the Secrets the chart references), its volumes (the rendered ConfigMap, the
// generated Secrets), the in-cluster ServiceAccount token of the chart's
// gateway ServiceAccount (so the chart's RBAC is what it runs with), its user
// and its read-only root. A refused config fails with the gateway's own words.
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { chartDir, CI_VARIANTS, devValues, helm, type K8sObject, parseObjects, repoRoot } from '../chart/support/helm.ts';
import { missingTools } from '../support/requires.ts';
import { Bed, type Container, missingBed, OPENSHIFT_RANGE_START, openshellBin, type PodSpec, runContainer, type SccAssignment } from './support/bed.ts';
import { assertCredentialSecret, assertDenied, assertWorkspaceNamespace, assertPodFeatures, driverSettings, type DriverPodSpec, workspaceNamespace } from './support/driver-features.ts';

const skip = missingTools('helm') || missingBed();

/** The agent-sandbox controller binary the test bed builds. */
function controllerBin(): string | undefined {
  const p = process.env.OPENSHELL_TEST_AGENT_SANDBOX_CONTROLLER || join(homedir(), '.cache/openshell-ci/bin/agent-sandbox-v0.5.5/agent-sandbox-controller');
  return existsSync(p) ? p : undefined;
}
const KUBE_VERSION = '1.36.3';
const DRIVER_PROBES = ['tls-external', 'sidecar-proxy', 'spiffe', 'workspace-managed', 'workspace-operator', 'credential-kubernetes-secrets'];
const ENTRYPOINT = '/usr/local/bin/openshell-gateway';

/** Every values file the kit ships, as helm arguments. */
function variants(): Record<string, string[]> {
  const v: Record<string, string[]> = { defaults: [], 'values.dev.yaml': ['-f', devValues] };
  for (const [name, file] of Object.entries(CI_VARIANTS)) v[`ci/${name}-values.yaml`] = ['-f', file];
  // Variants whose settings show only in what the driver builds: run again with user auth off, so the real CLI
  // can ask for a sandbox (and a provider) without an identity provider; the rest of the values stay as shipped.
  for (const name of DRIVER_PROBES) v[`ci/${name}-values.yaml, users unauthenticated`] = ['-f', CI_VARIANTS[name] as string, '--set', 'auth.allowUnauthenticated=true'];
  // Operator mode by a list of namespaces (the chart's mounted JSON file) instead of a label.
  v['ci/workspace-operator-values.yaml by namespace list, users unauthenticated'] = ['-f', CI_VARIANTS['workspace-operator'] as string, '--set', 'workspaces.operator.namespaceLabel=', '--set', 'workspaces.operator.namespaces={team-listed}', '--set', 'auth.allowUnauthenticated=true'];
  const sk = parse(readFileSync(join(repoRoot, 'skaffold.yaml'), 'utf8')) as {
    deploy: { helm: { releases: { valuesFiles: string[]; setValueTemplates: Record<string, string> }[] } };
    profiles: { name: string; patches: { op: string; path: string; value: string }[] }[];
  };
  const rel = sk.deploy.helm.releases[0];
  assert.ok(rel);
  // Skaffold fills the templates with the images it built.
  const sets = Object.keys(rel.setValueTemplates).flatMap((k) => ['--set', `${k}=${k.endsWith('tag') ? 'contract' : 'openshell-registry:5000/x'}`]);
  const base = rel.valuesFiles.flatMap((f) => ['-f', join(repoRoot, f)]);
  v['skaffold (default)'] = [...base, ...sets];
  for (const p of sk.profiles) {
    const files = p.patches.filter((x) => x.path.endsWith('/valuesFiles/-')).flatMap((x) => ['-f', join(repoRoot, x.value)]);
    v[`skaffold -p ${p.name}`] = [...base, ...files, ...sets];
  }
  return v;
}

const dashboardMetrics = [...readFileSync(join(chartDir, 'files/grafana-dashboard.json'), 'utf8').matchAll(/\b(openshell_[a-z_]+)/g)].map((m) => m[1] as string);

interface SandboxObject {
  apiVersion: string;
  metadata: { labels: Record<string, string> };
  spec: {
    podTemplate: {
      metadata?: { labels?: Record<string, string> };
      spec: {
        serviceAccountName: string;
        containers: { name: string; image: string; env?: { name: string; value?: string }[] }[];
        initContainers?: { name: string; image: string }[];
        volumes: { name: string; image?: unknown }[];
      };
    };
  };
}

/**
 * Each sandbox pod setting in gateway.toml, as the real driver wrote it into
 * the Sandbox it created (ci/sandbox-pods-values.yaml sets them all).
 */
function sandboxPodSettings(toml: string, sb: SandboxObject): void {
  const key = (k: string) => new RegExp(`^${k} = (.*)$`, 'm').exec(toml)?.[1];
  const str = (k: string) => key(k)?.replace(/^"|"$/g, '');
  const spec = sb.spec.podTemplate.spec as SandboxObject['spec']['podTemplate']['spec'] & Record<string, unknown>;
  const agent = spec.containers.find((c) => c.name === 'agent') as Record<string, unknown> & { image: string };
  if (str('default_image')) assert.equal(agent.image, str('default_image'), 'default_image is the agent image');
  if (str('image_pull_policy')) assert.equal(agent.imagePullPolicy, str('image_pull_policy'), 'image_pull_policy');
  if (key('image_pull_secrets')) assert.deepEqual(spec.imagePullSecrets, (JSON.parse(key('image_pull_secrets') as string) as string[]).map((name) => ({ name })), 'image_pull_secrets');
  if (str('host_gateway_ip')) assert.deepEqual(spec.hostAliases, [{ ip: str('host_gateway_ip'), hostnames: ['host.docker.internal', 'host.openshell.internal'] }], 'host_gateway_ip becomes hostAliases');
  if (str('default_runtime_class_name')) assert.equal(spec.runtimeClassName, str('default_runtime_class_name'), 'default_runtime_class_name');
  if (key('enable_user_namespaces') === 'true') assert.equal(spec.hostUsers, false, 'enable_user_namespaces sets hostUsers: false');
  if (str('app_armor_profile')) assert.deepEqual((agent.securityContext as Record<string, unknown>).appArmorProfile, { type: str('app_armor_profile') }, 'app_armor_profile');
  if (str('workspace_default_storage_size') || str('workspace_storage_class')) {
    const claim = ((sb.spec as Record<string, unknown>).volumeClaimTemplates as { metadata: { name: string }; spec: { storageClassName?: string; resources: { requests: { storage: string } } } }[])[0];
    assert.equal(claim?.spec.resources.requests.storage, str('workspace_default_storage_size') ?? '2Gi', 'workspace_default_storage_size');
    assert.equal(claim?.spec.storageClassName, str('workspace_storage_class'), 'workspace_storage_class');
  }
}

/** The first Sandbox the real gateway created, and where. */
let createdSandbox: { namespace: string; name: string } | undefined;

/** A sandbox pod spec the real driver built (from the first unauthenticated variant). */
let driverPod: { spec: SandboxObject['spec']['podTemplate']['spec']; sa: string } | undefined;

interface Started {
  child: ChildProcess;
  log: () => string;
  ports: { grpc: number; health: number; metrics?: number };
}

describe('contract: the real gateway runs every values file the kit ships', { skip, timeout: 30 * 60_000 }, () => {
  const bed = new Bed();
  let pgUri: (db: string) => string;
  const bin = openshellBin() as string;
  const running: ChildProcess[] = [];

  before(async () => {
    await bed.start();
    pgUri = await bed.startPostgres();
  });
  after(async () => {
    for (const c of running) if (c.exitCode === null) c.kill('SIGTERM');
    await sleep(300);
    await bed.stop();
  });

  let n = 0;
  for (const [name, args] of Object.entries(variants())) {
    test(name, async () => {
      const ns = `c${++n}-${name.replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}`.slice(0, 40).replace(/-$/, '');
      // --skip-tests: `helm install` never creates the `helm test` hook pod (test/e2e/realnode-chart runs it).
      const r = await helm(['template', 'openshell', chartDir, '--namespace', ns, '--kube-version', KUBE_VERSION, '--api-versions', 'agents.x-k8s.io/v1beta1', '--skip-tests', ...args]);
      assert.equal(r.code, 0, `helm template failed:\n${r.stderr}`);
      const objs = parseObjects(r.stdout);
      const workload = objs.find((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment') as K8sObject & { spec: { replicas: number; template: { spec: PodSpec } } };
      const pod = workload.spec.template.spec;
      const gw = pod.containers.find((c) => c.name === 'gateway') as Container;
      const toml = (objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-gateway-config')) as unknown as { data: Record<string, string> }).data['gateway.toml'] as string;
      const tlsOn = /^disable_tls = false$/m.test(toml);
      const sandboxNs = /^sandbox_namespace = "(.+)"$/m.exec(toml)?.[1] as string;

      // What the operator provides before installing (the chart's README says so).
      bed.kubectlOk(['create', 'namespace', ns]);
      const dbSecret = gw.env?.find((e) => e.name === 'OPENSHELL_DB_URL')?.valueFrom?.secretKeyRef;
      if (dbSecret) bed.kubectlOk(['-n', ns, 'create', 'secret', 'generic', dbSecret.name, `--from-literal=${dbSecret.key}=${pgUri(ns.replace(/-/g, '_'))}`]);
      const caCm = (pod.volumes ?? []).find((v) => v.name === 'oidc-ca')?.configMap as { name: string } | undefined;
      const operatorPki = join(bed.dir, `${ns}-pki`);
      const needPki = caCm !== undefined || (tlsOn && !objs.some((o) => o.kind === 'Job' && (o as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec.containers[0]?.args?.some((a) => a.startsWith('--server-secret-name'))));
      const issuer = /^issuer = "(.+)"$/m.exec(toml)?.[1];
      const svcHost = `${workload.metadata.name}.${ns}.svc`;
      if (needPki) {
        // The operator's own PKI (the same tool makes it): the Service name and the OIDC issuer's host on the server certificate.
        const sans = [svcHost, ...(issuer ? [new URL(issuer).hostname] : [])].flatMap((x) => ['--server-san', x]);
        const g = spawnSync(join(bin, 'openshell-gateway'), ['generate-certs', '--output-dir', operatorPki, ...sans], { encoding: 'utf8', env: { ...process.env, HOME: bed.dir, XDG_CONFIG_HOME: join(bed.dir, 'xdg') } });
        assert.equal(g.status, 0, g.stderr);
      }
      const hosts: string[] = [];
      let idp: ChildProcess | undefined;
      if (issuer) {
        // An https issuer's certificate is one only the private CA vouches for; the pod's DNS for its name is a hosts entry here.
        const tlsIssuer = issuer.startsWith('https:');
        if (tlsIssuer) {
          assert.ok(caCm, 'an https issuer in these values comes with a CA ConfigMap (no public CA can sign for it here)');
          bed.kubectlOk(['-n', ns, 'create', 'configmap', caCm.name, `--from-file=ca.crt=${join(operatorPki, 'ca.crt')}`]);
        }
        idp = bed.spawnLogged(`${ns}-issuer`, process.execPath, [join(import.meta.dirname, 'support/oidc-issuer.ts'), issuer, ...(tlsIssuer ? [`${operatorPki}/server/tls.crt`, `${operatorPki}/server/tls.key`] : [])]);
        running.push(idp);
        await bed.waitFor('the OIDC issuer', () => bed.logOf(`${ns}-issuer`).includes('ready'), 10_000);
        hosts.push(`127.0.0.1 ${new URL(issuer).hostname}`);
      }
      const kek = gw.env?.find((e) => e.name === 'OPENSHELL_CREDENTIAL_KEY_ENCRYPTION_KEY')?.valueFrom?.secretKeyRef;
      assert.ok(kek, 'the gateway gets its credential key from a Secret');
      const kekRendered = objs.some((o) => o.kind === 'Secret' && o.metadata.name === kek.name);
      if (!kekRendered) bed.kubectlOk(['-n', ns, 'create', 'secret', 'generic', kek.name, `--from-literal=${kek.key}=${randomBytes(32).toString('base64')}`]);

      // Apply what helm would (hooks first; custom resources whose CRDs this cluster lacks are left out).
      const served = (o: K8sObject) => !/cert-manager\.io|monitoring\.coreos\.com|gateway\.networking\.k8s\.io|route\.openshift\.io/.test(o.apiVersion);
      const isHook = (o: K8sObject) => o.metadata.annotations?.['helm.sh/hook'] !== undefined;
      // Namespaces the objects live in that the chart does not create (e.g. the dashboard's "monitoring") exist already.
      for (const other of new Set(objs.map((o) => o.metadata.namespace).filter((x): x is string => !!x && x !== ns))) {
        if (!objs.some((o) => o.kind === 'Namespace' && o.metadata.name === other) && bed.kubectl(['get', 'namespace', other]).code !== 0) bed.kubectlOk(['create', 'namespace', other]);
      }
      const nsObjs = objs.filter((o) => o.kind === 'Namespace');
      if (nsObjs.length) bed.kubectlOk(['apply', '--validate=strict', '-f', '-'], nsObjs.map((o) => JSON.stringify(o)).join('\n'));
      if (needPki && tlsOn) {
        // tls.source=existing: the operator's Secrets, server in the release namespace, client in the sandbox namespace.
        const serverName = ((pod.volumes ?? []).find((v) => v.name === 'server-tls')?.secret as { secretName: string }).secretName;
        const clientName = /^client_tls_secret_name = "(.+)"$/m.exec(toml)?.[1] as string;
        bed.kubectlOk(['-n', ns, 'create', 'secret', 'generic', serverName, `--from-file=tls.crt=${operatorPki}/server/tls.crt`, `--from-file=tls.key=${operatorPki}/server/tls.key`, `--from-file=ca.crt=${operatorPki}/ca.crt`]);
        bed.kubectlOk(['-n', sandboxNs, 'create', 'secret', 'generic', clientName, `--from-file=tls.crt=${operatorPki}/client/tls.crt`, `--from-file=tls.key=${operatorPki}/client/tls.key`, `--from-file=ca.crt=${operatorPki}/ca.crt`]);
      }
      const secretVolume = (name: string) => ((pod.volumes ?? []).find((v) => v.name === name)?.secret as { secretName: string } | undefined)?.secretName;
      // tls.clientCaSecretName: a CA Secret of its own (here the same operator CA that signed the client certificate).
      const clientCaSecret = secretVolume('client-ca');
      if (clientCaSecret) bed.kubectlOk(['-n', ns, 'create', 'secret', 'generic', clientCaSecret, `--from-file=ca.crt=${operatorPki}/ca.crt`]);
      // tls.external: a certificate from another CA (standing in for a public one) for the external hostname.
      const externalSecret = secretVolume('external-tls');
      const externalName = JSON.parse(/^external_server_names = (\[.*\])$/m.exec(toml)?.[1] ?? '[]')[0] as string | undefined;
      const externalPki = join(bed.dir, `${ns}-external-pki`);
      if (externalSecret) {
        assert.ok(externalName, 'an external certificate comes with its SNI names');
        const g = spawnSync(join(bin, 'openshell-gateway'), ['generate-certs', '--output-dir', externalPki, '--server-san', externalName], { encoding: 'utf8', env: { ...process.env, HOME: bed.dir, XDG_CONFIG_HOME: join(bed.dir, 'xdg') } });
        assert.equal(g.status, 0, g.stderr);
        bed.kubectlOk(['-n', ns, 'create', 'secret', 'tls', externalSecret, `--cert=${externalPki}/server/tls.crt`, `--key=${externalPki}/server/tls.key`]);
      }
      // workspaces.operator.namespaceLabel: a namespace the platform team labelled as a workspace.
      const workspaceLabel = /^operator_namespace_label = "(.+)"$/m.exec(toml)?.[1];
      // A workspace name is at most 19 characters; in operator mode it is the namespace's name.
      const labelledWorkspace = `${ns.split('-')[0]}-workspace`;
      if (workspaceLabel) {
        bed.kubectlOk(['create', 'namespace', labelledWorkspace]);
        bed.kubectlOk(['label', 'namespace', labelledWorkspace, workspaceLabel]);
      }
      // workspaces.operator.namespaces: the listed namespaces exist (the platform team made them).
      const workspaceList = (objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-workspace-namespaces')) as (K8sObject & { data: Record<string, string> }) | undefined)?.data['namespaces.json'];
      const listedWorkspaces = workspaceList ? (JSON.parse(workspaceList) as string[]) : [];
      for (const w of listedWorkspaces) if (bed.kubectl(['get', 'namespace', w]).code !== 0) bed.kubectlOk(['create', 'namespace', w]);
      const labelledCount = workspaceLabel ? bed.kubectlOk(['get', 'namespaces', '-l', workspaceLabel, '-o', 'name']).trim().split('\n').length : 0;
      const apply = (list: K8sObject[]) => {
        if (list.length === 0) return;
        const res = bed.kubectl(['apply', '--validate=strict', '-f', '-'], list.map((o) => JSON.stringify(o)).join('\n'));
        assert.equal(res.code, 0, `the API server refused the rendered objects:\n${res.stderr}`);
      };
      apply(objs.filter((o) => isHook(o) && served(o) && o.kind !== 'Job'));

      // The certificate hook's container, as its pod runs it.
      const job = objs.find((o) => o.kind === 'Job' && isHook(o)) as K8sObject & { spec: { template: { spec: PodSpec } } };
      assert.ok(job, 'a certificate hook Job');
      const hookPod = job.spec.template.spec;
      // A pod that fixes no user (OpenShift mode) runs the way restricted-v2 runs it: a UID and fsGroup from the namespace's range, group 0.
      const fixesNoUser = (p: PodSpec) => p.securityContext?.runAsUser === undefined && p.containers.every((c) => c.securityContext?.runAsUser === undefined);
      const scc = (p: PodSpec): SccAssignment | undefined => (fixesNoUser(p) ? { uid: OPENSHIFT_RANGE_START, fsGroup: OPENSHIFT_RANGE_START } : undefined);
      const hook = runContainer(bed, { logName: `${ns}-certgen`, namespace: ns, podName: `${job.metadata.name}-x`, pod: hookPod, container: hookPod.containers[0] as Container, binary: join(bin, 'openshell-gateway'), entrypoint: ENTRYPOINT, scc: scc(hookPod) });
      const hookCode = await new Promise<number | null>((resolve) => hook.on('exit', (c) => resolve(c)));
      assert.equal(hookCode, 0, `the certificate hook failed:\n${bed.logOf(`${ns}-certgen`)}`);
      // A second run (helm upgrade) keeps what the first made.
      const jwtName = ((pod.volumes ?? []).find((v) => v.name === 'sandbox-jwt')?.secret as { secretName: string }).secretName;
      const kidBefore = bed.kubectlOk(['-n', ns, 'get', 'secret', jwtName, '-o', 'jsonpath={.data.kid}']);
      const hook2 = runContainer(bed, { logName: `${ns}-certgen2`, namespace: ns, podName: `${job.metadata.name}-y`, pod: hookPod, container: hookPod.containers[0] as Container, binary: join(bin, 'openshell-gateway'), entrypoint: ENTRYPOINT, scc: scc(hookPod) });
      assert.equal(await new Promise<number | null>((resolve) => hook2.on('exit', (c) => resolve(c))), 0, bed.logOf(`${ns}-certgen2`));
      assert.equal(bed.kubectlOk(['-n', ns, 'get', 'secret', jwtName, '-o', 'jsonpath={.data.kid}']), kidBefore, 'an upgrade keeps the sandbox JWT keys');

      apply(objs.filter((o) => !isHook(o) && served(o) && o.kind !== 'Namespace'));

      // The gateway: one replica, two on PostgreSQL (both start together).
      const replicas = dbSecret ? 2 : 1;
      const ports = (key: string) => Number(new RegExp(`^${key} = "0\\.0\\.0\\.0:(\\d+)"$`, 'm').exec(toml)?.[1]);
      const started: Started[] = [];
      for (let i = 0; i < replicas; i++) {
        const log = `${ns}-gateway-${i}`;
        const base = { grpc: ports('bind_address'), health: ports('health_bind_address'), metrics: ports('metrics_bind_address') || undefined };
        // Replica 2 shares the bed's one network namespace with replica 1: only its ports move (CLI flags win over the file).
        const shift = i * 100;
        const extraArgs = i === 0 ? [] : ['--port', String(base.grpc + shift), '--health-port', String(base.health + shift), ...(base.metrics ? ['--metrics-port', String(base.metrics + shift)] : [])];
        const child = runContainer(bed, { logName: log, namespace: ns, podName: `${workload.metadata.name}-${i}`, pod, container: gw, binary: join(bin, 'openshell-gateway'), entrypoint: ENTRYPOINT, extraArgs, hosts, scc: scc(pod) });
        running.push(child);
        started.push({ child, log: () => bed.logOf(log), ports: { grpc: base.grpc + shift, health: base.health + shift, metrics: base.metrics && base.metrics + shift } });
      }
      try {
        for (const s of started) {
          await bed.waitFor('/readyz 200 on the health port', () => {
            if (s.child.exitCode !== null) throw new Error(`the gateway exited (${s.child.exitCode}):\n${s.log()}`);
            return bed.curl(`http://127.0.0.1:${s.ports.health}/readyz`).status === 200;
          }, 90_000);
        }
        const assigned = scc(pod);
        if (assigned) {
          // OpenShift mode: the serving gateway really runs as the SCC-assigned UID, group 0, fsGroup supplementary (on a read-only root, HOME=/).
          for (const x of started) {
            const status = readFileSync(`/proc/${x.child.pid}/status`, 'utf8');
            assert.match(status, new RegExp(`^Uid:\\s+${assigned.uid}\\s`, 'm'), status);
            assert.match(status, /^Gid:\s+0\s/m, status);
            assert.match(status, new RegExp(`^Groups:\\s+${assigned.fsGroup}\\s*$`, 'm'), status);
          }
        }
        const plain = (x: Started) => x.log().replace(/\x1b\[[0-9;]*m/g, '');
        const sa = /^service_account_name = "(.+)"$/m.exec(toml)?.[1] as string;
        // What the log must show (written asynchronously: wait a moment for it).
        const expectations: RegExp[] = [
          /Compute driver connected configured_driver=kubernetes advertised_driver=kubernetes/,
          new RegExp(`K8s ServiceAccount bootstrap authenticator enabled namespace=${sandboxNs} service_account=${sa}`),
          new RegExp(`gateway-minted sandbox JWT enabled gateway_id=${/^gateway_id = "(.+)"$/m.exec(toml)?.[1]}`),
          tlsOn ? /TLS enabled/ : /TLS disabled/,
          // The gateway discovered the issuer and loaded its key (for https, trusting its private CA through SSL_CERT_FILE).
          ...(issuer ? [/JWKS keys loaded count=1/] : []),
          // Operator mode by label: the driver's namespace watch (the chart's list/watch rule) found the labelled workspace.
          // (its first list reports how many namespaces carry the label: this variant's and any earlier variant's).
          ...(workspaceLabel ? [new RegExp(`operator namespace allowlist replaced from full relist total=${labelledCount}\\b`)] : []),
          ...(listedWorkspaces.length ? [new RegExp(`operator namespace allowlist loaded from file path=/etc/openshell-workspaces/namespaces.json total=${listedWorkspaces.length}\\b`)] : []),
        ];
        for (const s of started) {
          assert.equal(bed.curl(`http://127.0.0.1:${s.ports.health}/healthz`).status, 200, '/healthz');
          await bed.waitFor('the expected log lines', () => expectations.every((re) => re.test(plain(s))), 10_000).catch(() =>
            assert.fail(`the log lacks ${expectations.filter((re) => !re.test(plain(s))).join(', ')}:\n${plain(s)}`),
          );
        }
        if (started.length > 1) {
          // Replicas share the database: one of them holds the reconciler lease.
          await bed.waitFor('a replica holding the reconciler lease', () => started.some((x) => /acquired reconciler lease/.test(plain(x))), 15_000);
        }
        const s = started[0] as Started;
        const scheme = tlsOn ? 'https' : 'http';
        const ca = join(bed.dir, `${ns}-ca.crt`);
        const clientCrt = join(bed.dir, `${ns}-client.crt`);
        const clientKey = join(bed.dir, `${ns}-client.key`);
        if (tlsOn) {
          const serverSecret = ((pod.volumes ?? []).find((v) => v.name === 'server-tls')?.secret as { secretName: string }).secretName;
          const b64 = (ns2: string, sec: string, key: string) => Buffer.from(bed.kubectlOk(['-n', ns2, 'get', 'secret', sec, '-o', `jsonpath={.data.${key.replace('.', '\\.')}}`]), 'base64');
          writeFileSync(ca, b64(ns, serverSecret, 'ca.crt'));
          const clientName = /^client_tls_secret_name = "(.+)"$/m.exec(toml)?.[1] as string;
          writeFileSync(clientCrt, b64(sandboxNs, clientName, 'tls.crt'));
          writeFileSync(clientKey, b64(sandboxNs, clientName, 'tls.key'));
          // A client that trusts the CA and shows the sandbox client certificate gets through, by IP and by the Service name sandboxes dial.
          const ok = bed.curl(`https://${svcHost}:${s.ports.grpc}/`, ['--cacert', ca, '--cert', clientCrt, '--key', clientKey, '--resolve', `${svcHost}:${s.ports.grpc}:127.0.0.1`]);
          assert.ok(ok.status > 0, `TLS with the chart's CA to ${svcHost}: ${ok.stderr}`);
          assert.match(toml, new RegExp(`grpc_endpoint = "https://${svcHost.replace(/\./g, '\\.')}:`));
          // Without the CA the certificate does not verify.
          const untrusted = bed.curl(`https://127.0.0.1:${s.ports.grpc}/`, ['--cert', clientCrt, '--key', clientKey]);
          assert.equal(untrusted.exit, 60, `an untrusted server certificate must fail verification: ${untrusted.stderr}`);
          if (externalName) {
            // By SNI: the external hostname gets the external certificate (its own CA verifies it, the internal CA does not).
            const extCa = join(externalPki, 'ca.crt');
            const resolve = ['--resolve', `${externalName}:${s.ports.grpc}:127.0.0.1`, '--cert', clientCrt, '--key', clientKey];
            const ext = bed.curl(`https://${externalName}:${s.ports.grpc}/`, ['--cacert', extCa, ...resolve]);
            assert.ok(ext.status > 0, `the external certificate for ${externalName}: ${ext.stderr}`);
            const internal = bed.curl(`https://${externalName}:${s.ports.grpc}/`, ['--cacert', ca, ...resolve]);
            // Both CAs come from generate-certs and share a subject name, so OpenSSL fails the signature check itself (35, "EVP lib") rather than the issuer lookup (60).
            assert.ok(internal.status === 0 && (internal.exit === 60 || /EVP lib|certificate|verify/i.test(internal.stderr)), `the internal CA must not verify what the external hostname gets: exit ${internal.exit} ${internal.stderr}`);
          }
          if (/^client_ca_path = /m.test(toml) && !/\[openshell\.gateway\.oidc\]/.test(toml)) {
            const noCert = bed.curl(`https://127.0.0.1:${s.ports.grpc}/`, ['--cacert', ca]);
            assert.equal(noCert.status, 0, 'without OIDC, a client without a certificate is refused at the handshake');
          }
        } else {
          assert.ok(bed.curl(`http://127.0.0.1:${s.ports.grpc}/`).status > 0);
        }
        if (/^allow_unauthenticated_users = true$/m.test(toml)) {
          // Where users need no credentials (the dev values, the driver probes), ask the real CLI for a sandbox and
          // read back what the driver made of the chart's settings: the Sandbox resource in the API server (no
          // controller runs here, so it never becomes ready; the CLI's wait is cut short). With TLS the CLI shows
          // the sandbox client certificate (its mTLS bundle for a gateway at 127.0.0.1).
          const xdg = join(bed.dir, `${ns}-xdg`);
          if (tlsOn) {
            // The CLI keys a bare endpoint's bundle by the endpoint, every character outside [A-Za-z0-9._-] made '_'.
            const mtls = join(xdg, 'openshell/gateways', `${scheme}://127.0.0.1:${s.ports.grpc}`.replace(/[^A-Za-z0-9._-]/g, '_'), 'mtls');
            mkdirSync(mtls, { recursive: true });
            copyFileSync(ca, join(mtls, 'ca.crt'));
            copyFileSync(clientCrt, join(mtls, 'tls.crt'));
            copyFileSync(clientKey, join(mtls, 'tls.key'));
          }
          const cliEnv = { ...process.env, HOME: bed.dir, XDG_CONFIG_HOME: xdg, OPENSHELL_TELEMETRY_ENABLED: 'false' };
          const endpoint = `${scheme}://127.0.0.1:${s.ports.grpc}`;
          const settings = driverSettings(toml);
          // Operator mode: the workspace is the namespace the platform team labelled; the gateway learns of it, then the CLI uses it.
          const workspace = settings.k8s.workspace_mode !== 'operator' ? 'default' : workspaceLabel ? labelledWorkspace : (listedWorkspaces[0] as string);
          if (workspace !== 'default') {
            const w = bed.run('timeout', ['20', join(bin, 'openshell'), '--gateway-endpoint', endpoint, 'workspace', 'create', '--name', workspace], { env: cliEnv });
            assert.equal(w.code, 0, `workspace create: ${w.stdout}${w.stderr}\ngateway: ${s.log().slice(-3000)}`);
          }
          const cli = bed.spawnLogged(`${ns}-cli`, 'timeout', ['20', join(bin, 'openshell'), '--gateway-endpoint', endpoint, '--workspace', workspace, 'sandbox', 'create', '--name', 'contract', '--detach', '--no-tty'], cliEnv);
          const gatewayId = settings.k8s.gateway_id as string;
          let sandbox: SandboxObject | undefined;
          await bed.waitFor('the Sandbox the gateway creates', () => {
            const list = JSON.parse(bed.kubectlOk(['get', 'sandboxes.agents.x-k8s.io', '-A', '-l', `openshell.ai/gateway-id=${gatewayId}`, '-o', 'json'])) as { items: SandboxObject[] };
            sandbox = list.items[0];
            return sandbox !== undefined;
          }, 20_000).catch((err: Error) => assert.fail(`${err.message}\nCLI: ${bed.logOf(`${ns}-cli`)}\ngateway: ${s.log()}`));
          cli.kill('SIGTERM');
          const sb = sandbox as SandboxObject;
          const sbNamespace = (sb.metadata as { namespace?: string }).namespace as string;
          assert.equal(sbNamespace, workspaceNamespace(settings.k8s, workspace), 'the sandbox lands in the workspace namespace the mode implies');
          const key = (k: string) => new RegExp(`^${k} = "(.*)"$`, 'm').exec(toml)?.[1];
          assert.equal(sb.apiVersion, 'agents.x-k8s.io/v1beta1');
          assert.equal(sb.metadata.labels['openshell.ai/gateway-id'], key('gateway_id'));
          const podSpec = sb.spec.podTemplate.spec;
          assert.equal(podSpec.serviceAccountName, key('service_account_name'));
          const env = (name: string) => podSpec.containers.flatMap((c) => c.env ?? []).find((e) => e.name === name)?.value;
          assert.equal(env('OPENSHELL_ENDPOINT'), key('grpc_endpoint'));
          assert.equal(env('OPENSHELL_TELEMETRY_ENABLED'), 'false');
          const method = key('supervisor_sideload_method');
          if (method === 'image-volume') {
            assert.deepEqual(podSpec.volumes.find((v) => v.image)?.image, { reference: key('supervisor_image'), pullPolicy: key('supervisor_image_pull_policy') });
          } else {
            assert.equal(podSpec.initContainers?.find((c) => c.image === key('supervisor_image'))?.image, key('supervisor_image'));
          }
          if (!settings.k8s.provider_spiffe_workload_api_socket_path) {
            assert.deepEqual(sb.spec.podTemplate.metadata?.labels ?? {}, {}, 'the driver puts no labels on the pod template (the NetworkPolicy selects the controller\'s)');
          }
          sandboxPodSettings(toml, sb);
          const shown = assertPodFeatures(settings.k8s, podSpec as unknown as DriverPodSpec);
          const gatewaySa = `system:serviceaccount:${ns}:${pod.serviceAccountName}`;
          if (settings.k8s.workspace_mode === 'managed') {
            // A workspace's life: a stored credential makes its namespace, deleting the workspace deletes it (guarded
            // by the gateway-id label and UID). No namespace controller runs here, so it stays Terminating.
            const osh = (...a: string[]) => {
              const r = bed.run('timeout', ['20', join(bin, 'openshell'), '--gateway-endpoint', endpoint, ...a], { env: cliEnv });
              assert.equal(r.code, 0, `openshell ${a.join(' ')}: ${r.stdout}${r.stderr}\ngateway: ${s.log().slice(-3000)}`);
            };
            const gone = `openshell-${gatewayId}-gone`;
            osh('workspace', 'create', '--name', 'gone');
            osh('--workspace', 'gone', 'provider', 'create', '--name', 'gone', '--type', 'generic', '--credential', 'API_KEY=x');
            bed.kubectlOk(['get', 'namespace', gone]);
            osh('--workspace', 'gone', 'provider', 'delete', 'gone');
            osh('workspace', 'delete', 'gone');
            const left = bed.kubectl(['get', 'namespace', gone, '-o', 'jsonpath={.metadata.deletionTimestamp}']);
            assert.ok(left.code !== 0 || left.stdout !== '', `deleting the workspace deletes ${gone}`);
            shown.push(`namespace ${gone} created and deleted with its workspace`);
          }
          if (settings.k8s.workspace_mode !== 'shared') {
            shown.push(...assertWorkspaceNamespace(bed, settings.k8s, sbNamespace));
            // Least privilege around what the driver just did: no other Secret, no reading Secrets in bulk, no other policy, no namespace edits.
            shown.push(assertDenied(bed, gatewaySa, [['get', 'secrets/other', '-n', sbNamespace], ['list', 'secrets', '-A'], ['patch', 'networkpolicies/other', '-n', sbNamespace], ['update', 'namespaces'], ['delete', 'serviceaccounts', '-n', sbNamespace], ['update', 'sandboxes.agents.x-k8s.io/status', '-n', sbNamespace], ...(settings.k8s.operator_namespace_file ? [['get', 'namespaces/kube-system'], ['list', 'namespaces']] : [])]));
          }
          if (settings.credentialDrivers.includes('kubernetes-secrets')) {
            // The CLI stores a provider credential; the driver writes it into a Secret (with the chart's Role).
            const value = `contract-${randomBytes(6).toString('hex')}`;
            const p = bed.run('timeout', ['20', join(bin, 'openshell'), '--gateway-endpoint', endpoint, 'provider', 'create', '--name', 'contract', '--type', 'generic', '--credential', `API_KEY=${value}`], { env: cliEnv });
            assert.equal(p.code, 0, `provider create: ${p.stdout}${p.stderr}\ngateway: ${s.log().slice(-3000)}`);
            assertCredentialSecret(bed, settings.credentialNamespace as string, value);
            shown.push(assertDenied(bed, gatewaySa, [['list', 'secrets', '-n', settings.credentialNamespace as string], ['watch', 'secrets', '-n', settings.credentialNamespace as string], ['create', 'secrets', '-n', 'default']]));
            shown.push(`provider credential in a Secret of ${settings.credentialNamespace}`);
          }
          if (shown.length) console.log(`  ${name}: ${shown.join('; ')}`);
          if (sbNamespace === sandboxNs) {
            driverPod ??= { spec: podSpec, sa: podSpec.serviceAccountName };
            createdSandbox ??= { namespace: sandboxNs, name: (sb.metadata as { name?: string }).name as string };
          }
        }
        const tlsArgs = tlsOn ? ['--cacert', ca, '--cert', clientCrt, '--key', clientKey] : [];
        // A gRPC call (unauthenticated Health) and an HTTP call, so the request metrics exist.
        bed.curl(`${scheme}://127.0.0.1:${s.ports.grpc}/openshell.v1.OpenShell/Health`, [...tlsArgs, tlsOn ? '--http2' : '--http2-prior-knowledge', '-X', 'POST', '-H', 'content-type: application/grpc', '-H', 'te: trailers', '--data-binary', '@/dev/null']);
        bed.curl(`${scheme}://127.0.0.1:${s.ports.grpc}/healthz`, tlsArgs);
        const limit = Number(/^grpc_rate_limit_requests = (\d+)$/m.exec(toml)?.[1] ?? 0);
        if (limit > 0) {
          // The rate limit holds: limit + 1 more gRPC calls inside the window (calls were made before); the surplus is refused with RESOURCE_EXHAUSTED (8).
          const url = `${scheme}://127.0.0.1:${s.ports.grpc}/openshell.v1.OpenShell/Health`;
          const call = () => bed.run('curl', ['-sS', '--max-time', '10', ...tlsArgs, tlsOn ? '--http2' : '--http2-prior-knowledge', '-X', 'POST', '-H', 'content-type: application/grpc', '-H', 'te: trailers', '--data-binary', '@/dev/null', '-D', '-', '-o', '/dev/null', url]);
          const calls = Array.from({ length: limit + 1 }, call);
          const burst = { stdout: calls.map((c) => c.stdout).join(''), stderr: calls.map((c) => c.stderr).join('') };
          const statuses = [...burst.stdout.matchAll(/^grpc-status: (\d+)/gim)].map((m) => m[1]);
          const refused = [...burst.stdout.matchAll(/^grpc-message: gRPC(%20| )rate(%20| )limit(%20| )exceeded/gim)].length;
          assert.equal(statuses.filter((x) => x === '8').length, refused, burst.stdout.slice(0, 2000));
          assert.ok(refused >= 1 && statuses[0] !== '8', `${limit} calls per window: the first is served, the surplus refused (statuses ${statuses.join(',')}): ${burst.stderr}`);
        }
        if (s.ports.metrics) {
          let body = '';
          await bed.waitFor('every dashboard metric on /metrics', () => {
            const m = bed.curl(`http://127.0.0.1:${s.ports.metrics}/metrics`);
            body = m.body;
            return m.status === 200 && dashboardMetrics.every((x) => body.includes(x));
          }, 30_000).catch(() => assert.fail(`/metrics lacks ${dashboardMetrics.filter((x) => !body.includes(x)).join(', ')}:\n${body.slice(0, 3000)}`));
        } else {
          assert.doesNotMatch(toml, /metrics_bind_address/);
        }
      } catch (err) {
        for (const x of started) if (x.child.exitCode !== null) throw new Error(`the gateway exited (${x.child.exitCode}):\n${x.log()}`, { cause: err });
        throw err;
      } finally {
        for (const x of started) x.child.kill('SIGTERM');
        await Promise.all(started.map((x) => (x.child.exitCode !== null ? undefined : new Promise((r) => x.child.on('exit', r)))));
        if (idp) {
          idp.kill('SIGTERM');
          await new Promise((r) => (idp?.exitCode !== null ? r(undefined) : idp.on('exit', r)));
        }
        // Free the cluster-wide NodePort for the next variant (no namespace controller runs here).
        bed.kubectl(['-n', ns, 'delete', 'service', '--all', '--wait=false']);
      }
    });
  }

  test('the sandbox pods the driver builds are admitted by the namespace labels the chart ships, and only at privileged', () => {
    assert.ok(driverPod, 'a variant created a sandbox');
    const shipped: Record<string, Record<string, string>> = {
      'values.yaml sandbox.namespaceLabels': (parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as { sandbox: { namespaceLabels: Record<string, string> } }).sandbox.namespaceLabels,
      'ci/restricted-values.yaml sandbox.namespaceLabels': (parse(readFileSync(join(chartDir, 'ci/restricted-values.yaml'), 'utf8')) as { sandbox: { namespaceLabels: Record<string, string> } }).sandbox.namespaceLabels,
      'baseline (for contrast)': { 'pod-security.kubernetes.io/enforce': 'baseline' },
    };
    const volumes = [...driverPod.spec.volumes, { name: 'workspace', persistentVolumeClaim: { claimName: 'workspace' } }];
    let i = 0;
    for (const [what, labels] of Object.entries(shipped)) {
      const ns = `pss-${++i}`;
      bed.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } }));
      bed.kubectlOk(['-n', ns, 'create', 'serviceaccount', driverPod.sa]);
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'sandbox', namespace: ns }, spec: { ...driverPod.spec, volumes } };
      const r = bed.kubectl(['create', '--dry-run=server', '-f', '-'], JSON.stringify(pod));
      if (labels['pod-security.kubernetes.io/enforce'] === 'privileged') assert.equal(r.code, 0, `${what}: ${r.stderr}`);
      else assert.match(r.stderr, /violates PodSecurity "baseline:latest".*(SYS_ADMIN|capabilities)/s, `${what} must refuse the driver's pod`);
    }
  });

  test('a key the gateway does not read is refused, and the test reports the gateway\'s own words', async () => {
    // The defaults' gateway.toml with the key the chart once rendered and the gateway never read.
    const r = await helm(['template', 'openshell', chartDir, '--namespace', 'refused', '--kube-version', KUBE_VERSION, '--api-versions', 'agents.x-k8s.io/v1beta1']);
    const objs = parseObjects(r.stdout);
    const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-gateway-config')) as K8sObject & { data: Record<string, string> };
    const workload = objs.find((o) => o.kind === 'StatefulSet') as K8sObject & { spec: { template: { spec: PodSpec } } };
    const pod = workload.spec.template.spec;
    const gw = pod.containers.find((c) => c.name === 'gateway') as Container;
    bed.kubectlOk(['create', 'namespace', 'refused']);
    const toml = (cm.data['gateway.toml'] as string).replace('[openshell.gateway]\n', '[openshell.gateway]\nname = "openshell"\n');
    bed.kubectlOk(['apply', '-f', '-'], JSON.stringify({ ...cm, data: { 'gateway.toml': toml } }));
    const onlyConfig: Container = { ...gw, env: [], volumeMounts: gw.volumeMounts?.filter((m) => m.name === 'config') };
    const child = runContainer(bed, { logName: 'refused', namespace: 'refused', podName: 'refused-0', pod: { ...pod, automountServiceAccountToken: false }, container: onlyConfig, binary: join(bin, 'openshell-gateway'), entrypoint: ENTRYPOINT });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.notEqual(code, 0);
    assert.match(bed.logOf('refused'), /unknown field `name`/);
  });

  test('the sandbox NetworkPolicy selects the pod the real agent-sandbox controller makes of that Sandbox', { skip: controllerBin() ? false : 'needs the agent-sandbox v0.5.5 controller (bash .ci/tools/build.sh agent-sandbox)' }, async () => {
    assert.ok(createdSandbox, 'a variant created a Sandbox');
    const { namespace, name } = createdSandbox;
    const controller = bed.spawnLogged('agent-sandbox-controller', controllerBin() as string, [
      '-kubeconfig', bed.kubeconfig, '-leader-elect=false', '-enable-webhook=false', '-manage-webhook-certs=false',
      '-health-probe-bind-address', '127.0.0.1:18081', '-metrics-bind-address', '127.0.0.1:18080',
    ]);
    running.push(controller);
    type Pod = { metadata: { name: string; labels?: Record<string, string>; ownerReferences?: { kind: string; name: string }[] }; spec: { volumes?: { image?: { reference: string } }[] } };
    let pod: Pod | undefined;
    await bed.waitFor('the controller\'s pod for the Sandbox', () => {
      const pods = JSON.parse(bed.kubectlOk(['-n', namespace, 'get', 'pods', '-o', 'json'])) as { items: Pod[] };
      pod = pods.items.find((p) => p.metadata.ownerReferences?.some((o) => o.kind === 'Sandbox' && o.name === name));
      return pod !== undefined;
    }, 60_000).catch((err: Error) => assert.fail(`${err.message}\n${bed.logOf('agent-sandbox-controller').slice(-3000)}`));
    controller.kill('SIGTERM');
    const np = JSON.parse(bed.kubectlOk(['-n', namespace, 'get', 'networkpolicy', 'openshell-sandboxes', '-o', 'json'])) as {
      spec: { podSelector: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] } };
    };
    const labels = (pod as Pod).metadata.labels ?? {};
    const sel = np.spec.podSelector;
    const selects =
      Object.entries(sel.matchLabels ?? {}).every(([key, v]) => labels[key] === v) &&
      (sel.matchExpressions ?? []).every((e) => (e.operator === 'Exists' ? e.key in labels : e.operator === 'In' && (e.values ?? []).includes(labels[e.key] as string)));
    assert.ok(selects, `the chart's sandbox NetworkPolicy ${JSON.stringify(sel)} does not select the sandbox pod labelled ${JSON.stringify(labels)}`);
    // Why not the driver's own label: it is on the Sandbox, not on its pod (without SPIFFE token grants).
    assert.equal(labels['openshell.ai/managed-by'], undefined, `pod labels ${JSON.stringify(labels)}`);
  });

  test('an upgrade renders the live credential key back (lookup), not a new one', async () => {
    // The Secret as `helm install` leaves it (its rendered self plus Helm's ownership marks), then an upgrade's render.
    const ns = 'upgrade';
    bed.kubectlOk(['create', 'namespace', ns]);
    const first = await helm(['template', 'openshell', chartDir, '--namespace', ns, '--kube-version', KUBE_VERSION, '--api-versions', 'agents.x-k8s.io/v1beta1', '--show-only', 'templates/credential-kek.yaml']);
    const installed = parseObjects(first.stdout)[0] as K8sObject & { data: Record<string, string> };
    installed.metadata.annotations = { ...installed.metadata.annotations, 'meta.helm.sh/release-name': 'openshell', 'meta.helm.sh/release-namespace': ns };
    installed.metadata.labels = { ...installed.metadata.labels, 'app.kubernetes.io/managed-by': 'Helm' };
    bed.kubectlOk(['apply', '-f', '-'], JSON.stringify(installed));
    const r = bed.run('helm', ['template', 'openshell', chartDir, '--namespace', ns, '--kubeconfig', bed.kubeconfig, '--dry-run=server', '--show-only', 'templates/credential-kek.yaml']);
    assert.equal(r.code, 0, r.stderr);
    const upgraded = parseObjects(r.stdout)[0] as K8sObject & { data: Record<string, string> };
    assert.equal(upgraded.data['key-encryption-key'], installed.data['key-encryption-key'], 'the upgrade keeps the key');
    const fresh = await helm(['template', 'openshell', chartDir, '--namespace', ns, '--kube-version', KUBE_VERSION, '--api-versions', 'agents.x-k8s.io/v1beta1', '--show-only', 'templates/credential-kek.yaml', '--set', 'logging.level=debug']);
    assert.notEqual((parseObjects(fresh.stdout)[0] as typeof installed).data['key-encryption-key'], installed.data['key-encryption-key'], 'without the cluster (helm template) a new key is made');
  });
});
