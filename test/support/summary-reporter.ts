// A node:test reporter that writes one JSON line of counts, so scripts/test.ts
// can print one closing line over every tier.
import type { TestEvent } from 'node:test/reporters';

export default async function* summary(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const counts = { passed: 0, failed: 0, skipped: 0, todo: 0 };
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    // Count leaf tests only: a suite's own pass/fail event repeats its children.
    const details = event.data.details as { type?: string } | undefined;
    if (details?.type === 'suite') {
      // A skipped suite runs none of its tests: count it once, so its skip is not invisible.
      if (event.type === 'test:pass' && event.data.skip !== undefined) counts.skipped++;
      continue;
    }
    if (event.type === 'test:fail') counts.failed++;
    else if (event.data.skip !== undefined) counts.skipped++;
    else if (event.data.todo !== undefined) counts.todo++;
    else counts.passed++;
  }
  yield JSON.stringify(counts) + '\n';
}
