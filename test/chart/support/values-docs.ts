// values.yaml is the single source for the chart's value reference: this
// module derives values.schema.json and the README's value table from it (the
// `# --` comment above each key, the default, plus the rules below that a
// default alone cannot express: enums, nullable values, Kubernetes objects).
//   node test/chart/support/values-docs.ts --write   regenerate both files
// test/chart/docs.test.ts fails when either file is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type Pair, type YAMLMap } from 'yaml';

export const chartDir = join(import.meta.dirname, '../../../deploy/helm/openshell');

type Schema = Record<string, unknown>;
const PULL_POLICY = { type: 'string', enum: ['Always', 'IfNotPresent', 'Never'] };
const QUANTITY = { type: ['string', 'number'] };
const INT_OR_PERCENT = { type: ['integer', 'string'], pattern: '^[0-9]+%?$' };
const PORT = { type: 'integer', minimum: 1, maximum: 65535 };
const MAP_OF_STRINGS = { type: 'object', additionalProperties: { type: 'string' } };
const K8S_OBJECT = { type: 'object' }; // a Kubernetes API object, validated by the API server
const K8S_OBJECTS = { type: 'array', items: { type: 'object' } };
const STRINGS = { type: 'array', items: { type: 'string' } };
const SECRET_NAME = { type: 'string', pattern: '^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)?$' };
const DURATION = { type: 'string', pattern: '^([0-9]+(h|m|s))+$' };
const DIGEST = { type: 'string', pattern: '^(sha256:[a-f0-9]{64})?$' };
const RESOURCES = {
  type: 'object',
  additionalProperties: false,
  properties: {
    requests: { type: 'object', additionalProperties: QUANTITY },
    limits: { type: 'object', additionalProperties: QUANTITY },
  },
};

const PERCENT_OR_NULL = { type: ['integer', 'null'], minimum: 1, maximum: 1000 };
const IP_OR_EMPTY = { type: 'string', pattern: '^(|((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)$' };

/** Workload kind, autoscaling, OpenShift, runtime classes, API limits, host aliases, managed SSH ingress. */
const platformRules: Record<string, Schema> = {
  'sandbox.hostGatewayIp': IP_OR_EMPTY,
  'workload.kind': { type: 'string', enum: ['', 'StatefulSet', 'Deployment'] },
  'autoscaling.minReplicas': { type: 'integer', minimum: 1 },
  'autoscaling.maxReplicas': { type: 'integer', minimum: 1 },
  'autoscaling.targetCPUUtilizationPercentage': PERCENT_OR_NULL,
  'autoscaling.targetMemoryUtilizationPercentage': PERCENT_OR_NULL,
  'autoscaling.behavior': K8S_OBJECT,
  'openshift.enabled': { type: ['string', 'boolean'], enum: ['auto', true, false] },
  'openshift.route.host': { type: 'string', pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$' },
  'openshift.route.annotations': MAP_OF_STRINGS,
  'runtimeClasses.create': {
    type: 'array',
    items: {
      type: 'object',
      required: ['name', 'handler'],
      additionalProperties: false,
      properties: {
        name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$' },
        handler: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' },
        overhead: { type: 'object', properties: { podFixed: { type: 'object', additionalProperties: QUANTITY } }, additionalProperties: false },
        scheduling: { type: 'object' },
      },
    },
  },
  'grpcRateLimit.requests': { type: 'integer', minimum: 0 },
  'grpcRateLimit.windowSeconds': { type: 'integer', minimum: 0 },
  'sandboxPolicy.validationFailureMode': { type: 'string', enum: ['fail_closed', 'retain_last_valid'] },
};

/** Rules by dotted path; merged over the inferred schema (a rule with `type` replaces it). */
const rules: Record<string, Schema> = {
  replicaCount: { type: 'integer', minimum: 1 },
  imagePullSecrets: STRINGS,
  'image.pullPolicy': PULL_POLICY,
  'image.digest': DIGEST,
  'supervisor.image.pullPolicy': PULL_POLICY,
  'supervisor.image.digest': DIGEST,
  'supervisor.sideloadMethod': { type: 'string', enum: ['', 'image-volume', 'init-container'] },
  'database.sqlite.path': { type: 'string', pattern: '^/.+/[^/]+$' },
  'persistence.accessModes': {
    type: 'array',
    minItems: 1,
    items: { type: 'string', enum: ['ReadWriteOnce', 'ReadWriteOncePod', 'ReadWriteMany', 'ReadOnlyMany'] },
  },
  'persistence.size': { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$' },
  'persistence.annotations': MAP_OF_STRINGS,
  'logging.level': { type: 'string', enum: ['trace', 'debug', 'info', 'warn', 'error'] },
  'tls.source': { type: 'string', enum: ['generate', 'certManager', 'existing'] },
  'tls.serverSecretName': SECRET_NAME,
  'tls.clientSecretName': SECRET_NAME,
  'tls.extraServerSans': STRINGS,
  'tls.certManager.duration': DURATION,
  'tls.certManager.renewBefore': DURATION,
  'certHook.backoffLimit': { type: 'integer', minimum: 0 },
  'certHook.activeDeadlineSeconds': { type: 'integer', minimum: 1 },
  'certHook.resources': RESOURCES,
  'credentialStorage.existingSecret': SECRET_NAME,
  'gateway.extraArgs': STRINGS,
  'gateway.extraEnv': K8S_OBJECTS,
  'gateway.podAnnotations': MAP_OF_STRINGS,
  'gateway.podLabels': MAP_OF_STRINGS,
  'gateway.resources': RESOURCES,
  'gateway.terminationGracePeriodSeconds': { type: 'integer', minimum: 0 },
  'gateway.preStopSleepSeconds': { type: 'integer', minimum: 0 },
  'gateway.nodeSelector': MAP_OF_STRINGS,
  'gateway.tolerations': K8S_OBJECTS,
  'gateway.affinity': K8S_OBJECT,
  'gateway.topologySpread.maxSkew': { type: 'integer', minimum: 1 },
  'gateway.topologySpread.whenUnsatisfiable': { type: 'string', enum: ['ScheduleAnyway', 'DoNotSchedule'] },
  'gateway.rollingUpdate.maxUnavailable': INT_OR_PERCENT,
  'gateway.rollingUpdate.maxSurge': INT_OR_PERCENT,
  'gateway.podSecurityContext': K8S_OBJECT,
  'gateway.securityContext': K8S_OBJECT,
  'service.type': { type: 'string', enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] },
  'service.annotations': MAP_OF_STRINGS,
  'service.ports.grpc': PORT,
  'service.ports.health': PORT,
  'service.ports.metrics': PORT,
  'service.nodePort': { type: ['integer', 'null'], minimum: 30000, maximum: 32767 },
  'serviceAccount.annotations': MAP_OF_STRINGS,
  'sandboxServiceAccount.annotations': MAP_OF_STRINGS,
  'sandbox.namespace': { type: 'string', pattern: '^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$' },
  'sandbox.namespaceLabels': MAP_OF_STRINGS,
  'sandbox.imagePullPolicy': { type: 'string', enum: ['', 'Always', 'IfNotPresent', 'Never'] },
  'sandbox.imagePullSecrets': STRINGS,
  'sandbox.appArmorProfile': { type: 'string', pattern: '^(|RuntimeDefault|Unconfined|Localhost/.+)$' },
  'sandbox.workspaceStorageSize': { type: 'string', pattern: '^([0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?)?$' },
  'auth.sandboxJwt.gatewayId': { type: 'string', pattern: '^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$' },
  'auth.sandboxJwt.ttlSeconds': { type: 'integer', minimum: 0 },
  'auth.sandboxJwt.saTokenTtlSeconds': { type: 'integer', minimum: 600, maximum: 86400 },
  'ingress.gatewayAPI.hostnames': STRINGS,
  'ingress.gatewayAPI.parentRefs': K8S_OBJECTS,
  'ingress.gatewayAPI.annotations': MAP_OF_STRINGS,
  'ingress.gatewayAPI.listenerPort': PORT,
  'ingress.gatewayAPI.tls.source': { type: 'string', enum: ['secret', 'certManager'] },
  'ingress.gatewayAPI.tls.certManager.issuerKind': { type: 'string', enum: ['ClusterIssuer', 'Issuer'] },
  'auth.oidc.issuer': { type: 'string', pattern: '^(https?://.+)?$' },
  'auth.oidc.jwksTtlSeconds': { type: 'integer', minimum: 0 },
  'metrics.serviceMonitor.interval': { type: 'string', pattern: '^[0-9]+(ms|s|m|h)$' },
  'metrics.serviceMonitor.scrapeTimeout': { type: 'string', pattern: '^[0-9]+(ms|s|m|h)$' },
  'metrics.serviceMonitor.labels': MAP_OF_STRINGS,
  'metrics.grafanaDashboard.labels': MAP_OF_STRINGS,
  'metrics.grafanaDashboard.annotations': MAP_OF_STRINGS,
  'networkPolicy.gateway.grpcFrom': K8S_OBJECTS,
  'networkPolicy.gateway.metricsFrom': K8S_OBJECTS,
  'networkPolicy.sandbox.exceptCIDRs': STRINGS,
  'podDisruptionBudget.maxUnavailable': INT_OR_PERCENT,
  'podDisruptionBudget.minAvailable': { type: ['integer', 'string', 'null'], pattern: '^[0-9]+%?$' },
  // TLS extras, credential drivers, workspaces, topology, proxy, SPIFFE (templates/_security.tpl).
  'supervisor.topology': { type: 'string', enum: ['combined', 'sidecar'] },
  'supervisor.sidecar.proxyUid': { type: 'integer', minimum: 1000, maximum: 4294967294 },
  'tls.clientCaSecretName': SECRET_NAME,
  'tls.external.secretName': SECRET_NAME,
  'tls.external.serverNames': STRINGS,
  'tls.external.certManager.issuerKind': { type: 'string', enum: ['ClusterIssuer', 'Issuer'] },
  'credentialDrivers.driver': { type: 'string', enum: ['', 'kubernetes-secrets', 'vault'] },
  'credentialDrivers.kubernetesSecrets.namespace': { type: 'string', pattern: '^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$' },
  'credentialDrivers.vault.address': { type: 'string', pattern: '^(https?://[^@?#]+)?$' },
  'credentialDrivers.vault.kvVersion': { type: 'string', enum: ['1', '2'] },
  'credentialDrivers.vault.authMethod': { type: 'string', enum: ['kubernetes', 'token_file'] },
  'credentialDrivers.vault.tokenSecret.name': SECRET_NAME,
  'credentialDrivers.vault.timeoutSeconds': { type: 'integer', minimum: 0 },
  'workspaces.mode': { type: 'string', enum: ['shared', 'managed', 'operator'] },
  'workspaces.operator.namespaces': { type: 'array', items: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' } },
  'upstreamProxy.url': { type: 'string', pattern: '^(http://.+)?$' },
  'upstreamProxy.authSecret.name': SECRET_NAME,
  'upstreamProxy.networkPolicyTo': K8S_OBJECTS,
  'upstreamProxy.authSecret.key': { type: 'string', pattern: '^[-._a-zA-Z0-9]{0,253}$' },
  'providerTokenGrants.spiffe.workloadApiSocketPath': { type: 'string', pattern: '^/[^/\\s]+(/[^/\\s]+)+$' },
  ...platformRules,
  // helm test hook (templates/tests/)
  'tests.image.repository': { type: 'string', minLength: 1 },
  'tests.image.tag': { type: 'string', minLength: 1 },
  'tests.image.digest': DIGEST,
  'tests.image.pullPolicy': PULL_POLICY,
  'tests.timeoutSeconds': { type: 'integer', minimum: 1 },
  'tests.resources': RESOURCES,
};

export interface ValueDoc {
  key: string;
  type: string;
  default: unknown;
  description: string;
}

function comment(pair: Pair, parent: YAMLMap, index: number): string {
  // The yaml parser attaches a comment above a map's first key to the map itself.
  const own = (pair.key as { commentBefore?: string | null } | null)?.commentBefore;
  const c = own ?? (index === 0 ? parent.commentBefore : '') ?? '';
  const lines = c.split('\n').map((l) => l.replace(/^ ?/, ''));
  const start = lines.findIndex((l) => l.startsWith('-- '));
  if (start < 0) return '';
  return lines
    .slice(start)
    .map((l, i) => (i === 0 ? l.slice(3) : l))
    .join(' ')
    .trim();
}

function inferType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** Walk values.yaml; documented leaves (and documented maps treated as one value) become rows. */
export function valueDocs(text: string): { docs: ValueDoc[]; schema: Schema } {
  const doc = parseDocument(text);
  const docs: ValueDoc[] = [];
  const walk = (map: YAMLMap, prefix: string): Schema => {
    const properties: Record<string, Schema> = {};
    for (const [index, pair] of map.items.entries()) {
      const name = String((pair.key as { value: unknown }).value);
      const key = prefix ? `${prefix}.${name}` : name;
      const description = comment(pair, map, index);
      const rule = rules[key];
      const node = pair.value;
      if (isMap(node) && node.items.length > 0 && !description) {
        properties[name] = walk(node, key);
        continue;
      }
      const value: unknown = isScalar(node) || isMap(node) || isSeq(node) ? node.toJSON() : null;
      if (!description) throw new Error(`values.yaml: ${key} has no "# --" description`);
      let schema: Schema = { type: inferType(value) };
      if (Array.isArray(value)) schema = { type: 'array', items: { type: inferType(value[0] ?? '') } };
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) schema = { type: 'object' };
      if (rule) schema = { ...schema, ...rule };
      properties[name] = { description, ...schema };
      const t = schema.type;
      docs.push({ key, type: Array.isArray(t) ? t.join(' \\| ') : String(t), default: value, description });
    }
    return { type: 'object', additionalProperties: false, properties };
  };
  const root = walk(doc.contents as YAMLMap, '');
  const rootProps = root.properties as Record<string, Schema>;
  // Helm may hand every chart a `global` map.
  rootProps.global = { type: 'object', description: 'Helm global values (unused by this chart).' };
  for (const key of Object.keys(rules)) {
    if (!docs.some((d) => d.key === key)) throw new Error(`schema rule for unknown value ${key}`);
  }
  const schema: Schema = {
    $schema: 'https://json-schema.org/draft-07/schema#',
    title: 'OpenShell chart values',
    ...root,
  };
  return { docs, schema };
}

export function renderTable(docs: ValueDoc[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const rows = docs.map((d) => `| \`${d.key}\` | ${d.type} | \`${esc(JSON.stringify(d.default))}\` | ${esc(d.description)} |`);
  return ['| Key | Type | Default | Description |', '|---|---|---|---|', ...rows].join('\n');
}

export const TABLE_BEGIN = '<!-- values:begin (generated by test/chart/support/values-docs.ts) -->';
export const TABLE_END = '<!-- values:end -->';

/** The expected contents of values.schema.json and README.md. */
export function expectedFiles(): { schema: string; readme: string } {
  const { docs, schema } = valueDocs(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
  const readme = readFileSync(join(chartDir, 'README.md'), 'utf8');
  const begin = readme.indexOf(TABLE_BEGIN);
  const end = readme.indexOf(TABLE_END);
  if (begin < 0 || end < begin) throw new Error(`README.md needs the markers ${TABLE_BEGIN} ... ${TABLE_END}`);
  const table = `${TABLE_BEGIN}\n${renderTable(docs)}\n`;
  return {
    schema: `${JSON.stringify(schema, null, 2)}\n`,
    readme: readme.slice(0, begin) + table + readme.slice(end),
  };
}

if (process.argv.includes('--write')) {
  const files = expectedFiles();
  writeFileSync(join(chartDir, 'values.schema.json'), files.schema);
  writeFileSync(join(chartDir, 'README.md'), files.readme);
  console.log('wrote values.schema.json and README.md');
}
