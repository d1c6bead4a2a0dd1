// The pieces of k8s:dev:bootstrap: the agent-sandbox manifest (pinned release,
// or a URL or local file for offline use), fingerprints that let a re-run skip
// what has not changed, and the record of the last successful bootstrap.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { atomicWrite } from './kubeconfig.ts';
import { KIT_ROOT, type Settings } from './settings.ts';
import { UserError } from './task.ts';

export const CHART_DIR = join(KIT_ROOT, 'deploy', 'helm', 'openshell');
export const DEV_VALUES = join(CHART_DIR, 'values.dev.yaml');
/** Label on what the kit creates outside the chart (namespaces, its state record). */
export const MANAGED_BY = 'openshell-k8s-dev';
export const MANAGED_BY_LABEL = `app.kubernetes.io/managed-by=${MANAGED_BY}`;
export const STATE_CONFIGMAP = 'openshell-dev-bootstrap';

export interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

export interface Manifest {
  source: string;
  text: string;
  sha256: string;
  objects: ManifestObject[];
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function parseManifest(text: string, source: string): Manifest {
  const docs = parseAllDocuments(text);
  const objects: ManifestObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new UserError(`${source} is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
    const obj = doc.toJSON() as ManifestObject | null;
    if (obj === null) continue;
    if (!obj.kind || !obj.apiVersion || !obj.metadata?.name) throw new UserError(`${source} has an object without kind, apiVersion or metadata.name`);
    objects.push(obj);
  }
  if (!objects.some((o) => o.kind === 'CustomResourceDefinition')) {
    throw new UserError(`${source} holds no CustomResourceDefinition: is it the agent-sandbox manifest?`);
  }
  return { source, text, sha256: sha256(text), objects };
}

/** The kit's own cache (downloaded manifests, the out-of-cluster gateway's state). */
export function kitCacheDir(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_CACHE_HOME || join(env.HOME ?? homedir(), '.cache'), 'openshell-k8s-dev');
}

/** The manifest from a local file, or from its URL with a local cache so re-runs work offline. */
export async function loadManifest(s: Settings, env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<Manifest> {
  const source = s.agentSandboxManifest;
  if (!/^https?:\/\//.test(source)) return parseManifest(readFileSync(source, 'utf8'), source);
  const cached = join(kitCacheDir(env), `agent-sandbox-${sha256(source).slice(0, 16)}.yaml`);
  if (existsSync(cached)) return parseManifest(readFileSync(cached, 'utf8'), `${source} (cached at ${cached})`);
  let text: string;
  try {
    const res = await fetch(source, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    text = await res.text();
  } catch (err) {
    throw new UserError(
      `cannot download the agent-sandbox manifest from ${source} (${(err as Error).message}); offline, point OPENSHELL_DEV_AGENT_SANDBOX_MANIFEST at a local copy`,
    );
  }
  const manifest = parseManifest(text, source);
  mkdirSync(kitCacheDir(env), { recursive: true });
  atomicWrite(cached, text, 0o644);
  return manifest;
}

/** A fingerprint of every file in the chart directory (templates, values, schema). */
export function chartFingerprint(dir = CHART_DIR): string {
  const hash = createHash('sha256');
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else hash.update(relative(dir, p)).update('\0').update(readFileSync(p)).update('\0');
    }
  };
  if (!existsSync(dir)) throw new UserError(`no Helm chart at ${dir}`);
  walk(dir);
  return hash.digest('hex');
}

export interface DevImage {
  /** As pods pull it, e.g. openshell-registry:5000/openshell-gateway:dev. */
  ref: string;
  /** Registry-relative repository and tag, e.g. openshell-gateway / dev. */
  repo: string;
  tag: string;
}

/** The gateway and supervisor images values.dev.yaml points at. */
export function devImages(valuesFile = DEV_VALUES): { gateway: DevImage; supervisor: DevImage } {
  const v = parse(readFileSync(valuesFile, 'utf8')) as {
    image?: { repository?: string; tag?: string };
    supervisor?: { image?: { repository?: string; tag?: string } };
  };
  const image = (i: { repository?: string; tag?: string } | undefined, what: string): DevImage => {
    if (!i?.repository) throw new UserError(`${valuesFile} sets no ${what} repository`);
    const tag = i.tag || 'dev';
    const slash = i.repository.indexOf('/');
    return { ref: `${i.repository}:${tag}`, repo: i.repository.slice(slash + 1), tag };
  };
  return { gateway: image(v.image, 'image'), supervisor: image(v.supervisor?.image, 'supervisor.image') };
}

/** What a bootstrap applied: when a re-run would apply the same, it skips. */
export interface BootstrapRecord {
  manifest: string;
  chart: string;
  values: string;
  images: string;
  revision: string;
}

export function recordFromData(data: Record<string, string> | undefined): BootstrapRecord | undefined {
  if (!data?.manifest || !data.chart) return undefined;
  return { manifest: data.manifest, chart: data.chart, values: data.values ?? '', images: data.images ?? '', revision: data.revision ?? '' };
}
