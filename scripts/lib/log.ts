// Output for humans and for CI. With no TTY, or with CI set, every message is
// one plain line (no spinner, colour only if FORCE_COLOR); on a terminal, long
// waits show a spinner. Tests pass their own `write` to read what was said.

export interface Logger {
  readonly verbose: boolean;
  step(msg: string): void;
  info(msg: string): void;
  ok(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** Shown only with --verbose. */
  debug(msg: string): void;
  /** Show that `label` is in progress until `work` settles; returns its value. */
  progress<T>(label: string, work: Promise<T>): Promise<T>;
  /** Output a command streams (`.quiet(false)`), kept clear of the spinner's line. */
  stream(data: string): void;
}

export interface LoggerOptions {
  verbose?: boolean;
  write?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  tty?: boolean;
}

const codes = { bold: 1, red: 31, green: 32, yellow: 33, blue: 34, dim: 2 } as const;
type Style = keyof typeof codes;

export function useColor(env: NodeJS.ProcessEnv, tty: boolean): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0';
  return tty && !env.CI;
}

export function interactive(env: NodeJS.ProcessEnv, tty: boolean): boolean {
  return tty && !env.CI;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const env = opts.env ?? process.env;
  const tty = opts.tty ?? Boolean(process.stderr.isTTY);
  const color = useColor(env, tty);
  const spin = interactive(env, tty) && opts.write === undefined;
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const paint = (style: Style, s: string) => (color ? `\x1b[${codes[style]}m${s}\x1b[0m` : s);
  const verbose = opts.verbose ?? false;
  // The spinner's line, while one spins: streamed output first clears it, the next frame redraws it.
  let spinning = false;
  let midLine = false; // streamed output ended without a newline: the spinner waits

  return {
    verbose,
    step: (m) => write(paint('bold', `==> ${m}`)),
    info: (m) => write(`    ${m}`),
    ok: (m) => write(`${paint('green', ' ok ')} ${m}`),
    warn: (m) => write(`${paint('yellow', 'warn')} ${m}`),
    error: (m) => write(`${paint('red', 'FAIL')} ${m}`),
    debug: (m) => {
      if (verbose) write(paint('dim', `  · ${m}`));
    },
    stream(data) {
      if (opts.write) return data.split('\n').filter((l) => l !== '').forEach((l) => write(l));
      process.stderr.write(spinning && !midLine ? `\r\x1b[K${data}` : data);
      midLine = !data.endsWith('\n');
    },
    async progress<T>(label: string, work: Promise<T>): Promise<T> {
      const start = Date.now();
      const secs = () => ((Date.now() - start) / 1000).toFixed(1);
      if (!spin) {
        write(`    ${label} ...`);
        try {
          const value = await work;
          write(`    ${label}: done in ${secs()}s`);
          return value;
        } catch (err) {
          write(`    ${label}: failed after ${secs()}s`);
          throw err;
        }
      }
      const frames = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
      let i = 0;
      spinning = true;
      const timer = setInterval(() => {
        if (!midLine) process.stderr.write(`\r\x1b[K    ${frames[i++ % frames.length]} ${label} (${secs()}s)`);
      }, 100);
      try {
        const value = await work;
        process.stderr.write(`${midLine ? '\n' : '\r\x1b[K'}    ${label}: done in ${secs()}s\n`);
        return value;
      } catch (err) {
        process.stderr.write(`${midLine ? '\n' : '\r\x1b[K'}    ${label}: failed after ${secs()}s\n`);
        throw err;
      } finally {
        clearInterval(timer);
        spinning = false;
      }
    },
  };
}

/** A logger that keeps its lines, for tests. */
export function memoryLogger(verbose = true): Logger & { lines: string[] } {
  const lines: string[] = [];
  return Object.assign(createLogger({ verbose, write: (l) => lines.push(l), env: {}, tty: false }), { lines });
}
