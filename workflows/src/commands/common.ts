/** What the `rpg` subcommands share: where the user is, usage errors, the Temporal runtime's logging. */
import { resolve } from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';

/** An error whose message is the whole story (no stack trace for the user). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Through `pnpm rpg` this process runs in the package directory; INIT_CWD is where the user is. */
export function userPath(path: string): string {
  return resolve(process.env.INIT_CWD ?? process.cwd(), path);
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
