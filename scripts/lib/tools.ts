// External binaries: each checked once per process, with its version and an
// install hint. `mise install` provides the contributor tools in mise.toml.
import { $ } from 'zx';
import { UserError } from './task.ts';

export interface ToolSpec {
  versionArgs: string[];
  /** Minimum version (major.minor), if the kit relies on newer behaviour. */
  min?: string;
  hint: string;
}

const MISE = 'run `mise install` (tools are pinned in mise.toml)';

export const TOOLS: Record<string, ToolSpec> = {
  k3d: { versionArgs: ['version'], min: '5.6', hint: MISE },
  kubectl: { versionArgs: ['version', '--client', '-o', 'json'], min: '1.29', hint: MISE },
  helm: { versionArgs: ['version', '--short'], min: '3.14', hint: MISE },
  // 2.19: older releases call `helm version --client`, which Helm 4 removed.
  skaffold: { versionArgs: ['version'], min: '2.19', hint: MISE },
  docker: { versionArgs: ['--version'], hint: 'install Docker (https://docs.docker.com/get-docker/) or set CONTAINER_ENGINE=podman' },
  podman: { versionArgs: ['--version'], hint: 'install Podman (https://podman.io/docs/installation)' },
  kwokctl: { versionArgs: ['--version'], hint: 'build it with `bash .ci/tools/build.sh kwok` or install kwok (https://kwok.sigs.k8s.io)' },
  cargo: { versionArgs: ['--version'], hint: 'install Rust with rustup (https://rustup.rs)' },
};

export interface ToolStatus {
  name: string;
  ok: boolean;
  version?: string;
  message: string;
}

const cache = new Map<string, Promise<ToolStatus>>();

/** The first x.y[.z] version in a tool's output. */
export function parseToolVersion(out: string): string | undefined {
  const json = /"gitVersion"\s*:\s*"v?([\d.]+)/.exec(out);
  if (json) return json[1];
  return /v?(\d+\.\d+(?:\.\d+)?)/.exec(out)?.[1];
}

export function atLeast(version: string, min: string): boolean {
  const a = version.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < b.length; i++) {
    if ((a[i] ?? 0) !== b[i]) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

export function checkTool(name: string): Promise<ToolStatus> {
  const spec = TOOLS[name] ?? { versionArgs: ['--version'], hint: `install ${name}` };
  let pending = cache.get(name);
  if (!pending) {
    pending = (async () => {
      const r = await $({ nothrow: true, timeout: '15s' })`${name} ${spec.versionArgs}`;
      if (r.exitCode === 127) return { name, ok: false, message: `${name} not found on PATH: ${spec.hint}` };
      const version = parseToolVersion(r.stdout + '\n' + r.stderr);
      if (r.exitCode !== 0 && version === undefined) return { name, ok: false, message: `${name} is installed but \`${name} ${spec.versionArgs.join(' ')}\` failed: ${spec.hint}` };
      if (version && spec.min && !atLeast(version, spec.min)) {
        return { name, ok: false, version, message: `${name} ${version} is older than ${spec.min}: ${spec.hint}` };
      }
      return { name, ok: true, ...(version ? { version } : {}), message: `${name} ${version ?? '(version unknown)'}` };
    })();
    cache.set(name, pending);
  }
  return pending;
}

/** All of `names` present and new enough, or one UserError listing every problem. */
export async function requireTools(...names: string[]): Promise<void> {
  const results = await Promise.all(names.map((n) => checkTool(n)));
  const bad = results.filter((r) => !r.ok);
  if (bad.length > 0) throw new UserError(bad.map((b) => b.message).join('\n'));
}

/** For tests: forget cached results. */
export function resetToolCache(): void {
  cache.clear();
}
