// Check results as doctor and status print them: one line each, the fix under
// a failure, and a verdict for the exit status.
import type { Logger } from './log.ts';
import type { CheckResult } from './smoke-pod.ts';

export type { CheckResult };

const MARK: Record<CheckResult['status'], string> = { ok: 'pass', warn: 'warn', fail: 'FAIL', skip: 'skip' };

export function printChecks(log: Logger, checks: CheckResult[]): void {
  const width = Math.max(...checks.map((c) => c.name.length), 8);
  for (const c of checks) {
    log.info(`[${MARK[c.status]}] ${c.name.padEnd(width)}  ${c.detail}`);
    if (c.fix && (c.status === 'fail' || c.status === 'warn')) log.info(`       ${' '.repeat(width)}  fix: ${c.fix}`);
  }
}

export function failed(checks: CheckResult[]): number {
  return checks.filter((c) => c.status === 'fail').length;
}

/** Run a check; an exception becomes a failure with its message. */
export async function guard(name: string, check: () => Promise<CheckResult | CheckResult[]>, fix?: string): Promise<CheckResult[]> {
  try {
    const r = await check();
    return Array.isArray(r) ? r : [r];
  } catch (err) {
    return [{ name, status: 'fail', detail: (err as Error).message.split('\n')[0] ?? String(err), ...(fix ? { fix } : {}) }];
  }
}
