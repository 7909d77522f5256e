/**
 * What the package command lines share: the usage error, parsing `parseArgs` output through a zod schema into
 * usage errors, number flags, a Ctrl-C handler and the top-level error report.
 *
 * Light on purpose (node's own modules and zod only, no tfjs): a CLI imports it before it knows whether it has
 * work to do, so `--help` and usage errors stay quick. Import it as `@rpg/core/cli-kit`.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { z } from 'zod';
import { InputError } from './input-error.js';

/** A mistake in the command line: reported with a pointer to `--help` (of `command` when given). */
export class UsageError extends InputError {
  override readonly name = 'UsageError';

  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

/** Thrown into a long job through its AbortSignal on Ctrl-C; the CLI exits 130 without "error:". */
export class Interrupted extends Error {
  override readonly name = 'Interrupted';

  constructor(message = 'interrupted (Ctrl-C)') {
    super(message);
  }
}

/** The option table `parseArgs` takes. */
export type CliOptions = NonNullable<ParseArgsConfig['options']>;
/** What {@link parseCommandLine} returns for an option table. */
export type ParsedCommandLine<O extends CliOptions> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
>;

/** `parseArgs` (strict, with positionals) whose own errors, which name the bad option, become usage errors. */
export function parseCommandLine<O extends CliOptions>(
  argv: string[],
  options: O,
  command?: string,
): ParsedCommandLine<O> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message, command);
  }
}

/**
 * A tool's command line (`tool <command> [arguments] [flags]`): its flags, the command and the command's
 * arguments; undefined after printing `help` for `--help`, `help` or no arguments at all.
 */
export function parseToolCommand<O extends CliOptions>(
  argv: string[],
  options: O,
  help: string,
): { values: ParsedCommandLine<O>['values']; command: string | undefined; rest: string[] } | undefined {
  const { values, positionals } = parseCommandLine(argv, options);
  const [command, ...rest] = positionals;
  if ((values as { help?: unknown }).help || command === 'help' || argv.length === 0) {
    process.stdout.write(help);
    return undefined;
  }
  return { values, command, rest };
}

/** Parses `values` with `schema`; the issues' messages (which name the flag) become one usage error. */
export function parseFlags<S extends z.ZodType>(
  schema: S,
  values: unknown,
  options: { command?: string; separator?: string } = {},
): z.output<S> {
  const r = schema.safeParse(values);
  if (!r.success) {
    throw new UsageError(
      r.error.issues.map((i) => i.message).join(options.separator ?? '; '),
      options.command,
    );
  }
  return r.data;
}

/** Throws a usage error for the first of `names` that was given: those flags do not apply to `command`. */
export function rejectFlags(
  values: Record<string, unknown>,
  names: readonly string[],
  command: string,
): void {
  for (const name of names) {
    if (values[name] !== undefined) throw new UsageError(`--${name} does not apply to ${command}`);
  }
}

/** A flag whose text must be a finite number for which `ok` holds; the message says it must be `what`. */
export function numberFlag(flag: string, what: string, ok: (v: number) => boolean) {
  return z.string().transform((text, ctx) => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || !ok(value)) {
      ctx.addIssue({ code: 'custom', message: `--${flag} must be ${what}, got "${text}"` });
      return z.NEVER;
    }
    return value;
  });
}

/** An integer flag `>= min` (and `<= max` when given). */
export function intFlag(flag: string, min: number, max?: number) {
  const what =
    max !== undefined
      ? `an integer in ${min}…${max}`
      : min === 1
        ? 'a positive integer'
        : `an integer >= ${min}`;
  return numberFlag(flag, what, (v) => Number.isInteger(v) && v >= min && (max === undefined || v <= max));
}

/** A number flag `> 0`. */
export const positiveFlag = (flag: string) => numberFlag(flag, 'a positive number', (v) => v > 0);

/** A number flag `>= 0`. */
export const nonNegativeFlag = (flag: string) => numberFlag(flag, 'a number >= 0', (v) => v >= 0);

/** A flag that must be one of `values`. */
export function choiceFlag<const T extends readonly [string, ...string[]]>(flag: string, values: T) {
  return z.enum(values, {
    error: (issue) => `--${flag} must be one of ${values.join(', ')}, got "${String(issue.input)}"`,
  });
}

/** A comma-separated list flag, each item checked by `item` (e.g. `intFlag`, `choiceFlag`). */
export function listFlag<T extends z.ZodType<unknown, string>>(item: T) {
  return z
    .string()
    .transform((text) => text.split(','))
    .pipe(z.array(item));
}

const HELP_FLAG = { help: { type: 'boolean', short: 'h', default: false } } as const;

/**
 * A benchmark script's flags: `options` and `--help` (which prints `help` and exits 0); an unknown flag throws
 * `parseArgs`' own error, which names it.
 */
export function benchFlags<O extends CliOptions>(options: O, help: string) {
  const { values } = parseArgs({ options: { ...options, ...HELP_FLAG } });
  if ((values as { help?: boolean }).help) {
    console.log(help);
    process.exit(0);
  }
  return values as ReturnType<typeof parseArgs<{ options: O & typeof HELP_FLAG }>>['values'];
}

/**
 * {@link parseFlags} for a script without a CLI of its own (a benchmark): a usage error is printed on stderr and
 * the process exits 1.
 */
export function parseFlagsOrExit<S extends z.ZodType>(schema: S, values: unknown): z.output<S> {
  try {
    return parseFlags(schema, values);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}

/**
 * Installs a Ctrl-C handler that aborts `controller` with {@link Interrupted} (a second Ctrl-C exits at once);
 * returns its remover.
 */
export function onCtrlC(controller: AbortController, what: string): () => void {
  const handler = () => {
    if (controller.signal.aborted) {
      process.stderr.write('\nsecond Ctrl-C: exiting now\n');
      process.exit(130);
    }
    process.stderr.write(`\nCtrl-C: stopping ${what} (Ctrl-C again to quit at once)\n`);
    controller.abort(new Interrupted());
  };
  process.on('SIGINT', handler);
  return () => process.off('SIGINT', handler);
}

export interface RunCliOptions {
  /** Put before the message of an error (not of an interruption), e.g. `'error: '`. */
  errorPrefix?: string;
}

/**
 * Runs a CLI's `main` and reports what it throws as `<tool>: <message>` on stderr: a usage error adds the
 * pointer to `--help`, an interruption exits 130, anything else 1.
 */
export async function runCli(
  tool: string,
  main: () => Promise<void>,
  options: RunCliOptions = {},
): Promise<void> {
  try {
    await main();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const interrupted = err instanceof Interrupted;
    process.stderr.write(`${tool}: ${interrupted ? '' : (options.errorPrefix ?? '')}${message}\n`);
    if (err instanceof UsageError) {
      process.stderr.write(`Run "${tool} ${err.command ? `${err.command} ` : ''}--help" for usage.\n`);
    }
    process.exitCode = interrupted ? 130 : 1;
  }
}
