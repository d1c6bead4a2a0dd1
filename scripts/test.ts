// The one test command: type-check, then each tier with node:test, each tier's
// counts, then one closing line over all of them. `node scripts/test.ts [tier...]`
// runs a subset.
//   unit   pure logic and exact commands (no engine, no cluster)
//   chart  the Helm chart rendered with real helm
//   contract  the real openshell-gateway started on every values file the kit ships
//   e2e    the tasks against a real Docker engine, registry and API server
// A tier whose tools are absent still runs: its tests skip, printing why, and
// every test of a skipped suite counts as a skip (test/support/suite-skips.ts).
// With OPENSHELL_TEST_STRICT_SKIPS=1 (the test bed) a skip that is not in
// test/support/allowed-skips.ts fails the run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { isAllowed, STRICT_SKIPS_VAR } from '../test/support/allowed-skips.ts';
import type { Skip, TierSummary } from '../test/support/summary-reporter.ts';

const root = join(import.meta.dirname, '..');
const tiers = ['unit', 'chart', 'contract', 'e2e'] as const;

function filesOf(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? filesOf(path) : name.endsWith('.test.ts') ? [path] : [];
    })
    .sort();
}

const wanted = process.argv.slice(2);
for (const w of wanted) {
  if (!(tiers as readonly string[]).includes(w) && w !== 'typecheck') {
    console.error(`unknown tier "${w}"; allowed: typecheck, ${tiers.join(', ')}`);
    process.exit(2);
  }
}
const runTier = (t: string) => wanted.length === 0 || wanted.includes(t);
const totals = { passed: 0, failed: 0, skipped: 0, todo: 0 };
const skips: Skip[] = [];
const tierLines: string[] = [];
const timings: string[] = [];
const countsLine = (c: { passed: number; failed: number; skipped: number }) => `${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`;
let failedSteps = 0;

if (runTier('typecheck')) {
  const start = Date.now();
  const tsc = spawnSync(join(root, 'node_modules/.bin/tsc'), ['--noEmit', '-p', root], { stdio: 'inherit' });
  timings.push(`typecheck ${((Date.now() - start) / 1000).toFixed(1)}s`);
  if (tsc.status !== 0) {
    console.error('typecheck failed');
    failedSteps++;
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'openshell-test-'));
for (const tier of tiers) {
  if (!runTier(tier)) continue;
  const files = filesOf(join(root, 'test', tier));
  if (files.length === 0) continue;
  const summaryFile = join(scratch, `${tier}.json`);
  const start = Date.now();
  console.log(`\n== ${tier}: ${files.length} file(s)`);
  const result = spawnSync(
    process.execPath,
    [
      '--test',
      `--import=${join(root, 'test/support/suite-skips.ts')}`,
      // e2e suites share one cluster and one registry, contract suites one test bed: run their files one at a time.
      `--test-concurrency=${tier === 'e2e' || tier === 'contract' ? 1 : 2}`,
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      `--test-reporter=${join(root, 'test/support/summary-reporter.ts')}`,
      `--test-reporter-destination=${summaryFile}`,
      ...files.map((f) => relative(root, f)),
    ],
    { cwd: root, stdio: 'inherit', env: { ...process.env, OPENSHELL_TEST_TIER: tier } },
  );
  timings.push(`${tier} ${((Date.now() - start) / 1000).toFixed(1)}s`);
  const counts: TierSummary = existsSync(summaryFile) ? (JSON.parse(readFileSync(summaryFile, 'utf8')) as TierSummary) : { passed: 0, failed: 0, skipped: 0, todo: 0, skips: [] };
  // A tier that failed without a failing test (a crash, a reporter error) still counts as one failure.
  if (result.status !== 0 && counts.failed === 0) counts.failed = 1;
  for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += counts[k];
  skips.push(...counts.skips);
  if (result.status !== 0) failedSteps++;
  const line = `${tier}: ${countsLine(counts)}`;
  tierLines.push(line);
  console.log(`\n== ${line}`);
}

if (process.env[STRICT_SKIPS_VAR] === '1') {
  const refused = skips.filter((s) => !isAllowed(s));
  if (refused.length > 0) {
    console.error(`\n${STRICT_SKIPS_VAR}=1: ${refused.length} skip(s) not in test/support/allowed-skips.ts:`);
    for (const s of refused) console.error(`  ${s.file ? `${s.file} › ` : ''}${s.name}: ${s.reason}`);
    failedSteps++;
  }
}

console.log(`\ntimings: ${timings.join(', ')}`);
for (const line of tierLines) console.log(line);
if (failedSteps > 0 && totals.failed === 0) totals.failed = failedSteps;
console.log(countsLine(totals));
process.exit(failedSteps > 0 ? 1 : 0);
