// What every task script shares: flags, settings and logger, and one place
// that turns errors into exit statuses (2: bad settings or usage, 1: anything
// else, 130: interrupted). Commands are zx's `$` (set up in sh.ts).
import { parseArgs } from 'node:util';
import { createLogger, type Logger } from './log.ts';
import { $, ProcessOutput } from 'zx';
import { nodeProblem } from './node-check.mjs';
import { configure, history, interrupted, lastFailure, stopChildren } from './sh.ts';
import { loadSettings, SettingsError, type Settings } from './settings.ts';

export interface Flags {
  dryRun: boolean;
  verbose: boolean;
  /** Words after the flags (e.g. a binary path for sideload). */
  args: string[];
  /** Task-specific flags, as parsed. */
  options: Record<string, string | boolean | undefined>;
}

export interface TaskContext {
  settings: Settings;
  log: Logger;
  flags: Flags;
  /** --dry-run: commands through `$w` are printed, not run; nothing is written. */
  dryRun: boolean;
  /** The environment commands get ($.env; the engine adds DOCKER_HOST and friends). */
  env: NodeJS.ProcessEnv;
}

/** An error the user can act on: printed without a stack trace. */
export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

export interface TaskDefinition {
  name: string;
  /** The mise task's full name when it is not k8s:dev:<name> (e.g. k8s:chart:publish). */
  task?: string;
  summary: string;
  /** Extra flags: name → help text; string-valued when `value` is set. */
  flags?: Record<string, { help: string; value?: boolean }>;
  /** Who gets the arguments that are not the task's own (e.g. `skaffold dev`): from the first
   * word that is not one of its flags, or after `--`, everything goes there unparsed. */
  passthrough?: string;
  main: (ctx: TaskContext) => Promise<number | void>;
}

export interface ContextOptions {
  argv?: string[];
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  settings?: Settings;
}

export function parseFlags(def: TaskDefinition, argv: string[]): Flags & { help: boolean } {
  const options: Record<string, { type: 'boolean' | 'string'; short?: string }> = {
    'dry-run': { type: 'boolean' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, f] of Object.entries(def.flags ?? {})) options[name] = { type: f.value ? 'string' : 'boolean' };
  let own = argv;
  let rest: string[] = [];
  if (def.passthrough) {
    // The task's own flags, wherever they stand before a `--`, are the task's
    // (`-- -p ha --dry-run` is a dry run of `skaffold dev -p ha`); every other
    // word, and everything after a `--` of the task's own, is passed through.
    const isOwn = (a: string) => a === '-h' || Object.keys(options).some((o) => a === `--${o}` || a.startsWith(`--${o}=`));
    own = [];
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === '--') {
        rest.push(...argv.slice(i + 1));
        break;
      }
      if (!isOwn(a)) rest.push(a);
      else if (options[a.slice(2)]?.type === 'string' && !a.includes('=')) own.push(a, ...argv.slice(i + 1, (i += 1) + 1));
      else own.push(a);
    }
  }
  let parsed;
  try {
    parsed = parseArgs({ args: own, options, allowPositionals: !def.passthrough, strict: true });
  } catch (err) {
    throw new UserError(`${(err as Error).message}\n${usage(def)}`, 2);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  return {
    dryRun: v['dry-run'] === true,
    verbose: v.verbose === true || process.env.OPENSHELL_DEV_VERBOSE === '1',
    help: v.help === true,
    args: def.passthrough ? rest : parsed.positionals,
    options: v,
  };
}

export function usage(def: TaskDefinition): string {
  const tail = def.passthrough ? ` [-- arguments for ${def.passthrough}]` : '';
  const lines = [`usage: mise run ${def.task ?? `k8s:dev:${def.name}`} [flags]${tail}`, `  ${def.summary}`, '', '  --dry-run   print what would run and be applied, change nothing', '  --verbose   print every command and its exit status', '  -h, --help  print this help'];
  for (const [name, f] of Object.entries(def.flags ?? {})) lines.push(`  --${name}${f.value ? ' VALUE' : ''}   ${f.help}`);
  if (def.passthrough) lines.push('', `  Any other argument, and everything after \`--\`, goes to ${def.passthrough}.`);
  return lines.join('\n');
}

/** Build a context and point zx at it (environment, --dry-run, --verbose): tests call tasks through this. */
export function createContext(def: TaskDefinition, opts: ContextOptions = {}): TaskContext {
  const flags = parseFlags(def, opts.argv ?? []);
  const env = { ...(opts.env ?? process.env) };
  const settings = opts.settings ?? loadSettings({ env });
  const log = opts.log ?? createLogger({ verbose: flags.verbose, env });
  $.env = env;
  history.length = 0;
  configure({ dryRun: flags.dryRun, verbose: flags.verbose, log });
  return { settings, log, flags, dryRun: flags.dryRun, env };
}

/** The message for an error: a failed command names itself and the tail of what it said. */
export function describe(err: unknown, verbose: boolean): string {
  if (err instanceof ProcessOutput) {
    const said = (err.stderr || err.stdout).trim().split('\n').slice(-5).join('\n');
    return `command failed: ${lastFailure() ?? `exit ${err.exitCode}`}${said ? `\n${said}` : ''}`;
  }
  return err instanceof Error ? (verbose ? (err.stack ?? err.message) : err.message) : String(err);
}

/** Run a task as a process: the entry point of every scripts/k8s-dev/<task>.ts. */
export async function runTask(def: TaskDefinition, argv = process.argv.slice(2)): Promise<never> {
  let code = 1;
  let log: Logger = createLogger();
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // Ctrl+C: every running command gets it and time to clean up (skaffold deletes its release); then 130.
    process.once(sig, () => void stopChildren().then(() => process.exit(130)));
  }
  try {
    const flags = parseFlags(def, argv);
    if (flags.help) {
      console.log(usage(def));
      process.exit(0);
    }
    // Before anything loads @kubernetes/client-node, whose undici crashes on older Node.
    const old = nodeProblem();
    if (old) throw new UserError(old, 2);
    const ctx = createContext(def, { argv });
    log = ctx.log;
    code = (await def.main(ctx)) ?? 0;
  } catch (err) {
    if (interrupted()) {
      await stopChildren();
      process.exit(130);
    }
    if (err instanceof SettingsError || err instanceof UserError) {
      log.error(err.message);
      code = err.exitCode;
    } else {
      log.error(describe(err, log.verbose));
      code = 1;
    }
  }
  if (interrupted()) {
    await stopChildren();
    code = 130;
  }
  process.exit(code);
}

/** True when this module is the process's entry point (so tests can import tasks). */
export function isMain(meta: ImportMeta): boolean {
  return process.argv[1] !== undefined && meta.filename === process.argv[1];
}
