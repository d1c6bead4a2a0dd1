// Debian's PostgreSQL as a database the real node's pods reach: its own
// cluster in a scratch directory, listening on one host address (the node's
// bridge IP), trusting connections from one CIDR (the pod network). For the
// e2e files that run several gateway replicas on the real node.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The directory of Debian's PostgreSQL binaries, or undefined. */
export function postgresBin(): string | undefined {
  for (const v of ['17', '16', '15']) {
    const d = `/usr/lib/postgresql/${v}/bin`;
    if (existsSync(join(d, 'postgres'))) return d;
  }
  return undefined;
}

export function missingPostgres(): false | string {
  if (!postgresBin()) return 'needs PostgreSQL (Debian postgresql; bash .ci/run installs it)';
  if (spawnSync('id', ['-u', 'postgres']).status !== 0) return 'needs the postgres user (Debian postgresql creates it)';
  return false;
}

export class HostPostgres {
  private child?: ChildProcess;
  readonly dir: string;
  readonly data: string;
  readonly address: string;
  readonly port: number;
  readonly clientCidr: string;

  /** A cluster in a directory of its own (the postgres user must reach it), listening on `address:port`, trusting clients from `clientCidr`. */
  constructor(address: string, port: number, clientCidr: string) {
    this.dir = mkdtempSync(join(tmpdir(), 'openshell-pg-'));
    this.data = join(this.dir, 'pgdata');
    this.address = address;
    this.port = port;
    this.clientCidr = clientCidr;
  }

  async start(): Promise<void> {
    const bin = postgresBin() as string;
    mkdirSync(this.data, { recursive: true });
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(this.data, uid, uid);
    chmodSync(this.dir, 0o755);
    const init = spawnSync('runuser', ['-u', 'postgres', '--', join(bin, 'initdb'), '-D', this.data, '-U', 'openshell', '--auth=trust'], { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`initdb: ${init.stderr}`);
    // Pods connect from the pod network; nothing else can reach this address.
    writeFileSync(join(this.data, 'pg_hba.conf'), `local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ${this.clientCidr} trust\n`);
    this.child = spawn('runuser', ['-u', 'postgres', '--', join(bin, 'postgres'), '-D', this.data, '-h', this.address, '-p', String(this.port), '-k', this.data], { stdio: 'ignore' });
    const end = Date.now() + 30_000;
    while (Date.now() < end) {
      if (spawnSync('runuser', ['-u', 'postgres', '--', join(bin, 'pg_isready'), '-h', this.address, '-p', String(this.port)]).status === 0) return;
      if (this.child.exitCode !== null) throw new Error(`postgres exited (${this.child.exitCode})`);
      await sleep(250);
    }
    throw new Error('PostgreSQL did not become ready within 30s');
  }

  /** Create a database; returns the URI pods use. */
  createDb(name: string): string {
    const r = spawnSync('runuser', ['-u', 'postgres', '--', join(postgresBin() as string, 'createdb'), '-h', this.address, '-p', String(this.port), '-U', 'openshell', name], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`createdb ${name}: ${r.stderr}`);
    return `postgresql://openshell@${this.address}:${this.port}/${name}`;
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return rmSync(this.dir, { recursive: true, force: true });
    const exited = new Promise((r) => this.child?.on('exit', r));
    // pg_ctl stops the server itself (runuser, our child, may not pass a signal on).
    spawnSync('runuser', ['-u', 'postgres', '--', join(postgresBin() as string, 'pg_ctl'), 'stop', '-D', this.data, '-m', 'fast', '-w', '-t', '20'], { stdio: 'ignore' });
    await Promise.race([exited, sleep(10_000)]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
