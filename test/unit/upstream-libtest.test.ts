// Reading libtest's plain output for `npm run test:upstream` (test/upstream/libtest.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFailures, parseList, parseOutcomes, results } from '../../test/upstream/libtest.ts';

const RUN = `
running 4 tests
test gateway_smoke ... ok
test sandbox_stop_start_preserves_workspace ... FAILED
test sandbox_pod_spec_has_user_namespace_fields ... ignored, broken: hardcoded docker exec container name
test canonical_main_exit ... FAILED

failures:

---- sandbox_stop_start_preserves_workspace stdout ----
some captured line

thread 'sandbox_stop_start_preserves_workspace' panicked at tests/sandbox_lifecycle.rs:140:10:
sandbox create should succeed: "sandbox create failed (exit Some(1)):\\nError: image pull failed"
note: run with \`RUST_BACKTRACE=1\` environment variable to display a backtrace

---- canonical_main_exit stdout ----
only output, no panic

failures:
    sandbox_stop_start_preserves_workspace
    canonical_main_exit

test result: FAILED. 1 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 12.00s
`;

test('--list gives the test names', () => {
  assert.deepEqual(parseList('a_test: test\nmod::b: test\n\n2 tests, 0 benchmarks\n'), ['a_test', 'mod::b']);
});

test('each result line becomes an outcome; an ignore keeps its reason', () => {
  const o = parseOutcomes(RUN);
  assert.deepEqual(o.get('gateway_smoke'), { outcome: 'pass', why: '' });
  assert.equal(o.get('sandbox_stop_start_preserves_workspace')?.outcome, 'fail');
  assert.deepEqual(o.get('sandbox_pod_spec_has_user_namespace_fields'), { outcome: 'ignored', why: 'broken: hardcoded docker exec container name' });
});

test('a failure is cut to its panic, without the backtrace hint; without a panic, its output', () => {
  const f = parseFailures(RUN);
  assert.equal(
    f.get('sandbox_stop_start_preserves_workspace'),
    "thread 'sandbox_stop_start_preserves_workspace' panicked at tests/sandbox_lifecycle.rs:140:10:\nsandbox create should succeed: \"sandbox create failed (exit Some(1)):\\nError: image pull failed\"",
  );
  assert.equal(f.get('canonical_main_exit'), 'only output, no panic');
});

test('a listed test without a result line: timeout (with what was stuck) when the run was killed, else not run', () => {
  const listed = ['gateway_smoke', 'never_reported'];
  const killed = results('smoke', listed, RUN, true, 'pod x container agent: ImagePullBackOff');
  assert.deepEqual(killed.map((r) => r.outcome), ['pass', 'timeout']);
  assert.match(killed[1]!.why, /time limit[\s\S]*ImagePullBackOff/);
  assert.deepEqual(results('smoke', listed, RUN, false).map((r) => r.outcome), ['pass', 'not run']);
});

const SHOWN = `
running 2 tests
test corporate_proxy ... ok
test silent ... ok

successes:

---- corporate_proxy stdout ----
Skipping corporate proxy test: fixture mode is disabled

---- silent stdout ----

successes:
    corporate_proxy
    silent

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
`;

test('a pass that only said "Skipping ..." (--show-output), or a known silent gate, is a skip, not coverage', () => {
  const r = results('t', ['corporate_proxy', 'silent'], SHOWN, false, '', { silent: 'returns unless OPENSHELL_E2E_DRIVER=podman' });
  assert.deepEqual(
    r.map((x) => [x.outcome, x.why]),
    [
      ['skip', 'the test returned early: Skipping corporate proxy test: fixture mode is disabled'],
      ['skip', 'the test returned early: returns unless OPENSHELL_E2E_DRIVER=podman'],
    ],
  );
  assert.deepEqual(results('t', ['silent'], SHOWN, false).map((x) => x.outcome), ['pass']);
});
