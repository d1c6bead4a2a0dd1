// A node:test reporter that writes one JSON object: the tier's counts and every
// skipped test with its reason, so scripts/test.ts can print each tier's counts
// and hold the test bed to its allowed skips. A skipped suite's tests arrive here
// one by one, each skipped (test/support/suite-skips.ts).
import { relative } from 'node:path';
import type { TestEvent } from 'node:test/reporters';

export interface Skip {
  /** The test file, relative to the working directory ('' when unknown). */
  file: string;
  name: string;
  reason: string;
}

export interface TierSummary {
  passed: number;
  failed: number;
  skipped: number;
  todo: number;
  skips: Skip[];
}

export default async function* summary(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const out: TierSummary = { passed: 0, failed: 0, skipped: 0, todo: 0, skips: [] };
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    // Count tests only: a suite's own pass/fail event repeats its children.
    const details = event.data.details as { type?: string } | undefined;
    const skip = event.data.skip;
    if (details?.type === 'suite') {
      // Only a suite skipped outside scripts/test.ts (no suite-skips preload) gets here.
      if (event.type === 'test:pass' && skip !== undefined) record(out, event.data, skip);
      continue;
    }
    if (event.type === 'test:fail') out.failed++;
    else if (skip !== undefined) record(out, event.data, skip);
    else if (event.data.todo !== undefined) out.todo++;
    else out.passed++;
  }
  yield JSON.stringify(out) + '\n';
}

function record(out: TierSummary, data: { name: string; file?: string }, skip: string | boolean): void {
  out.skipped++;
  out.skips.push({ file: data.file ? relative(process.cwd(), data.file) : '', name: data.name, reason: typeof skip === 'string' ? skip : 'skipped' });
}
