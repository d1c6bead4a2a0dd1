// What every task script shares: flags, settings, logger and runner, and one
// place that turns errors into exit statuses (2: bad settings or usage,
// 1: anything else, 130: interrupted).
import { parseArgs } from 'node:util';
import { createLogger, type Logger } from './log.ts';
import { createRunner, type Executor, type Runner } from './run.ts';
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
  run: Runner;
  flags: Flags;
  /** Environment for child processes (the engine adds DOCKER_HOST and friends). */
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
  executor?: Executor;
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
    // The task's own flags come first; the first other word (or `--`) starts what is passed through.
    const isOwn = (a: string) => a === '-h' || Object.keys(options).some((o) => a === `--${o}` || a.startsWith(`--${o}=`));
    let i = 0;
    while (i < argv.length && isOwn(argv[i]!)) i += options[argv[i]!.slice(2)]?.type === 'string' && !argv[i]!.includes('=') ? 2 : 1;
    own = argv.slice(0, i);
    rest = argv.slice(argv[i] === '--' ? i + 1 : i);
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
  const lines = [`usage: mise run k8s:dev:${def.name} [flags]${tail}`, `  ${def.summary}`, '', '  --dry-run   print what would run and be applied, change nothing', '  --verbose   print every command and its exit status', '  -h, --help  print this help'];
  for (const [name, f] of Object.entries(def.flags ?? {})) lines.push(`  --${name}${f.value ? ' VALUE' : ''}   ${f.help}`);
  if (def.passthrough) lines.push('', `  Any other argument, and everything after \`--\`, goes to ${def.passthrough}.`);
  return lines.join('\n');
}

/** Build a context without running anything: tests call tasks through this. */
export function createContext(def: TaskDefinition, opts: ContextOptions = {}): TaskContext {
  const flags = parseFlags(def, opts.argv ?? []);
  const env = opts.env ?? process.env;
  const settings = opts.settings ?? loadSettings({ env });
  const log = opts.log ?? createLogger({ verbose: flags.verbose, env });
  const childEnv = { ...env };
  const run = createRunner({ log, dryRun: flags.dryRun, executor: opts.executor, env: childEnv });
  return { settings, log, run, flags, env: childEnv };
}

/** Run a task as a process: the entry point of every scripts/k8s-dev/<task>.ts. */
export async function runTask(def: TaskDefinition, argv = process.argv.slice(2)): Promise<never> {
  let code = 1;
  let log: Logger = createLogger();
  try {
    const flags = parseFlags(def, argv);
    if (flags.help) {
      console.log(usage(def));
      process.exit(0);
    }
    const ctx = createContext(def, { argv });
    log = ctx.log;
    code = (await def.main(ctx)) ?? 0;
  } catch (err) {
    if (err instanceof SettingsError || err instanceof UserError) {
      log.error(err.message);
      code = err.exitCode;
    } else {
      log.error(err instanceof Error ? (log.verbose ? (err.stack ?? err.message) : err.message) : String(err));
      code = 1;
    }
  }
  process.exit(code);
}

/** True when this module is the process's entry point (so tests can import tasks). */
export function isMain(meta: ImportMeta): boolean {
  return process.argv[1] !== undefined && meta.filename === process.argv[1];
}
