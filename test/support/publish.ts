// `k8s:chart:publish` as a process, for the e2e files that publish the chart.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { kitCopy, NODE, taskEnv, type TaskRun } from './e2e.ts';
import { pinSettings } from './settings-env.ts';

/** The publish task as a process (mise runs `node scripts/k8s-chart/publish.ts`), every setting pinned. */
export function runPublish(args: string[], home: string, extra: Record<string, string> = {}): Promise<TaskRun> {
  const start = performance.now();
  return new Promise((resolve) => {
    const child = spawn(NODE, [join(kitCopy(), 'scripts', 'k8s-chart', 'publish.ts'), ...args], {
      cwd: kitCopy(),
      env: pinSettings(taskEnv(home, extra)),
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ task: 'k8s:chart:publish', args, code: code ?? 1, stdout, stderr, out: stdout + stderr, ms: performance.now() - start }));
  });
}
