// The local OCI registry: reachability, tags over the registry API, and the
// `kube-public/local-registry-hosting` ConfigMap (KEP-1755) that advertises it
// to tools such as skaffold and tilt (skaffold reads only `host`).
import { stringify } from 'yaml';
import type { RegistryEndpoints } from './providers/types.ts';
import type { Settings } from './settings.ts';

/** The port the registry listens on inside the cluster network (pods pull from <name>:5000). */
export const REGISTRY_CONTAINER_PORT = 5000;

/** Where the host pushes (localhost:<OPENSHELL_DEV_REGISTRY_PORT>) and where pods pull from (<OPENSHELL_DEV_REGISTRY_NAME>:5000). */
export function registryEndpoints(s: Pick<Settings, 'registryPort' | 'registryName'>): RegistryEndpoints {
  return { host: `localhost:${s.registryPort}`, cluster: `${s.registryName}:${REGISTRY_CONTAINER_PORT}` };
}

export const HOSTING_NAMESPACE = 'kube-public';
export const HOSTING_NAME = 'local-registry-hosting';

export function hostingData(r: RegistryEndpoints): Record<string, string> {
  return {
    'localRegistryHosting.v1': stringify({
      host: r.host,
      hostFromContainerRuntime: r.cluster,
      hostFromClusterNetwork: r.cluster,
      help: 'https://github.com/kubernetes/enhancements/tree/master/keps/sig-cluster-lifecycle/generic/1755-communicating-a-local-registry',
    }),
  };
}

export function hostingConfigMap(r: RegistryEndpoints) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: HOSTING_NAME, namespace: HOSTING_NAMESPACE },
    data: hostingData(r),
  };
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** null when the registry answers /v2/, else why not. */
export async function registryProblem(host: string, timeoutMs = 10_000): Promise<string | null> {
  try {
    const res = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.status === 200 || res.status === 401 ? null : `GET http://${host}/v2/ answered ${res.status}`;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return `no registry answers at ${host} (${cause ?? (err as Error).message})`;
  }
}

/** The manifest digest of repo:tag, or undefined when the tag is absent. */
export async function tagDigest(host: string, repo: string, tag: string, timeoutMs = 5000): Promise<string | undefined> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: MANIFEST_TYPES },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`HEAD http://${host}/v2/${repo}/manifests/${tag} answered ${res.status}`);
  return res.headers.get('docker-content-digest') ?? 'present';
}

export async function listTags(host: string, repo: string, timeoutMs = 5000): Promise<string[]> {
  const res = await fetch(`http://${host}/v2/${repo}/tags/list`, { signal: AbortSignal.timeout(timeoutMs) });
  if (res.status === 404) return [];
  if (!res.ok) throw new Error(`GET http://${host}/v2/${repo}/tags/list answered ${res.status}`);
  const body = (await res.json()) as { tags?: string[] | null };
  return body.tags ?? [];
}

/** Split "host:port/path/name:tag" into the registry-relative repository and tag. */
export function splitImage(ref: string): { registry: string; repo: string; tag: string } {
  const slash = ref.indexOf('/');
  const registry = ref.slice(0, slash);
  const rest = ref.slice(slash + 1);
  const colon = rest.lastIndexOf(':');
  return colon < 0 ? { registry, repo: rest, tag: 'latest' } : { registry, repo: rest.slice(0, colon), tag: rest.slice(colon + 1) };
}
