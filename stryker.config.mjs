// Mutation testing of the kit's core rules (npm run mutate; not a CI gate).
// scripts/mutate.ts runs Stryker once per module, passing the module and its
// unit tests in OPENSHELL_MUTATE_FILE and OPENSHELL_MUTATE_TESTS, so each mutant
// runs only those tests, in one process (the whole unit tier per mutant takes
// hours on a 2-core machine). Plain `npx stryker run` mutates all four modules
// against the whole unit tier. Survivors explained: test/MUTATION.md.
const file = process.env.OPENSHELL_MUTATE_FILE;
const tests = process.env.OPENSHELL_MUTATE_TESTS ?? 'test/unit/*.test.ts';
const name = process.env.OPENSHELL_MUTATE ?? 'all';

export default {
  testRunner: 'command',
  commandRunner: { command: `node --test --test-isolation=none ${tests}` },
  mutate: file ? [file] : ['scripts/lib/settings.ts', 'scripts/lib/kubeconfig.ts', 'scripts/lib/sideload.ts', 'scripts/lib/engine.ts'],
  coverageAnalysis: 'off',
  concurrency: Number(process.env.OPENSHELL_MUTATE_CONCURRENCY ?? 1),
  reporters: ['clear-text', 'progress-append-only', 'json'],
  jsonReporter: { fileName: `.build/mutation/${name}.json` },
  clearTextReporter: { allowColor: false, logTests: false },
  tempDirName: `.build/stryker-tmp-${name}`,
  cleanTempDir: 'always',
  ignorePatterns: ['.build', '.git', 'node_modules'],
  timeoutMS: 5_000,
};
