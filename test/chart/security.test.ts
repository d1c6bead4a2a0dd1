// TLS extras (client CA, external certificate, SANs), credential drivers,
// workspace modes with their RBAC, supervisor topology, the corporate proxy
// and SPIFFE token grants: what each value renders, parsed as the gateway
// parses it (TOML), and the sentences bad combinations fail with.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { missingTools } from '../support/requires.ts';
import { CI_VARIANTS, find, gatewayToml, gatewayWorkload, render, renderError, type K8sObject } from './support/helm.ts';

const skip = missingTools('helm');

type Table = Record<string, unknown>;
interface Rule {
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
  verbs: string[];
}

async function config(args: string[]): Promise<{ objs: K8sObject[]; gateway: Table; tls: Table; k8s: Table; credentialDrivers: Table }> {
  const objs = await render(args);
  // Plain objects (the parser's tables have no prototype).
  const doc = JSON.parse(JSON.stringify(parseToml(gatewayToml(objs)))) as { openshell: { gateway: Table; drivers: { kubernetes: Table }; credential_drivers?: Table } };
  return { objs, gateway: doc.openshell.gateway, tls: (doc.openshell.gateway.tls ?? {}) as Table, k8s: doc.openshell.drivers.kubernetes, credentialDrivers: doc.openshell.credential_drivers ?? {} };
}
const ci = (name: string) => ['-f', CI_VARIANTS[name] as string];
const rules = (o: K8sObject) => (o as K8sObject & { rules: Rule[] }).rules;
const volumes = (objs: K8sObject[]) => gatewayWorkload(objs).spec.template.spec.volumes ?? [];
const mounts = (objs: K8sObject[]) => (gatewayWorkload(objs).spec.template.spec.containers[0]?.volumeMounts ?? []) as { name: string; mountPath: string }[];

describe('chart: TLS client CA, external certificate, SANs', { skip }, () => {
  test('defaults: client certificates checked against the server Secret\'s CA; sandboxes get the client Secret; no external certificate', async () => {
    const { tls, k8s, objs } = await config([]);
    assert.equal(tls.client_ca_path, '/etc/openshell-tls/server/ca.crt');
    assert.equal(k8s.client_tls_secret_name, 'openshell-tls-client');
    assert.equal(tls.external_cert_path, undefined);
    assert.equal(volumes(objs).some((v) => v.name === 'client-ca' || v.name === 'external-tls'), false);
  });
  test('ci/tls-external: own client CA Secret, external certificate by SNI, extra SANs; the hook makes only the JWT keys', async () => {
    const { gateway, tls, k8s, objs } = await config(ci('tls-external'));
    assert.equal(tls.client_ca_path, '/etc/openshell-tls/client-ca/ca.crt');
    assert.deepEqual(volumes(objs).find((v) => v.name === 'client-ca')?.secret, { secretName: 'gateway-client-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] });
    assert.equal(tls.external_cert_path, '/etc/openshell-tls/external/tls.crt');
    assert.equal(tls.external_key_path, '/etc/openshell-tls/external/tls.key');
    assert.deepEqual(tls.external_server_names, ['openshell.example.com']);
    assert.deepEqual(volumes(objs).find((v) => v.name === 'external-tls')?.secret, { secretName: 'gateway-external-tls', defaultMode: 0o400 });
    assert.ok(mounts(objs).some((m) => m.name === 'external-tls' && m.mountPath === '/etc/openshell-tls/external'));
    assert.deepEqual(gateway.server_sans, ['openshell.internal.example.com', '10.20.30.40']);
    assert.equal(k8s.client_tls_secret_name, 'sandbox-client-tls');
    const args = (find(objs, 'Job', 'openshell-certgen').spec as { template: { spec: { containers: { args: string[] }[] } } }).template.spec.containers[0]?.args;
    assert.ok(args?.includes('--jwt-only'));
  });
  test('generate: extra SANs reach the hook\'s --server-san and server_sans', async () => {
    const { gateway, objs } = await config(['--set', 'tls.extraServerSans={gw.example.com,10.0.0.9}']);
    const args = (find(objs, 'Job', 'openshell-certgen').spec as { template: { spec: { containers: { args: string[] }[] } } }).template.spec.containers[0]?.args ?? [];
    assert.ok(args.includes('--server-san=gw.example.com') && args.includes('--server-san=10.0.0.9'));
    assert.deepEqual(gateway.server_sans, ['gw.example.com', '10.0.0.9']);
  });
  test('ci/cert-manager: chart CA for server and client certificates, the external certificate from the operator\'s issuer', async () => {
    const { tls, objs } = await config(ci('cert-manager'));
    const certs = Object.fromEntries(objs.filter((o) => o.kind === 'Certificate').map((o) => [o.metadata.name, o.spec as Table]));
    assert.deepEqual(Object.keys(certs).sort(), ['openshell-ca', 'openshell-external-tls', 'openshell-tls-client', 'openshell-tls-server']);
    assert.deepEqual(certs['openshell-tls-client']?.usages, ['client auth']);
    assert.deepEqual(certs['openshell-external-tls']?.dnsNames, ['openshell.example.com']);
    assert.deepEqual(certs['openshell-external-tls']?.issuerRef, { kind: 'ClusterIssuer', name: 'letsencrypt', group: 'cert-manager.io' });
    assert.deepEqual(tls.external_server_names, ['openshell.example.com']);
    assert.equal(tls.client_ca_path, '/etc/openshell-tls/server/ca.crt', 'the chart CA signs both; the server Secret carries it');
  });
  const cases: [string, string[], RegExp][] = [
    ['an external Secret without hostnames', ['--set', 'tls.external.secretName=x'], /tls\.external\.secretName needs tls\.external\.serverNames/],
    ['an external issuer without cert-manager', ['--set', 'tls.external.secretName=x', '--set', 'tls.external.serverNames={a.example.com}', '--set', 'tls.external.certManager.issuerName=le'], /needs tls\.source=certManager/],
    ['an internal name for a public issuer', ['--set', 'tls.source=certManager', '--set', 'tls.external.secretName=x', '--set', 'tls.external.serverNames={gw.openshell.svc}', '--set', 'tls.external.certManager.issuerName=le'], /"gw\.openshell\.svc", an internal name/],
  ];
  for (const [what, args, re] of cases) test(`fails: ${what}`, async () => assert.match(await renderError(args), re));
});

describe('chart: credential drivers', { skip }, () => {
  test('defaults: no credential driver, the encrypted database store with its kept key', async () => {
    const { gateway, credentialDrivers, objs } = await config([]);
    assert.equal(gateway.credential_drivers, undefined);
    assert.deepEqual(credentialDrivers, {});
    assert.equal(objs.some((o) => o.metadata.name.endsWith('-credential-secrets')), false);
  });
  test('ci/credential-kubernetes-secrets: the driver table, a Role on Secrets in its own namespace, the key kept', async () => {
    const { gateway, credentialDrivers, objs } = await config(ci('credential-kubernetes-secrets'));
    assert.deepEqual(gateway.credential_drivers, ['kubernetes-secrets']);
    assert.deepEqual(credentialDrivers['kubernetes-secrets'], { namespace: 'openshell-credentials', workspace_mode: 'shared', gateway_id: 'openshell-openshell' });
    assert.deepEqual(gateway.credential_storage, { key_encryption_key_env: 'OPENSHELL_CREDENTIAL_KEY_ENCRYPTION_KEY' }, 'credentials stored before the switch still resolve');
    const role = find(objs, 'Role', 'openshell-credential-secrets');
    assert.equal(role.metadata.namespace, 'openshell-credentials');
    assert.deepEqual(rules(role), [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create', 'patch', 'delete'] }]);
    const rb = find(objs, 'RoleBinding', 'openshell-credential-secrets') as K8sObject & { subjects: { name: string; namespace: string }[] };
    assert.deepEqual(rb.subjects, [{ kind: 'ServiceAccount', name: 'openshell-gateway', namespace: 'openshell' }]);
    const off = await render([...ci('credential-kubernetes-secrets'), '--set', 'credentialDrivers.kubernetesSecrets.createRbac=false']);
    assert.equal(off.some((o) => o.kind === 'Role' && o.metadata.name === 'openshell-credential-secrets'), false);
  });
  test('ci/credential-vault: Kubernetes auth with the gateway\'s own token; token_file mounts a Secret instead', async () => {
    const { gateway, credentialDrivers, objs } = await config(ci('credential-vault'));
    assert.deepEqual(gateway.credential_drivers, ['vault']);
    assert.deepEqual(credentialDrivers.vault, {
      address: 'http://vault.vault.svc:8200', mount: 'openshell', kv_version: '2', auth_method: 'kubernetes', role: 'openshell-gateway',
      kubernetes_auth_mount: 'kubernetes', service_account_token_path: '/var/run/secrets/kubernetes.io/serviceaccount/token', timeout_secs: 10,
    });
    assert.equal(gatewayWorkload(objs).spec.template.spec.automountServiceAccountToken, true);
    const tf = await config([...ci('credential-vault'), '--set', 'credentialDrivers.vault.authMethod=token_file', '--set', 'credentialDrivers.vault.tokenSecret.name=vault-token']);
    const v = tf.credentialDrivers.vault as Table;
    assert.equal(v.token_path, '/etc/openshell-vault/token');
    for (const k of ['role', 'kubernetes_auth_mount', 'service_account_token_path']) assert.equal(v[k], undefined, `${k} is refused with token_file`);
    assert.deepEqual(volumes(tf.objs).find((x) => x.name === 'vault-token')?.secret, { secretName: 'vault-token', defaultMode: 0o400, items: [{ key: 'token', path: 'token' }] });
  });
  const cases: [string, string[], RegExp][] = [
    ['vault without an address', ['--set', 'credentialDrivers.driver=vault'], /needs credentialDrivers\.vault\.address/],
    ['vault Kubernetes auth without a role', ['--set', 'credentialDrivers.driver=vault', '--set', 'credentialDrivers.vault.address=http://v:8200'], /needs credentialDrivers\.vault\.role/],
    ['vault token_file without a Secret', ['--set', 'credentialDrivers.driver=vault', '--set', 'credentialDrivers.vault.address=http://v:8200', '--set', 'credentialDrivers.vault.authMethod=token_file'], /needs credentialDrivers\.vault\.tokenSecret\.name/],
    ['an unknown driver', ['--set', 'credentialDrivers.driver=aws'], /'kubernetes-secrets', 'vault'/],
    ['a KV version 3', ['--set', 'credentialDrivers.vault.kvVersion=3'], /kvVersion/],
  ];
  for (const [what, args, re] of cases) test(`fails: ${what}`, async () => assert.match(await renderError(args), re));
});

describe('chart: workspace modes and their ClusterRole', { skip }, () => {
  const clusterRole = (objs: K8sObject[]) => objs.find((o) => o.kind === 'ClusterRole' && o.metadata.name.startsWith('openshell-gateway-workspaces-'));
  const verbs = (rs: Rule[], resource: string) => rs.filter((r) => r.resources.includes(resource)).map((r) => ({ names: r.resourceNames, verbs: r.verbs }));
  test('shared (default): no workspace ClusterRole', async () => {
    const { k8s, objs } = await config([]);
    assert.equal(k8s.workspace_mode, 'shared');
    assert.equal(clusterRole(objs), undefined);
  });
  test('ci/workspace-managed: namespaces, ServiceAccounts, the SSH NetworkPolicy and the client certificate copy', async () => {
    const { k8s, objs } = await config(ci('workspace-managed'));
    assert.equal(k8s.workspace_mode, 'managed');
    assert.equal(k8s.gateway_id, 'openshell');
    assert.deepEqual(k8s.managed_ssh_ingress, { enabled: true, gateway_namespace: 'openshell', gateway_pod_selector: { 'app.kubernetes.io/component': 'gateway', 'app.kubernetes.io/instance': 'openshell', 'app.kubernetes.io/name': 'openshell' } });
    const pod = gatewayWorkload(objs).spec.template.metadata.labels ?? {};
    for (const [k, v] of Object.entries((k8s.managed_ssh_ingress as { gateway_pod_selector: Record<string, string> }).gateway_pod_selector)) assert.equal(pod[k], v, `the SSH policy's peer selects the gateway pods (${k})`);
    const rs = rules(clusterRole(objs) as K8sObject);
    assert.deepEqual(verbs(rs, 'sandboxes'), [{ names: undefined, verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] }]);
    assert.deepEqual(verbs(rs, 'namespaces'), [{ names: undefined, verbs: ['get', 'create', 'delete'] }]);
    assert.deepEqual(verbs(rs, 'serviceaccounts'), [{ names: undefined, verbs: ['create'] }]);
    assert.deepEqual(verbs(rs, 'networkpolicies'), [{ names: ['openshell-sandbox-ssh'], verbs: ['patch'] }, { names: undefined, verbs: ['create'] }]);
    assert.deepEqual(verbs(rs, 'secrets'), [{ names: ['openshell-tls-client'], verbs: ['get', 'patch'] }, { names: undefined, verbs: ['create'] }]);
    assert.deepEqual(verbs(rs, 'pods'), [{ names: undefined, verbs: ['get'] }]);
    for (const r of rs) assert.ok(!r.verbs.includes('*') && !r.resources.includes('*') && !r.verbs.includes('update'), 'no wildcards, no update');
    const pulls = rules(clusterRole(await render([...ci('workspace-managed'), '--set', 'sandbox.imagePullSecrets={regcred}'])) as K8sObject);
    assert.deepEqual(verbs(pulls, 'secrets')[0]?.names, ['openshell-tls-client', 'regcred'], 'image pull Secrets are copied too');
    const noNp = rules(clusterRole(await render([...ci('workspace-managed'), '--set', 'workspaces.managed.sshIngressPolicy=false'])) as K8sObject);
    assert.deepEqual(verbs(noNp, 'networkpolicies'), []);
  });
  test('ci/workspace-operator: namespaces by label (get, list, watch); by list: a mounted JSON file and get on those names only', async () => {
    const label = await config(ci('workspace-operator'));
    assert.equal(label.k8s.operator_namespace_label, 'openshell.ai/workspace=true');
    assert.equal(label.k8s.operator_namespace_file, undefined);
    assert.deepEqual(verbs(rules(clusterRole(label.objs) as K8sObject), 'namespaces'), [{ names: undefined, verbs: ['get', 'list', 'watch'] }]);
    assert.deepEqual(verbs(rules(clusterRole(label.objs) as K8sObject), 'serviceaccounts'), [], 'operators provision namespaces and ServiceAccounts');
    const list = await config(['--set', 'workspaces.mode=operator', '--set', 'workspaces.operator.namespaces={team-a,team-b}']);
    assert.equal(list.k8s.operator_namespace_file, '/etc/openshell-workspaces/namespaces.json');
    const cm = find(list.objs, 'ConfigMap', 'openshell-workspace-namespaces') as K8sObject & { data: Record<string, string> };
    assert.deepEqual(JSON.parse(cm.data['namespaces.json'] as string), ['team-a', 'team-b']);
    assert.ok(mounts(list.objs).some((m) => m.name === 'workspace-namespaces' && m.mountPath === '/etc/openshell-workspaces'));
    assert.deepEqual(verbs(rules(clusterRole(list.objs) as K8sObject), 'namespaces'), [{ names: ['team-a', 'team-b'], verbs: ['get'] }]);
  });
  test('kubernetes-secrets with workspaces: credential Secrets in every workspace namespace, so cluster-wide', async () => {
    const { credentialDrivers, objs } = await config([...ci('workspace-managed'), '--set', 'credentialDrivers.driver=kubernetes-secrets']);
    assert.equal((credentialDrivers['kubernetes-secrets'] as Table).workspace_mode, 'managed');
    assert.ok(verbs(rules(clusterRole(objs) as K8sObject), 'secrets').some((r) => r.names === undefined && r.verbs.join() === 'get,create,patch,delete'));
    assert.equal(objs.some((o) => o.kind === 'Role' && o.metadata.name === 'openshell-credential-secrets'), false);
  });
  const cases: [string, string[], RegExp][] = [
    ['operator mode with no way to find namespaces', ['--set', 'workspaces.mode=operator'], /needs workspaces\.operator\.namespaceLabel .* or workspaces\.operator\.namespaces/],
    ['operator mode with both', ['--set', 'workspaces.mode=operator', '--set', 'workspaces.operator.namespaceLabel=a=b', '--set', 'workspaces.operator.namespaces={x}'], /both set/],
    ['managed mode with a gateway id over 33 characters', ['--set', 'workspaces.mode=managed', '--set', 'fullnameOverride=a-rather-long-release-name-here'], /33 characters.*auth\.sandboxJwt\.gatewayId/s],
    ['an unknown mode', ['--set', 'workspaces.mode=cluster'], /'shared', 'managed', 'operator'/],
  ];
  for (const [what, args, re] of cases) test(`fails: ${what}`, async () => assert.match(await renderError(args), re));
});

describe('chart: supervisor topology, corporate proxy, SPIFFE token grants', { skip }, () => {
  test('defaults: combined topology, the sidecar defaults, no proxy, no SPIFFE', async () => {
    const { k8s } = await config([]);
    assert.equal(k8s.topology, 'combined');
    assert.deepEqual(k8s.sidecar, { proxy_uid: 1337, process_binary_aware_network_policy: true });
    for (const k of ['https_proxy', 'no_proxy', 'proxy_auth_secret_name', 'provider_spiffe_workload_api_socket_path']) assert.equal(k8s[k], undefined, k);
  });
  test('ci/sidecar-proxy: sidecar topology and the proxy with its credential Secret', async () => {
    const { k8s } = await config(ci('sidecar-proxy'));
    assert.equal(k8s.topology, 'sidecar');
    assert.equal(k8s.https_proxy, 'http://proxy.corp.example.com:3128');
    assert.equal(k8s.no_proxy, '.corp.example.com,10.0.0.0/8');
    assert.equal(k8s.proxy_auth_secret_name, 'corporate-proxy-auth');
    assert.equal(k8s.proxy_auth_secret_key, 'credentials');
    assert.equal(k8s.proxy_auth_allow_insecure, true);
    assert.equal(k8s.proxy_connect_by_hostname, undefined);
    // The sandbox NetworkPolicy lets sandboxes reach the proxy's private address on the URL's port.
    const np = find(await render(ci('sidecar-proxy')), 'NetworkPolicy', 'openshell-sandboxes') as K8sObject & { spec: { egress: { to?: unknown[]; ports?: { port: number }[] }[] } };
    assert.ok(np.spec.egress.some((r) => JSON.stringify(r.to) === JSON.stringify([{ ipBlock: { cidr: '10.40.0.15/32' } }]) && r.ports?.[0]?.port === 3128));
    const noPeers = find(await render([...ci('sidecar-proxy'), '--set', 'upstreamProxy.networkPolicyTo=null']), 'NetworkPolicy', 'openshell-sandboxes') as typeof np;
    assert.equal(noPeers.spec.egress.some((r) => r.ports?.[0]?.port === 3128), false);
    const relaxed = await config([...ci('sidecar-proxy'), '--set', 'supervisor.sidecar.processBinaryAwareNetworkPolicy=false', '--set', 'supervisor.sidecar.proxyUid=2000', '--set', 'upstreamProxy.connectByHostname=true']);
    assert.deepEqual(relaxed.k8s.sidecar, { proxy_uid: 2000, process_binary_aware_network_policy: false });
    assert.equal(relaxed.k8s.proxy_connect_by_hostname, true);
  });
  test('ci/spiffe: the Workload API socket path for sandbox pods', async () => {
    const { k8s } = await config(ci('spiffe'));
    assert.equal(k8s.provider_spiffe_workload_api_socket_path, '/spiffe-workload-api/spire-agent.sock');
  });
  const cases: [string, string[], RegExp][] = [
    ['a proxy credential in combined topology', ['--set', 'upstreamProxy.url=http://p:3128', '--set', 'upstreamProxy.authSecret.name=a', '--set', 'upstreamProxy.authSecret.key=k', '--set', 'upstreamProxy.authAllowInsecure=true'], /needs supervisor\.topology=sidecar/],
    ['a proxy credential without the cleartext acknowledgement', ['--set', 'supervisor.topology=sidecar', '--set', 'upstreamProxy.url=http://p:3128', '--set', 'upstreamProxy.authSecret.name=a', '--set', 'upstreamProxy.authSecret.key=k'], /authAllowInsecure=true/],
    ['a proxy Secret without a key', ['--set', 'upstreamProxy.url=http://p:3128', '--set', 'upstreamProxy.authSecret.name=a'], /needs upstreamProxy\.authSecret\.key/],
    ['an https proxy', ['--set', 'upstreamProxy.url=https://p:3128'], /upstreamProxy[./]url/],
    ['credentials in the proxy URL', ['--set', 'upstreamProxy.url=http://u:p@proxy:3128'], /no credentials in the URL/],
    ['noProxy without a proxy', ['--set', 'upstreamProxy.noProxy=.corp'], /need upstreamProxy\.url/],
    ['proxy NetworkPolicy peers without a proxy', ['--set', 'upstreamProxy.networkPolicyTo[0].ipBlock.cidr=10.0.0.1/32'], /need upstreamProxy\.url/],
    ['an unknown topology', ['--set', 'supervisor.topology=split'], /'combined', 'sidecar'/],
    ['a sidecar UID below 1000', ['--set', 'supervisor.sidecar.proxyUid=0'], /proxyUid/],
    ['a relative SPIFFE socket path', ['--set', 'providerTokenGrants.spiffe.workloadApiSocketPath=spire.sock'], /workloadApiSocketPath/],
    ['a SPIFFE socket directly under /', ['--set', 'providerTokenGrants.spiffe.workloadApiSocketPath=/spire.sock'], /workloadApiSocketPath/],
  ];
  for (const [what, args, re] of cases) test(`fails: ${what}`, async () => assert.match(await renderError(args), re));
});
