// Small images the real-node tests run, built FROM scratch (no registry outside
// this machine is reachable) with the Docker engine and pushed to a test-bed
// registry. Tags carry a hash of the content, so a second build is a no-op.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const APPLETS = ['sh', 'echo', 'sleep', 'cat', 'ls', 'id', 'touch', 'nc', 'date', 'hostname', 'true', 'false', 'tar', 'mkdir', 'env', 'wget'];

function docker(args: string[], timeoutMs = 120_000): string {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')} → exit ${r.status ?? r.signal}: ${(r.stderr || r.stdout || String(r.error ?? '')).trim()}`);
  return r.stdout;
}

async function inRegistry(host: string, repo: string, tag: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${host.replace(/^localhost:/, '127.0.0.1:')}/v2/${repo}/manifests/${tag}`, {
      method: 'HEAD',
      headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      signal: AbortSignal.timeout(5000),
    });
    return res.ok;
  } catch {
    return false;
  }
}

/** Build a FROM-scratch image from `files` (path in image → host file) and push it as <host>/<repo>:<content hash>. */
export async function scratchImage(host: string, repo: string, files: Record<string, string>, opts: { symlinks?: Record<string, string>; user?: string; entrypoint?: string[] } = {}): Promise<string> {
  const h = createHash('sha256');
  for (const [dest, src] of Object.entries(files).sort()) h.update(dest).update(readFileSync(src));
  h.update(JSON.stringify(opts));
  const tag = `c-${h.digest('hex').slice(0, 12)}`;
  const ref = `${host}/${repo}:${tag}`;
  if (await inRegistry(host, repo, tag)) return ref;
  const ctx = mkdtempSync(join(tmpdir(), 'openshell-bed-image-'));
  try {
    const lines = ['FROM scratch'];
    mkdirSync(join(ctx, 'root'));
    for (const [dest, src] of Object.entries(files)) {
      mkdirSync(join(ctx, 'root', dest, '..'), { recursive: true });
      copyFileSync(src, join(ctx, 'root', dest));
    }
    for (const [link, target] of Object.entries(opts.symlinks ?? {})) {
      mkdirSync(join(ctx, 'root', link, '..'), { recursive: true });
      symlinkSync(target, join(ctx, 'root', link));
    }
    mkdirSync(join(ctx, 'root', 'tmp'), { mode: 0o1777 });
    lines.push('COPY root/ /');
    if (opts.user) lines.push(`USER ${opts.user}`);
    if (opts.entrypoint) lines.push(`ENTRYPOINT ${JSON.stringify(opts.entrypoint)}`);
    writeFileSync(join(ctx, 'Dockerfile'), lines.join('\n') + '\n');
    docker(['build', '-q', '-t', ref, ctx]);
    docker(['push', '-q', ref]);
    return ref;
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

/** busybox (static) at /bin/busybox with the usual applets linked: a shell image for test pods. */
export function busyboxImage(host: string, busyboxPath: string): Promise<string> {
  return scratchImage(host, 'openshell-testbed/busybox', { 'bin/busybox': busyboxPath }, { symlinks: Object.fromEntries(APPLETS.map((a) => [`bin/${a}`, 'busybox'])) });
}
