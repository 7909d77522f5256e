/** What the `rpg` subcommands share: where the user is, usage errors, the Temporal runtime's logging. */
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { storeDirProblem } from '@rpg/core';
import type { CliOptions, ParsedCommandLine } from '@rpg/core/cli-kit';
import { DefaultLogger, Runtime } from '@temporalio/worker';

/** An error whose message is the whole story (no stack trace for the user). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Through `pnpm rpg` this process runs in the package directory; INIT_CWD is where the user is. */
export function userPath(path: string): string {
  return resolve(process.env.INIT_CWD ?? process.cwd(), path);
}

/** The artifact store directory of `--store` (default .rpg/store), checked before anything loads or connects. */
export async function storeOption(value: string | undefined): Promise<string> {
  const dir = userPath(value ?? '.rpg/store');
  const problem = await storeDirProblem(dir);
  if (problem)
    throw new UsageError(`--store ${value ?? '.rpg/store'} cannot be the artifact store: ${problem}`);
  return dir;
}

/** The dev server's SQLite file of `--db` (default .rpg/temporal.db): its directory is checked like a store's. */
export async function dbOption(value: string | undefined): Promise<string> {
  const file = userPath(value ?? '.rpg/temporal.db');
  const isDir = await stat(file).then(
    (s) => s.isDirectory(),
    () => false,
  );
  const problem = isDir ? 'it is a directory, not a file' : await storeDirProblem(dirname(file));
  if (problem)
    throw new UsageError(`--db ${value ?? '.rpg/temporal.db'} cannot hold the server's history: ${problem}`);
  return file;
}

/** The bounds of `--heartbeat-timeout`: shorter risks retrying a stage that is busy, longer delays a retry. */
export const HEARTBEAT_TIMEOUT_SECONDS = { min: 10, max: 3600, default: 120 } as const;

/**
 * A duration flag: `90`, `90s`, `2m` or `1h`, in seconds within [min, max]; anything else is a UsageError naming
 * the flag and the accepted range.
 */
export function secondsOption(flag: string, text: string, min: number, max: number): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h)?$/.exec(text.trim());
  const seconds = m ? Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 's' | 'm' | 'h'] : Number.NaN;
  if (!(seconds >= min && seconds <= max)) {
    throw new UsageError(
      `--${flag} must be a duration from ${min} s to ${max} s (e.g. 90, 90s, 2m), got "${text.slice(0, 40)}"`,
    );
  }
  return seconds;
}

/** `--heartbeat-timeout` as the workflow input takes it (undefined: the workflow's default, 2 minutes). */
export function heartbeatTimeoutOption(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const { min, max } = HEARTBEAT_TIMEOUT_SECONDS;
  return `${secondsOption('heartbeat-timeout', text, min, max)} seconds`;
}

/** The `--help` flag every command takes. */
export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/** Runs `parse` (a strict parseArgs); an unknown option or a missing value becomes a UsageError naming it. */
export function parseCommand<T>(command: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (see rpg ${command} --help)`);
  }
}

/**
 * Temporal's own log lines, warnings and errors only, one line each (e.g. an activity attempt that failed and
 * will be retried). Installs no signal handlers: each command decides what Ctrl-C does.
 */
export function installTemporalRuntime(): void {
  Runtime.install({
    shutdownSignals: [],
    // Core's (Rust) warnings come through the same one-line logger.
    telemetryOptions: { logging: { filter: { core: 'WARN', other: 'WARN' }, forward: {} } },
    logger: new DefaultLogger('WARN', (entry) => {
      // Expected for a worker that serves only activities (the rpg-gpu queue).
      if (entry.message.startsWith('No workflows registered')) return;
      const meta = entry.meta as { activityType?: string; error?: { message?: string } } | undefined;
      const what = meta?.activityType ? ` (${meta.activityType})` : '';
      const why = meta?.error?.message ? `: ${meta.error.message}` : '';
      process.stderr.write(`[temporal] ${entry.message}${what}${why}\n`);
    }),
  });
}

/** Resolves on the first SIGINT or SIGTERM (and stops listening). */
export function interrupted(): { promise: Promise<NodeJS.Signals>; dispose(): void } {
  let dispose = () => {};
  const promise = new Promise<NodeJS.Signals>((res) => {
    const on = (signal: NodeJS.Signals) => {
      dispose();
      res(signal);
    };
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
    dispose = () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    };
  });
  return { promise, dispose: () => dispose() };
}

/**
 * Parses a command's arguments: its `options` and `--help` (strict), positionals allowed; an unknown option or a
 * missing value becomes a UsageError naming it.
 */
export function commandArgs<O extends CliOptions>(
  command: string,
  argv: string[],
  options: O,
): ParsedCommandLine<O & typeof HELP_OPTION> {
  return parseCommand(command, () =>
    parseArgs({ args: argv, allowPositionals: true, strict: true, options: { ...options, ...HELP_OPTION } }),
  );
}

/** Prints a command's help; its exit code. */
export function printHelp(help: string): 0 {
  process.stdout.write(help);
  return 0;
}
