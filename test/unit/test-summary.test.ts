// The counts scripts/test.ts prints cannot hide what did not run: every test of
// a skipped suite counts as a skip with the suite's reason and its own file, its
// hooks do not run, and the test bed's allowed skips are one explicit list.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ALLOWED_SKIPS, isAllowed } from '../support/allowed-skips.ts';
import type { TierSummary } from '../support/summary-reporter.ts';

const SUPPORT = join(import.meta.dirname, '..', 'support');
const work = mkdtempSync(join(tmpdir(), 'openshell-summary-unit-'));
after(() => rmSync(work, { recursive: true, force: true }));

// A nested node --test must not report to this run's runner.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT'));

const FIXTURE = `
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it, test } from 'node:test';
describe('needs a tool', { skip: 'needs helm on PATH' }, () => {
  before(() => { throw new Error('a hook of a skipped suite ran'); });
  beforeEach(() => { throw new Error('a hook of a skipped suite ran'); });
  after(() => { throw new Error('a hook of a skipped suite ran'); });
  test('one', () => assert.fail('a test of a skipped suite ran'));
  it('two', { timeout: 5 }, () => assert.fail('a test of a skipped suite ran'));
  describe('nested', () => {
    test('three', () => assert.fail('ran'));
  });
});
describe.skip('skipped with describe.skip', () => {
  test('four', () => assert.fail('ran'));
});
describe('runs', () => {
  test('passes', () => assert.ok(true));
  test('skips itself', { skip: 'own reason' }, () => assert.fail('ran'));
  test('todo', { todo: 'later' }, () => {});
});
test('a top-level test', () => assert.ok(true));
`;

function runFixture(source: string): { summary: TierSummary; out: string; code: number | null } {
  const file = join(work, `case-${Math.random().toString(36).slice(2)}.test.ts`);
  writeFileSync(file, source);
  const dest = `${file}.json`;
  const r = spawnSync(
    process.execPath,
    ['--test', `--import=${join(SUPPORT, 'suite-skips.ts')}`, '--test-reporter=spec', '--test-reporter-destination=stdout', `--test-reporter=${join(SUPPORT, 'summary-reporter.ts')}`, `--test-reporter-destination=${dest}`, file],
    { cwd: work, env, encoding: 'utf8', timeout: 60_000 },
  );
  return { summary: JSON.parse(readFileSync(dest, 'utf8')) as TierSummary, out: r.stdout + r.stderr, code: r.status };
}

test('a skipped suite counts every test in it, with its reason and file; its hooks never run', () => {
  const { summary, out, code } = runFixture(FIXTURE);
  assert.equal(code, 0, out);
  assert.deepEqual({ passed: summary.passed, failed: summary.failed, skipped: summary.skipped, todo: summary.todo }, { passed: 2, failed: 0, skipped: 5, todo: 1 }, out);
  assert.doesNotMatch(out, /ran/);
  const file = summary.skips[0]!.file;
  assert.match(file, /^case-\w+\.test\.ts$/, 'each test keeps its own file, not the preload\'s');
  assert.deepEqual(
    summary.skips.map((s) => [s.file, s.name, s.reason]),
    [
      [file, 'one', 'needs helm on PATH'],
      [file, 'two', 'needs helm on PATH'],
      [file, 'three', 'needs helm on PATH'],
      [file, 'four', 'skipped'],
      [file, 'skips itself', 'own reason'],
    ],
  );
});

test('without the preload node:test counts 4 tests and 1 skip for the same file: the preload is what makes the count honest', () => {
  const file = join(work, 'plain.test.ts');
  writeFileSync(file, FIXTURE);
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], { cwd: work, env, encoding: 'utf8', timeout: 60_000 });
  assert.match(r.stdout, /^# tests 4$/m, r.stdout + r.stderr);
  assert.match(r.stdout, /^# skipped 1$/m);
});

test('the test bed allows only the listed skips, each matched by file and reason', () => {
  const k3d = ALLOWED_SKIPS.find((a) => a.file === 'test/e2e/k3d.test.ts');
  assert.ok(k3d, 'the k3d suite\'s missing k3s image is allowed');
  assert.ok(isAllowed({ file: 'test/e2e/k3d.test.ts', name: 'up', reason: 'needs the k3s image rancher/k3s:v1.35.1-k3s1: not present locally' }));
  assert.equal(isAllowed({ file: 'test/e2e/k3d.test.ts', name: 'up', reason: 'needs k3d on PATH' }), false, 'another reason in the same file');
  assert.equal(isAllowed({ file: 'test/e2e/flow.test.ts', name: 'up', reason: 'needs the k3s image rancher/k3s' }), false, 'the same reason in another file');
  assert.equal(isAllowed({ file: 'test/chart/render.test.ts', name: 'lint', reason: 'needs helm on PATH' }), false);
});
