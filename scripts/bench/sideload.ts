// Benchmark: hot-swapping the supervisor (k8s:dev:sideload's write beside /
// sha256 / mv -f) against the image path (docker build of a FROM-scratch
// supervisor image, docker push to the local registry, and a rollout), for 1
// and for 10 sandboxes on the same machine.
//
// No kubelet runs here, so Docker containers stand in for sandbox pods, built
// the way the init-container method builds them: per "pod" a volume (the
// emptyDir), an init container from the supervisor image running
// `copy-self /opt/openshell/bin/openshell-sandbox`, and an agent container
// running /opt/openshell/bin/openshell-sandbox. The hot-swap goes through the
// same hotSwap() the task uses, with `docker cp`/`docker exec` as the transport
// instead of `kubectl cp`/`kubectl exec`. The rollout is what a pod restart
// does: pull the new image (removed locally first, as on a node that lacks
// it), fresh volume, init container, agent container running the new binary.
//
//   tsx scripts/bench/sideload.ts [--counts 1,10] [--size-mb 20] [--registry localhost:5000]
// scripts/bench.ts calls benchSideload(ctx, opts).
import { randomBytes } from 'node:crypto';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerTransport, hotSwap, mapLimit, SUPERVISOR_BINARY, SUPERVISOR_IMAGE_BINARY, SUPERVISOR_MOUNT_PATH, supervisorDockerfile, type SwapTarget } from '../lib/sideload.ts';
import { $ } from '../lib/sh.ts';
import { isMain, runTask, UserError, type TaskContext, type TaskDefinition } from '../lib/task.ts';

/** A stand-in supervisor: prints its version, `--version` exits, `copy-self DEST` copies itself, else waits for SIGTERM. */
export const FAKE_SUPERVISOR_C = `#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
static void bye(int s) { (void)s; _exit(0); }
static int copy_self(const char *dest) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", dest);
  int in = open("/proc/self/exe", O_RDONLY), out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0755);
  if (in < 0 || out < 0) { perror("copy-self"); return 1; }
  char buf[1 << 16];
  ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0) if (write(out, buf, (size_t)n) != n) { perror("write"); return 1; }
  close(in);
  if (fsync(out) || close(out) || rename(tmp, dest)) { perror("copy-self"); return 1; }
  return 0;
}
int main(int argc, char **argv) {
  if (argc > 2 && strcmp(argv[1], "copy-self") == 0) return copy_self(argv[2]);
  printf("openshell-sandbox %s\\n", VERSION);
  fflush(stdout);
  if (argc > 1 && strcmp(argv[1], "--version") == 0) return 0;
  signal(SIGTERM, bye);
  signal(SIGINT, bye);
  for (;;) pause();
}
`;

/** The legacy builder: Debian's docker has no buildx. */
const BUILD_ENV = { DOCKER_BUILDKIT: '0' };

/** Compile a static stand-in supervisor; pad it to `sizeMB` with random bytes (a Rust release build is tens of MB). */
export async function buildFakeSupervisor(ctx: TaskContext, dir: string, version: string, sizeMB = 0): Promise<string> {
  const src = join(dir, 'fake-supervisor.c');
  writeFileSync(src, FAKE_SUPERVISOR_C);
  const out = join(dir, `openshell-sandbox-${version}`);
  await $({ timeout: '120s' })`gcc -static -Os ${`-DVERSION="${version}"`} -o ${out} ${src}`;
  // Trailing bytes after the ELF image do not change how it runs.
  let missing = Math.max(0, sizeMB * 1024 * 1024 - 800 * 1024);
  while (missing > 0) {
    const chunk = Math.min(missing, 4 * 1024 * 1024);
    appendFileSync(out, randomBytes(chunk));
    missing -= chunk;
  }
  return out;
}

/** docker build from a throw-away context holding `files` (name → source path). */
export async function buildImage(ctx: TaskContext, cli: string, tag: string, dockerfile: string, files: Record<string, string>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'openshell-bench-image-'));
  try {
    for (const [name, from] of Object.entries(files)) copyFileSync(from, join(dir, name));
    writeFileSync(join(dir, 'Dockerfile'), dockerfile);
    await $({ env: { ...$.env, ...BUILD_ENV }, timeout: '600s' })`${cli} build -q -t ${tag} ${dir}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface StandIn {
  cli: string;
  /** Agent image: busybox (sh, test, sha256sum, chmod, mv, tar), no supervisor. */
  agentImage: string;
  /** Name prefix of containers and volumes. */
  prefix: string;
}

/** The agent image: a FROM-scratch busybox, as small as a sandbox image gets. */
export async function buildAgentImage(ctx: TaskContext, cli: string, tag: string, busybox = '/bin/busybox'): Promise<void> {
  const dockerfile = ['FROM scratch', 'COPY busybox /bin/busybox', 'RUN ["/bin/busybox", "--install", "-s", "/bin"]', `RUN ["/bin/mkdir", "-p", "${SUPERVISOR_MOUNT_PATH}"]`, ''].join('\n');
  await buildImage(ctx, cli, tag, dockerfile, { busybox });
}

export function standInName(s: StandIn, i: number): string {
  return `${s.prefix}-${i}`;
}

/**
 * Start (or restart) stand-in pod i with the init-container method: fresh
 * volume, init container `copy-self` from the supervisor image, agent
 * container running the binary from the volume (mounted read-only when asked).
 */
export async function startStandInPod(ctx: TaskContext, s: StandIn, i: number, supervisorImage: string, opts: { readOnly?: boolean } = {}): Promise<SwapTarget> {
  const name = standInName(s, i);
  const vol = `${name}-bin`;
  await $({ nothrow: true, timeout: '60s' })`${s.cli} rm -f ${name}`;
  await $({ nothrow: true, timeout: '60s' })`${s.cli} volume rm -f ${vol}`;
  await $({ timeout: '60s' })`${s.cli} volume create ${vol}`;
  // --entrypoint: a pod's `command` replaces the image's ENTRYPOINT; docker's trailing words would not.
  await $({ timeout: '120s' })`${s.cli} run --rm -v ${`${vol}:${SUPERVISOR_MOUNT_PATH}`} --entrypoint ${SUPERVISOR_IMAGE_BINARY} ${supervisorImage} copy-self ${SUPERVISOR_BINARY}`;
  await $({ timeout: '120s' })`${s.cli} run -d --name ${name} --restart unless-stopped -v ${`${vol}:${SUPERVISOR_MOUNT_PATH}${opts.readOnly ? ':ro' : ''}`} ${s.agentImage} ${SUPERVISOR_BINARY}`;
  return { name };
}

export async function removeStandInPods(ctx: TaskContext, s: StandIn, n: number): Promise<void> {
  const names = Array.from({ length: n }, (_, i) => standInName(s, i));
  if (names.length === 0) return;
  await $({ nothrow: true, timeout: '120s' })`${s.cli} rm -f ${names}`;
  await $({ nothrow: true, timeout: '120s' })`${s.cli} volume rm -f ${names.map((n) => `${n}-bin`)}`;
}

/** What the running binary says it is (exec of the file now in place). */
export async function versionIn(ctx: TaskContext, cli: string, name: string): Promise<string> {
  return (await $({ timeout: '30s' })`${cli} exec ${name} ${SUPERVISOR_BINARY} --version`).stdout.trim();
}

export interface BenchOptions {
  counts?: number[];
  sizeMB?: number;
  /** Registry host:port the image path pushes to. */
  registry?: string;
  concurrency?: number;
  cli?: string;
}

export interface BenchRow {
  pods: number;
  sizeMB: number;
  hotSwapMs: number;
  buildMs: number;
  pushMs: number;
  rolloutMs: number;
  imagePathMs: number;
}

export async function benchSideload(ctx: TaskContext, opts: BenchOptions = {}): Promise<BenchRow[]> {
  const cli = opts.cli ?? 'docker';
  const counts = opts.counts ?? [1, 10];
  const sizeMB = opts.sizeMB ?? 20;
  const registry = opts.registry ?? 'localhost:5000';
  const concurrency = opts.concurrency ?? 4;
  const run = `${process.pid}-${Date.now().toString(36)}`;
  const work = mkdtempSync(join(tmpdir(), 'openshell-bench-sideload-'));
  const s: StandIn = { cli, agentImage: `openshell-bench-agent:${run}`, prefix: `openshell-bench-${run}` };
  const supRepo = `${registry}/openshell-bench-supervisor`;
  const rows: BenchRow[] = [];
  let started = 0;
  const tags: string[] = [s.agentImage];
  try {
    mkdirSync(join(work, 'bin'));
    ctx.log.step(`sideload bench: ${sizeMB} MB stand-in supervisor, ${counts.join(' and ')} container(s) standing in for pods (${cli}; no kubelet here)`);
    const v1 = await buildFakeSupervisor(ctx, join(work, 'bin'), 'v1', sizeMB);
    await buildAgentImage(ctx, cli, s.agentImage);
    const base = `${supRepo}:${run}-v1`;
    tags.push(base);
    await buildImage(ctx, cli, base, supervisorDockerfile(), { 'openshell-sandbox': v1 });

    for (const n of counts) {
      await removeStandInPods(ctx, s, started);
      await mapLimit(
        Array.from({ length: n }, (_, i) => i),
        concurrency,
        (i) => startStandInPod(ctx, s, i, base),
      );
      started = n;
      const targets = Array.from({ length: n }, (_, i) => ({ name: standInName(s, i) }));

      // Hot-swap: the task's own mechanism.
      const swapBin = await buildFakeSupervisor(ctx, join(work, 'bin'), `swap-${n}`, sizeMB);
      const t0 = performance.now();
      const outcomes = await hotSwap(ctx, dockerTransport(cli), targets, { localPath: swapBin, concurrency });
      const hotSwapMs = performance.now() - t0;
      const bad = outcomes.filter((o) => o.status !== 'updated');
      if (bad.length > 0) throw new Error(`hot-swap failed: ${bad.map((o) => `${o.label}: ${o.detail}`).join('; ')}`);
      const seen = await versionIn(ctx, cli, targets[0]!.name);
      if (seen !== `openshell-sandbox swap-${n}`) throw new Error(`after the swap the binary says ${JSON.stringify(seen)}`);

      // Image path: build, push, roll out.
      const imgBin = await buildFakeSupervisor(ctx, join(work, 'bin'), `image-${n}`, sizeMB);
      const tag = `${supRepo}:${run}-image-${n}`;
      tags.push(tag);
      const t1 = performance.now();
      await buildImage(ctx, cli, tag, supervisorDockerfile(), { 'openshell-sandbox': imgBin });
      const t2 = performance.now();
      await $({ timeout: '600s' })`${cli} push ${tag}`;
      const t3 = performance.now();
      // A node without the new image pulls it once, then every pod restarts.
      await $({ timeout: '120s' })`${cli} rmi ${tag}`;
      await $({ timeout: '600s' })`${cli} pull -q ${tag}`;
      await mapLimit(
        Array.from({ length: n }, (_, i) => i),
        concurrency,
        (i) => startStandInPod(ctx, s, i, tag),
      );
      const t4 = performance.now();
      const seen2 = await versionIn(ctx, cli, targets[n - 1]!.name);
      if (seen2 !== `openshell-sandbox image-${n}`) throw new Error(`after the rollout the binary says ${JSON.stringify(seen2)}`);
      const row = { pods: n, sizeMB, hotSwapMs: hotSwapMs, buildMs: t2 - t1, pushMs: t3 - t2, rolloutMs: t4 - t3, imagePathMs: t4 - t1 };
      rows.push(row);
      ctx.log.ok(formatRow(row));
    }
  } finally {
    await removeStandInPods(ctx, s, started);
    await $({ nothrow: true, timeout: '120s' })`${cli} rmi -f ${tags}`;
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

const sec = (ms: number) => `${(ms / 1000).toFixed(2)}s`;
export function formatRow(r: BenchRow): string {
  return `${r.pods} pod(s), ${r.sizeMB} MB: hot-swap ${sec(r.hotSwapMs)} vs image ${sec(r.imagePathMs)} (build ${sec(r.buildMs)}, push ${sec(r.pushMs)}, rollout ${sec(r.rolloutMs)}): ${(r.imagePathMs / r.hotSwapMs).toFixed(1)}x`;
}

export const benchSideloadTask: TaskDefinition = {
  name: 'bench-sideload',
  summary: 'Benchmark the supervisor hot-swap against an image rebuild, push and rollout (Docker containers stand in for pods)',
  flags: {
    counts: { help: 'comma-separated pod counts (default 1,10)', value: true },
    'size-mb': { help: 'size of the stand-in supervisor binary in MB (default 20)', value: true },
    registry: { help: 'registry host:port to push to (default localhost:5000)', value: true },
  },
  async main(ctx) {
    const o = ctx.flags.options;
    const counts = ((o.counts as string | undefined) ?? '1,10').split(',').map((c) => Number(c.trim()));
    if (counts.some((c) => !Number.isInteger(c) || c < 1 || c > 50)) throw new UserError(`--counts ${String(o.counts)}: whole numbers 1–50, comma-separated`, 2);
    const sizeMB = Number((o['size-mb'] as string | undefined) ?? '20');
    if (!Number.isFinite(sizeMB) || sizeMB < 0 || sizeMB > 500) throw new UserError(`--size-mb ${String(o['size-mb'])}: 0–500`, 2);
    const rows = await benchSideload(ctx, { counts, sizeMB, registry: (o.registry as string | undefined) ?? 'localhost:5000' });
    console.log(JSON.stringify(rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Math.round(v)])))));
    return 0;
  },
};


if (isMain(import.meta)) await runTask(benchSideloadTask);
