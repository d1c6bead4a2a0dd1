// The per-test table of a run of upstream's suite, as Markdown (printed and
// written to test/upstream/last-run.md).
import type { Outcome, TestResult } from './libtest.ts';

const s = (ms: number) => `${(ms / 1000).toFixed(0)}s`;
const cell = (t: string) => t.replaceAll('|', '\\|').replaceAll('\n', '<br>');

export function report(rows: TestResult[], t: { setupMs: Record<string, number>; testsMs: number; totalMs: number; sandboxImage: string; interrupted?: boolean }): string {
  const count = (o: Outcome) => rows.filter((r) => r.outcome === o).length;
  const lines = [
    '# Upstream Kubernetes e2e (e2e/rust, features e2e,e2e-kubernetes) against the kit\'s chart on the real node',
    '',
    ...(t.interrupted ? ['**Interrupted (Ctrl+C): the run stopped early; tests cut short show as not run.**', ''] : []),
    `${count('pass')} passed, ${count('skip')} returned early (gated off by the test itself), ${count('fail')} failed, ${count('ignored')} ignored (#[ignore] upstream), ${count('timeout')} timed out, ${count('not run')} not run — ${rows.length} tests; sandbox image ${t.sandboxImage}`,
    '',
    `Setup: ${Object.entries(t.setupMs).map(([k, v]) => `${k} ${s(v)}`).join('; ')}. Tests ${s(t.testsMs)}. Total ${s(t.totalMs)}.`,
    '',
    '| target | test | result | why (first lines) |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.target} | ${r.test} | ${r.outcome} | ${cell(r.why)} |`),
    '',
  ];
  return lines.join('\n');
}
