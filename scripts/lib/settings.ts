// Every user-facing setting in one typed place: defaults, then `.env`, then the
// environment. Each value is validated; a bad one is a SettingsError (exit 2)
// that names the setting, the value and what is allowed.
import { isIP } from 'node:net';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseEnv } from 'node:util';

export const SIDELOAD_METHODS = ['image-volume', 'init-container'] as const;
export type SideloadMethod = (typeof SIDELOAD_METHODS)[number];
export const PROVIDERS = ['k3d', 'kwok', 'existing'] as const;
export type ProviderName = (typeof PROVIDERS)[number];
export const ENGINES = ['docker', 'podman'] as const;
export type EngineName = (typeof ENGINES)[number];

/** NodePort the gateway Service uses in values.dev.yaml; the k3d load balancer maps the HTTP port to it. */
export const GATEWAY_NODE_PORT = 30051;

export interface Settings {
  cluster: string;
  agents: number;
  httpPort: number;
  registryPort: number;
  registryName: string;
  kubeconfig: string;
  mergeKubeconfig: boolean;
  provider: ProviderName;
  context: string;
  sourceDir: string | undefined;
  engine: EngineName | undefined;
  k3sImage: string;
  /** k3d's registry image (undefined: k3d's default, registry:2). */
  registryImage: string | undefined;
  namespace: string;
  sandboxNamespace: string;
  release: string;
  sideloadMethod: SideloadMethod | undefined;
  agentSandboxVersion: string;
  agentSandboxManifest: string;
  timeoutSec: number;
  gatewayCommand: string;
  gatewayBuildCommand: string;
  gatewayBaseImage: string | undefined;
  /** gateway task: the out-of-cluster gateway's port, listen address ('' = derived), pods' endpoint ('' = derived), default sandbox image. */
  gatewayPort: number;
  gatewayBindAddress: string;
  grpcEndpoint: string;
  sandboxImage: string;
  /** Label selector of the sandbox pods whose sandboxes the sideload task restarts. */
  sandboxSelector: string;
  /** Command that builds the supervisor binary in the OpenShell checkout. */
  supervisorBuildCommand: string;
  /** kwok provider (test bed): OPENSHELL_DEV_KUBE_BIN_DIR as given, resolved and checked by the provider. */
  kubeBinDir: string;
  /** kwok provider: kwokctl's work directory (clusters/<name>: config, pki, logs, pids). */
  kwokDir: string;
  /** k8s:chart:publish: where the chart goes (oci://host[:port]/path; '' = the dev registry's oci://localhost:<port>/charts), its version and appVersion ('' = Chart.yaml's). */
  chartRegistry: string;
  chartVersion: string;
  chartAppVersion: string;
  /** Each setting as given (before validation), and where it came from, for status. */
  given: Record<string, string>;
  origin: Record<string, 'default' | '.env' | 'environment'>;
}

export class SettingsError extends Error {
  readonly exitCode = 2;
}

export interface SettingSpec {
  name: string;
  default: string;
  describe: string;
}

export const AGENT_SANDBOX_VERSION = 'v0.5.5';
export const K3S_IMAGE = 'rancher/k3s:v1.35.1-k3s1';
/**
 * The supervisor runs inside arbitrary sandbox images, so it is built static (glibc's static-pie).
 * Only its final link gets +crt-static (`cargo rustc -- …`, not RUSTFLAGS), so it reuses every
 * crate the gateway's build already compiled instead of building them all again.
 */
export const SUPERVISOR_BUILD_COMMAND = 'cargo rustc --release -p openshell-sandbox --bin openshell-sandbox -- -C target-feature=+crt-static';

/** The settings table, in README order. Defaults are strings, as in the environment. */
export const SETTINGS: SettingSpec[] = [
  { name: 'OPENSHELL_DEV_CLUSTER', default: 'openshell-dev', describe: 'Cluster name (DNS label, at most 32 characters: k3d\'s limit)' },
  { name: 'OPENSHELL_DEV_CLUSTER_PROVIDER', default: 'k3d', describe: 'k3d (k3s in containers), existing (any kubeconfig context), or kwok (the test bed: a local control plane with simulated nodes)' },
  { name: 'OPENSHELL_DEV_AGENTS', default: '1', describe: 'k3d agent nodes (0–9)' },
  { name: 'OPENSHELL_DEV_HTTP_PORT', default: '8080', describe: `Host port mapped to the gateway NodePort ${GATEWAY_NODE_PORT}` },
  { name: 'OPENSHELL_DEV_REGISTRY_PORT', default: '5000', describe: 'Host port of the local registry (localhost:<port>)' },
  { name: 'OPENSHELL_DEV_REGISTRY_NAME', default: 'openshell-registry', describe: 'Registry host name seen from pods (<name>:5000)' },
  { name: 'OPENSHELL_DEV_KUBECONFIG', default: '~/.kube/k3d-openshell-dev.yaml', describe: 'The cluster\'s own kubeconfig file' },
  { name: 'OPENSHELL_DEV_MERGE_KUBECONFIG', default: 'false', describe: 'Also merge our entries into your default kubeconfig (atomic, with a backup)' },
  { name: 'OPENSHELL_DEV_CONTEXT', default: '', describe: 'existing provider: the context to use (default: the current one)' },
  { name: 'OPENSHELL_SOURCE_DIR', default: '', describe: 'The OpenShell checkout (default: the repository this kit lives in)' },
  { name: 'CONTAINER_ENGINE', default: '', describe: 'docker or podman (default: detected)' },
  { name: 'OPENSHELL_DEV_K3S_IMAGE', default: K3S_IMAGE, describe: 'k3s image for k3d (1.35+ for image volumes)' },
  { name: 'OPENSHELL_DEV_REGISTRY_IMAGE', default: '', describe: 'Image of the registry k3d creates (default: k3d\'s, docker.io/library/registry:2); for a mirror or an offline copy' },
  { name: 'OPENSHELL_DEV_NAMESPACE', default: 'openshell', describe: 'Namespace of the gateway and its Helm release' },
  { name: 'OPENSHELL_SANDBOX_NAMESPACE', default: 'openshell', describe: 'Namespace of sandbox pods' },
  { name: 'OPENSHELL_DEV_RELEASE', default: 'openshell', describe: 'Helm release name' },
  { name: 'OPENSHELL_SUPERVISOR_SIDELOAD_METHOD', default: '', describe: 'image-volume, init-container, or empty to choose by cluster version (1.35+ → image-volume)' },
  { name: 'OPENSHELL_DEV_AGENT_SANDBOX_VERSION', default: AGENT_SANDBOX_VERSION, describe: 'agent-sandbox release applied by bootstrap' },
  { name: 'OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST', default: '', describe: 'URL or local file of the agent-sandbox manifest (default: the pinned release\'s)' },
  { name: 'OPENSHELL_DEV_TIMEOUT', default: '300', describe: 'Seconds any single wait may take' },
  { name: 'OPENSHELL_DEV_GATEWAY_BUILD_COMMAND', default: 'cargo build --release -p openshell-server --features bundled-z3', describe: 'Command `k8s:dev:sync` runs in the OpenShell checkout to build the gateway (package openshell-server, binary: target/release/openshell-gateway; bundled-z3 so it runs on the Dockerfile\'s distroless base, as upstream\'s images do)' },
  { name: 'OPENSHELL_DEV_GATEWAY_BASE_IMAGE', default: '', describe: 'Base image of the gateway image (default: the Dockerfile\'s, a distroless glibc image)' },
  { name: 'OPENSHELL_DEV_GATEWAY_COMMAND', default: 'cargo run -p openshell-server --', describe: 'Command the gateway task runs in the OpenShell checkout (the openshell-gateway binary; the task adds its arguments)' },
  { name: 'OPENSHELL_DEV_GATEWAY_PORT', default: '17670', describe: 'gateway task: port of the out-of-cluster gateway (gRPC and HTTP)' },
  { name: 'OPENSHELL_DEV_GATEWAY_BIND_ADDRESS', default: '', describe: 'gateway task: address it listens on (default: the k3d network\'s gateway address on Linux, else 127.0.0.1)' },
  { name: 'OPENSHELL_DEV_GRPC_ENDPOINT', default: '', describe: 'gateway task: where sandbox pods reach the gateway (default: http://host.k3d.internal:<port> on k3d, else http://<bind address>:<port>)' },
  { name: 'OPENSHELL_DEV_SANDBOX_IMAGE', default: 'ghcr.io/nvidia/openshell-community/sandboxes/base:latest', describe: 'gateway task: image of sandboxes that name none (the gateway\'s default_image)' },
  { name: 'OPENSHELL_DEV_SANDBOX_SELECTOR', default: 'agents.x-k8s.io/sandbox-name-hash', describe: 'Label selector of the sandbox pods `k8s:dev:sideload` updates (default: every pod the agent-sandbox controller made for a Sandbox; the driver\'s openshell.ai/* labels are on the Sandbox resource, not its pod)' },
  { name: 'OPENSHELL_DEV_SUPERVISOR_BUILD_COMMAND', default: SUPERVISOR_BUILD_COMMAND, describe: 'Command `k8s:dev:sync` and `k8s:dev:sideload` run in the OpenShell checkout to build the supervisor; it must be static (it runs inside any sandbox image): glibc with +crt-static, as upstream builds it without musl' },
  { name: 'OPENSHELL_DEV_KUBE_BIN_DIR', default: '', describe: 'Test bed (kwok provider): directory holding kube-apiserver, kube-controller-manager and kube-scheduler (default: where kube-apiserver is on PATH)' },
  { name: 'OPENSHELL_DEV_KWOK_DIR', default: '~/.kwok', describe: 'Test bed (kwok provider): kwokctl\'s work directory (clusters/<name> holds config, certificates, logs and pids)' },
  { name: 'OPENSHELL_CHART_REGISTRY', default: '', describe: '`k8s:chart:publish`: the OCI registry and path the chart is pushed to, e.g. oci://ghcr.io/nvidia/openshell/charts (default: the dev registry, oci://localhost:<OPENSHELL_DEV_REGISTRY_PORT>/charts; localhost is spoken to over plain HTTP)' },
  { name: 'OPENSHELL_CHART_VERSION', default: '', describe: '`k8s:chart:publish`: the chart version, SemVer 2 without a leading v (default: Chart.yaml\'s version)' },
  { name: 'OPENSHELL_CHART_APP_VERSION', default: '', describe: '`k8s:chart:publish`: the appVersion, the OpenShell release whose images the chart runs, SemVer without a leading v (default: Chart.yaml\'s appVersion)' },
];

/** SemVer 2.0.0 (semver.org's regular expression): Helm's rule for chart versions. */
export const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
/** An OCI registry and repository path as helm push takes it: oci://host[:port][/path]. */
export const OCI_REGISTRY = /^oci:\/\/(?:[a-zA-Z0-9](?:[-a-zA-Z0-9.]*[a-zA-Z0-9])?|\[[0-9a-fA-F:]+\])(?::\d{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*\/?$/;

export function agentSandboxManifestUrl(version: string): string {
  return `https://github.com/kubernetes-sigs/agent-sandbox/releases/download/${version}/manifest.yaml`;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Directory holding `.env` (default: the kit's root). */
  root?: string;
  home?: string;
}

export const KIT_ROOT = resolve(import.meta.dirname, '..', '..');

/** Raw values with their origin: defaults, then .env, then the environment. */
export function rawSettings(opts: LoadOptions = {}): Map<string, { value: string; origin: 'default' | '.env' | 'environment' }> {
  const env = opts.env ?? process.env;
  const dotenvPath = join(opts.root ?? KIT_ROOT, '.env');
  let fromFile: Record<string, string> = {};
  if (existsSync(dotenvPath)) {
    try {
      fromFile = parseEnv(readFileSync(dotenvPath, 'utf8')) as Record<string, string>;
    } catch (err) {
      throw new SettingsError(`${dotenvPath} cannot be read: ${(err as Error).message}`);
    }
  }
  const out = new Map<string, { value: string; origin: 'default' | '.env' | 'environment' }>();
  for (const spec of SETTINGS) {
    const fromEnv = env[spec.name];
    if (fromEnv !== undefined) out.set(spec.name, { value: fromEnv, origin: 'environment' });
    else if (fromFile[spec.name] !== undefined) out.set(spec.name, { value: fromFile[spec.name]!, origin: '.env' });
    else out.set(spec.name, { value: spec.default, origin: 'default' });
  }
  return out;
}

function bad(name: string, value: string, allowed: string): never {
  throw new SettingsError(`${name}=${JSON.stringify(value)} is not valid: ${allowed}`);
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[], allowEmpty: boolean): T | undefined {
  const v = value.trim();
  if (v === '' && allowEmpty) return undefined;
  if ((allowed as readonly string[]).includes(v)) return v as T;
  return bad(name, value, `allowed values are ${allowed.join(', ')}${allowEmpty ? ', or empty' : ''}`);
}

function integer(name: string, value: string, min: number, max: number, what: string): number {
  const v = value.trim();
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) return bad(name, value, `must be ${what} (${min}–${max})`);
  return Number(v);
}

function boolean(name: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['', '0', 'false', 'no', 'off'].includes(v)) return false;
  return bad(name, value, 'must be true or false');
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
function label(name: string, value: string, max: number): string {
  if (!dnsLabel.test(value) || value.length > max) {
    return bad(name, value, `must be lowercase letters, digits and '-', starting and ending with a letter or digit, at most ${max} characters`);
  }
  return value;
}

// A Kubernetes label selector: comma-separated requirements, each `key`, `!key`,
// `key=value`, `key==value`, `key!=value`, `key in (a,b)` or `key notin (a,b)`.
// Never empty: an empty selector would match every pod in the namespace.
const labelKey = String.raw`(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?`;
const labelValue = String.raw`(?:[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?`;
const requirement = new RegExp(
  String.raw`^\s*(?:!\s*${labelKey}|${labelKey}\s*(?:(?:==|!=|=)\s*${labelValue}|\s(?:in|notin)\s*\(\s*${labelValue}(?:\s*,\s*${labelValue})*\s*\))?)\s*$`,
);
export function labelSelector(name: string, value: string): string {
  const v = value.trim();
  // Split on commas outside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of v) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  if (v === '' || depth !== 0 || !parts.every((p) => requirement.test(p))) {
    return bad(name, value, 'must be a non-empty Kubernetes label selector, such as app.kubernetes.io/component=sandbox or app in (a,b),tier!=x');
  }
  return v;
}

function expandHome(path: string, home: string): string {
  return path === '~' ? home : path.startsWith('~/') ? join(home, path.slice(2)) : path;
}

export function loadSettings(opts: LoadOptions = {}): Settings {
  const raw = rawSettings(opts);
  const home = opts.home ?? homedir();
  const get = (n: string) => raw.get(n)!.value;
  const origin = Object.fromEntries([...raw].map(([k, v]) => [k, v.origin]));
  const given = Object.fromEntries([...raw].map(([k, v]) => [k, v.value]));

  const cluster = label('OPENSHELL_DEV_CLUSTER', get('OPENSHELL_DEV_CLUSTER'), 32);
  const provider = oneOf('OPENSHELL_DEV_CLUSTER_PROVIDER', get('OPENSHELL_DEV_CLUSTER_PROVIDER'), PROVIDERS, false)!;
  const agents = integer('OPENSHELL_DEV_AGENTS', get('OPENSHELL_DEV_AGENTS'), 0, 9, 'a whole number of agent nodes');
  const httpPort = integer('OPENSHELL_DEV_HTTP_PORT', get('OPENSHELL_DEV_HTTP_PORT'), 1, 65535, 'a TCP port number');
  const registryPort = integer('OPENSHELL_DEV_REGISTRY_PORT', get('OPENSHELL_DEV_REGISTRY_PORT'), 1, 65535, 'a TCP port number');
  if (httpPort === registryPort) {
    bad('OPENSHELL_DEV_REGISTRY_PORT', String(registryPort), `must differ from OPENSHELL_DEV_HTTP_PORT (${httpPort})`);
  }
  const registryName = label('OPENSHELL_DEV_REGISTRY_NAME', get('OPENSHELL_DEV_REGISTRY_NAME'), 63);

  const kubeconfigRaw = get('OPENSHELL_DEV_KUBECONFIG').trim();
  const kubeconfig = resolve(expandHome(kubeconfigRaw, home));
  if (kubeconfigRaw === '' || (existsSync(kubeconfig) && statSync(kubeconfig).isDirectory())) {
    bad('OPENSHELL_DEV_KUBECONFIG', kubeconfigRaw, 'must be the path of a file (it is created if absent)');
  }

  const sourceRaw = get('OPENSHELL_SOURCE_DIR').trim();
  let sourceDir: string | undefined;
  if (sourceRaw !== '') {
    sourceDir = resolve(expandHome(sourceRaw, home));
    if (!existsSync(sourceDir) || !statSync(sourceDir).isDirectory()) {
      bad('OPENSHELL_SOURCE_DIR', sourceRaw, 'must be an existing directory: the OpenShell checkout');
    }
  }

  const manifestRaw = get('OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST').trim();
  const agentSandboxVersion = get('OPENSHELL_DEV_AGENT_SANDBOX_VERSION').trim();
  if (!/^v\d+\.\d+\.\d+(-[\w.]+)?$/.test(agentSandboxVersion)) {
    bad('OPENSHELL_DEV_AGENT_SANDBOX_VERSION', agentSandboxVersion, 'must be a release tag such as v0.5.5');
  }
  let agentSandboxManifest = manifestRaw || agentSandboxManifestUrl(agentSandboxVersion);
  if (manifestRaw !== '' && !/^https?:\/\//.test(manifestRaw)) {
    agentSandboxManifest = resolve(expandHome(manifestRaw, home));
    if (!existsSync(agentSandboxManifest) || !statSync(agentSandboxManifest).isFile()) {
      bad('OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST', manifestRaw, 'must be an http(s) URL or an existing file');
    }
  }

  const k3sImage = get('OPENSHELL_DEV_K3S_IMAGE').trim();
  if (!/^[\w.\-/:@]+$/.test(k3sImage) || !k3sImage.includes(':')) {
    bad('OPENSHELL_DEV_K3S_IMAGE', k3sImage, 'must be an image reference with a tag, such as ' + K3S_IMAGE);
  }
  const registryImage = get('OPENSHELL_DEV_REGISTRY_IMAGE').trim() || undefined;
  if (registryImage !== undefined && (!/^[\w.\-/:@]+$/.test(registryImage) || !registryImage.includes(':'))) {
    bad('OPENSHELL_DEV_REGISTRY_IMAGE', registryImage, 'must be an image reference with a tag, such as docker.io/library/registry:2, or empty for k3d\'s default');
  }
  const gatewayCommand = get('OPENSHELL_DEV_GATEWAY_COMMAND').trim();
  if (gatewayCommand === '') bad('OPENSHELL_DEV_GATEWAY_COMMAND', gatewayCommand, 'must be a command line');
  const gatewayBuildCommand = get('OPENSHELL_DEV_GATEWAY_BUILD_COMMAND').trim();
  if (gatewayBuildCommand === '') bad('OPENSHELL_DEV_GATEWAY_BUILD_COMMAND', gatewayBuildCommand, 'must be a command line');
  const gatewayBaseImage = get('OPENSHELL_DEV_GATEWAY_BASE_IMAGE').trim() || undefined;
  if (gatewayBaseImage !== undefined && gatewayBaseImage !== 'scratch' && !/^[\w.\-/:@]+$/.test(gatewayBaseImage)) {
    bad('OPENSHELL_DEV_GATEWAY_BASE_IMAGE', gatewayBaseImage, 'must be an image reference (or scratch), or empty for the Dockerfile default');
  }
  const gatewayBindAddress = get('OPENSHELL_DEV_GATEWAY_BIND_ADDRESS').trim();
  if (gatewayBindAddress !== '' && isIP(gatewayBindAddress) === 0) {
    bad('OPENSHELL_DEV_GATEWAY_BIND_ADDRESS', gatewayBindAddress, 'must be an IP address (such as 127.0.0.1), or empty for the default');
  }
  const grpcEndpoint = get('OPENSHELL_DEV_GRPC_ENDPOINT').trim();
  if (grpcEndpoint !== '' && !/^https?:\/\/[^\s/]+(:\d+)?\/?$/.test(grpcEndpoint)) {
    bad('OPENSHELL_DEV_GRPC_ENDPOINT', grpcEndpoint, 'must be http(s)://host:port, or empty for the default');
  }
  const sandboxImage = get('OPENSHELL_DEV_SANDBOX_IMAGE').trim();
  if (!/^[\w.\-/:@]+$/.test(sandboxImage)) bad('OPENSHELL_DEV_SANDBOX_IMAGE', sandboxImage, 'must be an image reference');
  const sandboxSelector = labelSelector('OPENSHELL_DEV_SANDBOX_SELECTOR', get('OPENSHELL_DEV_SANDBOX_SELECTOR'));
  const supervisorBuildCommand = get('OPENSHELL_DEV_SUPERVISOR_BUILD_COMMAND').trim();
  if (supervisorBuildCommand === '') bad('OPENSHELL_DEV_SUPERVISOR_BUILD_COMMAND', supervisorBuildCommand, 'must be a command line');

  const kubeBinDirRaw = get('OPENSHELL_DEV_KUBE_BIN_DIR').trim();
  const kubeBinDir = kubeBinDirRaw === '' ? '' : resolve(expandHome(kubeBinDirRaw, home));
  const kwokDirRaw = get('OPENSHELL_DEV_KWOK_DIR').trim();
  const kwokDir = resolve(expandHome(kwokDirRaw, home));
  if (kwokDirRaw === '' || (existsSync(kwokDir) && !statSync(kwokDir).isDirectory())) {
    bad('OPENSHELL_DEV_KWOK_DIR', kwokDirRaw, 'must be the path of a directory (it is created if absent)');
  }

  const chartRegistry = get('OPENSHELL_CHART_REGISTRY').trim();
  if (chartRegistry !== '' && !OCI_REGISTRY.test(chartRegistry)) {
    bad('OPENSHELL_CHART_REGISTRY', chartRegistry, 'must be oci://<host>[:<port>][/<path>] with a lower-case path, such as oci://ghcr.io/nvidia/openshell/charts, or empty for the dev registry');
  }
  const chartVersion = get('OPENSHELL_CHART_VERSION').trim();
  if (chartVersion !== '' && !SEMVER.test(chartVersion)) bad('OPENSHELL_CHART_VERSION', chartVersion, 'must be a SemVer 2 version without a leading v, such as 0.2.0 or 0.2.0-rc.1, or empty for Chart.yaml\'s');
  const chartAppVersion = get('OPENSHELL_CHART_APP_VERSION').trim();
  if (chartAppVersion !== '' && !SEMVER.test(chartAppVersion)) bad('OPENSHELL_CHART_APP_VERSION', chartAppVersion, 'must be a SemVer version without a leading v (an OpenShell release, the image tag), such as 0.0.37, or empty for Chart.yaml\'s');

  return {
    cluster,
    agents,
    httpPort,
    registryPort,
    registryName,
    kubeconfig,
    mergeKubeconfig: boolean('OPENSHELL_DEV_MERGE_KUBECONFIG', get('OPENSHELL_DEV_MERGE_KUBECONFIG')),
    provider,
    context: get('OPENSHELL_DEV_CONTEXT').trim(),
    sourceDir,
    engine: oneOf('CONTAINER_ENGINE', get('CONTAINER_ENGINE'), ENGINES, true),
    k3sImage,
    registryImage,
    namespace: label('OPENSHELL_DEV_NAMESPACE', get('OPENSHELL_DEV_NAMESPACE'), 63),
    sandboxNamespace: label('OPENSHELL_SANDBOX_NAMESPACE', get('OPENSHELL_SANDBOX_NAMESPACE'), 63),
    release: label('OPENSHELL_DEV_RELEASE', get('OPENSHELL_DEV_RELEASE'), 53),
    sideloadMethod: oneOf('OPENSHELL_SUPERVISOR_SIDELOAD_METHOD', get('OPENSHELL_SUPERVISOR_SIDELOAD_METHOD'), SIDELOAD_METHODS, true),
    agentSandboxVersion,
    agentSandboxManifest,
    timeoutSec: integer('OPENSHELL_DEV_TIMEOUT', get('OPENSHELL_DEV_TIMEOUT'), 1, 86400, 'a number of seconds'),
    gatewayCommand,
    gatewayBuildCommand,
    gatewayBaseImage,
    gatewayPort: integer('OPENSHELL_DEV_GATEWAY_PORT', get('OPENSHELL_DEV_GATEWAY_PORT'), 1, 65535, 'a TCP port'),
    gatewayBindAddress,
    grpcEndpoint,
    sandboxImage,
    sandboxSelector,
    supervisorBuildCommand,
    chartRegistry,
    chartVersion,
    chartAppVersion,
    kubeBinDir,
    kwokDir,
    given,
    origin,
  };
}

/** An executable regular file. */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Names derived from the cluster name, as k3d spells them. */
export function kubeNames(s: Pick<Settings, 'cluster' | 'provider'>): { context: string; cluster: string; user: string } {
  const prefix = s.provider === 'kwok' ? 'kwok' : 'k3d';
  const name = `${prefix}-${s.cluster}`;
  return { context: name, cluster: name, user: `admin@${name}` };
}

