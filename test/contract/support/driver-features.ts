// What the real Kubernetes driver made of the chart's security settings, read
// back from the API server after the real CLI asked for a sandbox: the client
// certificate for sandbox pods, the supervisor topology, the corporate proxy
// and its credential, the SPIFFE socket, the managed workspace namespace and
// what the driver put into it, and provider credentials in Kubernetes
// Secrets. Each check runs only where gateway.toml turns the feature on, and
// everything the driver wrote it wrote with the chart's RBAC (the gateway runs
// with its ServiceAccount's token).
import assert from 'node:assert/strict';
import { parse as parseToml } from 'smol-toml';
import type { Bed } from './bed.ts';

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string }[];
}
export interface DriverPodSpec {
  serviceAccountName: string;
  containers: Container[];
  initContainers?: Container[];
  volumes: { name: string; image?: unknown; secret?: { secretName: string; items?: { key: string }[] }; csi?: { driver: string } }[];
}

type Table = Record<string, unknown>;

/** The driver table and the gateway's credential settings, as the gateway parses them. */
export function driverSettings(toml: string): { k8s: Table; credentialDrivers: string[]; credentialNamespace?: string } {
  const doc = JSON.parse(JSON.stringify(parseToml(toml))) as { openshell: { gateway: Table; drivers: { kubernetes: Table }; credential_drivers?: Record<string, Table> } };
  return {
    k8s: doc.openshell.drivers.kubernetes,
    credentialDrivers: (doc.openshell.gateway.credential_drivers as string[] | undefined) ?? [],
    credentialNamespace: doc.openshell.credential_drivers?.['kubernetes-secrets']?.namespace as string | undefined,
  };
}

/** The namespace the driver puts a workspace's sandboxes in. */
export function workspaceNamespace(k8s: Table, workspace: string): string {
  if (k8s.workspace_mode === 'managed') return `openshell-${k8s.gateway_id}-${workspace}`;
  if (k8s.workspace_mode === 'operator') return workspace;
  return k8s.namespace as string;
}

const words = (c: Container) => [...(c.command ?? []), ...(c.args ?? [])];

export function assertPodFeatures(k8s: Table, pod: DriverPodSpec): string[] {
  const checked: string[] = [];
  const all = [...pod.containers, ...(pod.initContainers ?? [])];
  const mountsOf = (volume: string) => all.filter((c) => c.volumeMounts?.some((m) => m.name === volume)).map((c) => c.name);
  const client = k8s.client_tls_secret_name as string | undefined;
  if (client) {
    assert.equal(pod.volumes.find((v) => v.name === 'openshell-client-tls')?.secret?.secretName, client, 'sandbox pods mount the client certificate Secret');
    assert.ok(mountsOf('openshell-client-tls').length > 0, 'a supervisor container mounts the client certificate');
    checked.push(`client certificate ${client} mounted by ${mountsOf('openshell-client-tls').join(', ')}`);
  }
  const sidecar = pod.containers.find((c) => c.name === 'openshell-supervisor-network');
  if (k8s.topology === 'sidecar') {
    assert.ok(sidecar, `sidecar topology: a network supervisor container (got ${pod.containers.map((c) => c.name).join(', ')})`);
    checked.push('sidecar container openshell-supervisor-network');
  } else {
    assert.equal(sidecar, undefined, 'combined topology: no network sidecar');
  }
  if (k8s.https_proxy) {
    const proxied = all.find((c) => words(c).includes('--upstream-proxy'));
    assert.ok(proxied, 'a supervisor container is told the corporate proxy');
    const w = words(proxied);
    assert.equal(w[w.indexOf('--upstream-proxy') + 1], k8s.https_proxy);
    if (k8s.no_proxy) assert.equal(w[w.indexOf('--upstream-no-proxy') + 1], k8s.no_proxy);
    checked.push(`proxy ${k8s.https_proxy} in ${proxied.name}`);
  }
  if (k8s.proxy_auth_secret_name) {
    const v = pod.volumes.find((x) => x.name === 'openshell-upstream-proxy-auth');
    assert.equal(v?.secret?.secretName, k8s.proxy_auth_secret_name);
    assert.equal(v?.secret?.items?.[0]?.key, k8s.proxy_auth_secret_key);
    assert.deepEqual(mountsOf('openshell-upstream-proxy-auth').filter((n) => n === 'agent'), [], 'the agent container never mounts the proxy credential');
    checked.push(`proxy credential mounted by ${mountsOf('openshell-upstream-proxy-auth').join(', ')} only`);
  }
  if (k8s.provider_spiffe_workload_api_socket_path) {
    assert.equal(pod.volumes.find((v) => v.name === 'spiffe-workload-api')?.csi?.driver, 'csi.spiffe.io', 'SPIFFE: the Workload API CSI volume');
    checked.push('SPIFFE Workload API CSI volume');
  }
  return checked;
}

/**
 * Managed mode: the namespace, ServiceAccount and SSH policy the driver made; both modes: the client certificate
 * Secret it copied into the workspace namespace. All under the chart's ClusterRole.
 */
export function assertWorkspaceNamespace(bed: Bed, k8s: Table, namespace: string): string[] {
  const checked: string[] = [];
  if (k8s.workspace_mode === 'managed') {
    const ns = JSON.parse(bed.kubectlOk(['get', 'namespace', namespace, '-o', 'json'])) as { metadata: { labels: Record<string, string> } };
    assert.equal(ns.metadata.labels['openshell.ai/gateway-id'], k8s.gateway_id, 'the managed namespace carries the gateway id');
    bed.kubectlOk(['-n', namespace, 'get', 'serviceaccount', k8s.service_account_name as string]);
    checked.push(`namespace ${namespace}`, `ServiceAccount ${k8s.service_account_name}`);
  }
  if ((k8s.managed_ssh_ingress as Table | undefined)?.enabled) {
    bed.kubectlOk(['-n', namespace, 'get', 'networkpolicy', 'openshell-sandbox-ssh']);
    checked.push('NetworkPolicy openshell-sandbox-ssh');
  }
  if (k8s.client_tls_secret_name) {
    bed.kubectlOk(['-n', namespace, 'get', 'secret', k8s.client_tls_secret_name as string]);
    checked.push(`Secret copy ${k8s.client_tls_secret_name}`);
  }
  return checked;
}

/** kubernetes-secrets: a provider credential the CLI stores lands in a Secret of the driver's namespace. */
export function assertCredentialSecret(bed: Bed, namespace: string, value: string): void {
  const list = JSON.parse(bed.kubectlOk(['-n', namespace, 'get', 'secrets', '-o', 'json'])) as { items: { metadata: { labels?: Record<string, string> }; data?: Record<string, string> }[] };
  const b64 = Buffer.from(value).toString('base64');
  const hit = list.items.find((s) => Object.values(s.data ?? {}).includes(b64));
  assert.ok(hit, `a Secret in ${namespace} holds the provider credential (found ${list.items.length} Secrets)`);
  assert.equal(hit.metadata.labels?.['app.kubernetes.io/managed-by'], 'openshell');
}

/** What the chart's RBAC must not allow the gateway's ServiceAccount, asked of the real API server's authorizer. */
export function assertDenied(bed: Bed, serviceAccount: string, checks: string[][]): string {
  for (const c of checks) {
    const r = bed.kubectl(['auth', 'can-i', '--as', serviceAccount, ...c]);
    assert.equal(r.stdout.trim(), 'no', `${serviceAccount} must not: ${c.join(' ')} (${r.stdout}${r.stderr})`);
  }
  return `denied ${checks.map((c) => c.join(' ')).join(', ')}`;
}
