// The chart as a release artifact: its Chart.yaml facts, the staged copy that
// `k8s:chart:publish` packages, and what `helm push` reports.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CHART_DIR } from './bootstrap.ts';

export { CHART_DIR };

export interface ChartMeta {
  name: string;
  version: string;
  appVersion: string;
  /** artifacthub.io/images: the images the chart runs, tagged with the appVersion. */
  images: { name: string; image: string }[];
}

export function chartMeta(dir = CHART_DIR): ChartMeta {
  const c = parse(readFileSync(join(dir, 'Chart.yaml'), 'utf8')) as { name: string; version: string; appVersion: string; annotations?: Record<string, string> };
  const images = (parse(c.annotations?.['artifacthub.io/images'] ?? '[]') ?? []) as ChartMeta['images'];
  return { name: c.name, version: String(c.version), appVersion: String(c.appVersion), images };
}

/**
 * Copy the chart to `dest` with the artifacthub.io/images tags set to
 * `appVersion` (helm package sets version and appVersion, not annotations), so
 * the published chart names the images it runs. Returns the images written.
 */
export function stageChart(dest: string, appVersion: string, src = CHART_DIR): ChartMeta['images'] {
  cpSync(src, dest, { recursive: true });
  const file = join(dest, 'Chart.yaml');
  const text = readFileSync(file, 'utf8');
  // Only the annotation's `image:` lines carry an image reference in Chart.yaml; a digest-pinned one is left alone.
  const next = text.replace(/^(\s+image:\s*[^\s@]+):[^\s:@/]+$/gm, `$1:${appVersion}`);
  writeFileSync(file, next);
  const { images } = chartMeta(dest);
  const stale = images.filter((i) => !i.image.endsWith(`:${appVersion}`));
  if (images.length === 0 || stale.length > 0) throw new Error(`${file}: artifacthub.io/images does not name every image at ${appVersion}: ${JSON.stringify(images)}`);
  return images;
}

/** Registries helm must speak plain HTTP to: the loopback ones (the dev and test-bed registries). */
export function isLoopbackRegistry(registry: string): boolean {
  const host = /^oci:\/\/(\[[^\]]+\]|[^/:]+)/.exec(registry)?.[1] ?? '';
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The reference and digest from `helm push`'s report ("Pushed: <ref>", "Digest: sha256:…"). */
export function pushReport(output: string): { ref: string; digest: string } | undefined {
  const ref = /^Pushed:\s*(\S+)\s*$/m.exec(output)?.[1];
  const digest = /^Digest:\s*(sha256:[0-9a-f]{64})\s*$/m.exec(output)?.[1];
  return ref && digest ? { ref, digest } : undefined;
}
