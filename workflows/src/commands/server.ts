import { startDevServer } from '@rpg/infra';
import { commandArgs, dbOption, interrupted, printHelp, UsageError } from './common.js';

export const help = `rpg server [--db <file>] [--port 7233] [--ui-port 8233]
    Starts the local Temporal dev server alone (for the Web UI, or for workers and clients in other terminals),
    with its history in a SQLite file so runs survive a restart. Ctrl-C stops it.
    --db <file>       SQLite file (default .rpg/temporal.db)
    --port <n>        gRPC port (default 7233)
    --ui-port <n>     Web UI port (default 8233)
`;

function port(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`--${name} must be a port number, got "${value}"`);
  return n;
}

export async function server(argv: string[]): Promise<number> {
  const { values, positionals } = commandArgs('server', argv, {
    db: { type: 'string' },
    port: { type: 'string' },
    'ui-port': { type: 'string' },
  });
  if (values.help) return printHelp(help);
  if (positionals.length > 0) throw new UsageError(`rpg server takes no arguments, got "${positionals[0]}"`);
  const ports = {
    port: port('port', values.port ?? '7233'),
    uiPort: port('ui-port', values['ui-port'] ?? '8233'),
  };
  const dbFile = await dbOption(values.db);
  const stop = interrupted();
  const dev = await startDevServer({
    dbFile,
    ...ports,
  });
  process.stdout.write(
    `Temporal dev server on ${dev.address} (pid ${dev.pid}, history in ${dev.dbFile})\nWeb UI: ${dev.uiUrl}\nCtrl-C stops it.\n`,
  );
  const outcome = await Promise.race([
    stop.promise.then(() => undefined),
    dev.exited, // the server died under us: say so and fail, so scripts and supervisors notice
  ]);
  stop.dispose();
  if (outcome !== undefined) {
    process.stderr.write(`rpg server: the Temporal dev server ${outcome}\n`);
    return 1;
  }
  await dev.stop();
  process.stdout.write('Temporal dev server stopped.\n');
  return 0;
}
