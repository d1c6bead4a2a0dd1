// The Node version the kit needs (package.json's engines.node), checked before
// any TypeScript loads: plain JavaScript, so an old Node (Debian's 20 cannot
// run .ts files, and client-node's undici crashes on it) gets a sentence, not a
// stack trace. `node scripts/lib/node-check.mjs` exits 2 with that sentence;
// the mise tasks run it first (k8s:dev:deps) and task.ts checks it again.
// @ts-check
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const packageJson = fileURLToPath(new URL('../../package.json', import.meta.url));

/** engines.node from package.json, e.g. ">=22.19". */
export const KIT_ENGINES = /** @type {{ engines: { node: string } }} */ (JSON.parse(readFileSync(packageJson, 'utf8'))).engines.node;

/**
 * Why this Node cannot run the kit, or undefined.
 * @param {string} [version] e.g. "20.19.2"
 * @param {string} [engines] ">=major.minor"
 * @returns {string | undefined}
 */
export function nodeProblem(version = process.versions.node, engines = KIT_ENGINES) {
  const want = /^>=\s*(\d+)\.(\d+)/.exec(engines);
  if (!want) return undefined;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [wantMajor, wantMinor] = [Number(want[1]), Number(want[2])];
  if (major > wantMajor || (major === wantMajor && minor >= wantMinor)) return undefined;
  return `the kit needs Node ${engines.replace(/\s/g, ' ')} (package.json engines.node); this is Node ${version} (${process.execPath}). Run \`mise install\` (mise.toml pins node) and run the task through mise, or put a newer node first on PATH`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const problem = nodeProblem();
  if (problem) {
    process.stderr.write(`error: ${problem}\n`);
    process.exit(2);
  }
}
