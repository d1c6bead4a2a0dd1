// The real node has no dynamic volume provisioner, and the Kubernetes driver
// gives every sandbox a workspace PersistentVolumeClaim (2Gi, ReadWriteOnce,
// no storage class). Upstream's suite creates and deletes dozens of sandboxes,
// so a fixed set of hand-made volumes (as test/bed/openshell-loop.ts makes for
// a few) would run out: this keeps a few hostPath volumes Available, and
// deletes each one (and its directory) once its claim is gone (Released), as
// a cluster's provisioner with reclaim policy Delete would.
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RealNode } from '../bed/realnode.ts';

const run = promisify(execFile);
const LABEL = 'openshell-e2e/static-provisioner';

interface Pv {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { hostPath?: { path: string } };
  status?: { phase?: string };
}

export class StaticProvisioner {
  private next = 1;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** Volumes made and deleted, for the report. */
  made = 0;
  deleted = 0;

  private readonly node: RealNode;
  private readonly dir: string;
  private readonly spare: number;

  constructor(node: RealNode, dir: string, spare = 3) {
    this.node = node;
    this.dir = dir;
    this.spare = spare;
  }

  private async kubectl(args: string[], input?: string): Promise<string> {
    const kubectl = join(this.node.state!.bins.kube, 'kubectl');
    const p = run(kubectl, ['--kubeconfig', this.node.kubeconfig, ...args], { maxBuffer: 64 << 20 });
    if (input !== undefined) p.child.stdin!.end(input);
    return (await p).stdout;
  }

  async tick(): Promise<void> {
    const pvs = (JSON.parse(await this.kubectl(['get', 'pv', '-l', `${LABEL}=true`, '-o', 'json'])) as { items: Pv[] }).items;
    for (const pv of pvs.filter((p) => p.status?.phase === 'Released')) {
      await this.kubectl(['delete', 'pv', pv.metadata.name, '--wait=false']);
      if (pv.spec.hostPath) rmSync(pv.spec.hostPath.path, { recursive: true, force: true });
      this.deleted++;
    }
    const available = pvs.filter((p) => p.status?.phase === 'Available' || p.status?.phase === 'Pending').length;
    for (let i = available; i < this.spare; i++) {
      const name = `upstream-e2e-workspace-${this.next++}`;
      const path = join(this.dir, name);
      mkdirSync(path, { recursive: true, mode: 0o777 });
      const pv = {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name, labels: { [LABEL]: 'true' } },
        spec: { capacity: { storage: '10Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain', hostPath: { path, type: 'Directory' } },
      };
      await this.kubectl(['apply', '-f', '-'], JSON.stringify(pv));
      this.made++;
    }
  }

  start(intervalMs = 2000): void {
    const loop = async () => {
      if (this.busy) return;
      this.busy = true;
      try {
        await this.tick();
      } catch {
        // the next tick tries again (the API server may be busy)
      } finally {
        this.busy = false;
      }
    };
    void loop();
    this.timer = setInterval(() => void loop(), intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
