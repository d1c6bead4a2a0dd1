// npm run mutate [module...]: Stryker over the unit tests of each core module
// (settings, kubeconfig, sideload, engine; default all), one module at a time,
// then each module's mutation score. Reports: .build/mutation/<module>.json.
// Not a CI gate: it takes minutes per module. See test/MUTATION.md.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Each module and the unit tests that exercise it. */
const MODULES: Record<string, { file: string; tests: string[] }> = {
  settings: { file: 'scripts/lib/settings.ts', tests: ['test/unit/settings.test.ts', 'test/unit/kwok-provider.test.ts', 'test/unit/sideload.test.ts'] },
  kubeconfig: { file: 'scripts/lib/kubeconfig.ts', tests: ['test/unit/kubeconfig.test.ts'] },
  sideload: { file: 'scripts/lib/sideload.ts', tests: ['test/unit/sideload.test.ts', 'test/unit/sideload-task.test.ts'] },
  engine: { file: 'scripts/lib/engine.ts', tests: ['test/unit/engine.test.ts'] },
};

const root = join(import.meta.dirname, '..');
const names = Object.keys(MODULES);
const wanted = process.argv.slice(2);
for (const w of wanted) {
  if (!names.includes(w)) {
    console.error(`unknown module "${w}"; allowed: ${names.join(', ')}`);
    process.exit(2);
  }
}
const scores: string[] = [];
let failed = false;
for (const name of wanted.length > 0 ? wanted : names) {
  console.log(`\n== mutate ${name}`);
  const r = spawnSync(join(root, 'node_modules/.bin/stryker'), ['run', 'stryker.config.mjs'], { cwd: root, stdio: 'inherit', env: { ...process.env, OPENSHELL_MUTATE: name, OPENSHELL_MUTATE_FILE: MODULES[name]!.file, OPENSHELL_MUTATE_TESTS: MODULES[name]!.tests.join(' ') },
  });
  if (r.status !== 0) {
    failed = true;
    scores.push(`${name}: stryker failed (exit ${r.status})`);
    continue;
  }
  const report = JSON.parse(readFileSync(join(root, '.build/mutation', `${name}.json`), 'utf8')) as { files: Record<string, { mutants: { status: string }[] }> };
  const all = Object.values(report.files).flatMap((f) => f.mutants);
  const count = (s: string) => all.filter((m) => m.status === s).length;
  const killed = count('Killed') + count('Timeout');
  const valid = all.length - count('CompileError') - count('RuntimeError') - count('Ignored');
  scores.push(`${name}: ${((100 * killed) / valid).toFixed(1)}% (${killed} killed of ${valid}; ${count('Survived')} survived, ${count('NoCoverage')} no coverage)`);
}
console.log(`\nmutation scores:\n  ${scores.join('\n  ')}`);
process.exit(failed ? 1 : 0);
