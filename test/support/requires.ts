// Skip reasons for tests that need something from the test bed. Each returns
// false when the thing is present, else the exact reason node:test prints:
//   test('renders', { skip: missingTools('helm') }, async () => { ... })
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export function which(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const path = join(dir, bin);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export function missingTools(...bins: string[]): false | string {
  const missing = bins.filter((b) => which(b) === undefined);
  return missing.length === 0 ? false : `needs ${missing.join(', ')} on PATH (bash .ci/run provisions them)`;
}

/** A Docker API answers at DOCKER_HOST (or the default socket). */
export function missingDocker(env: NodeJS.ProcessEnv = process.env): false | string {
  if (which('docker') === undefined) return 'needs the docker CLI on PATH';
  const r = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { env, encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? false : `needs a running Docker engine (docker version: ${(r.stderr || r.stdout).trim().split('\n')[0]})`;
}

/** An OCI registry answers the /v2/ API at host:port. */
export async function missingRegistry(hostPort = 'localhost:5000'): Promise<false | string> {
  try {
    const res = await fetch(`http://${hostPort}/v2/`, { signal: AbortSignal.timeout(3000) });
    return res.status === 200 || res.status === 401 ? false : `needs an OCI registry at ${hostPort} (GET /v2/ gave ${res.status})`;
  } catch (err) {
    return `needs an OCI registry at ${hostPort} (${(err as Error).message}); bash .ci/run starts one`;
  }
}

/** An environment variable that .ci/run exports (e.g. OPENSHELL_TEST_KUBE_BIN_OLD) is set and not empty. */
export function missingEnv(name: string, env: NodeJS.ProcessEnv = process.env): false | string {
  return env[name] ? false : `needs ${name} (bash .ci/run exports it)`;
}
