/**
 * rpg: run RPG experiments.
 *   rpg local <config.json> [--store <dir>]    the whole pipeline in this process, stage by stage
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadBackend, terminalProgress } from '@rpg/core';
import { ConfigError, loadPipelineConfig } from './pipeline-config.js';
import { runPipelineLocal } from './run-local.js';
import { summarizeReport } from './summary.js';

const HELP = `rpg: recurrent diffusion parameter generation (RPG)

Usage:
  rpg local <config.json> [--store <dir>]
      Runs the whole pipeline of an experiment config in this process, stage by stage:
      harvest -> tokenize -> train generator -> generate -> evaluate. Finished stages found in the
      store are reused, and generator training continues from its last resume checkpoint, so running
      the same command again after a crash picks up where it stopped. Prints the report path.
      --store <dir>   artifact store (default .rpg/store)

  rpg --help

Configs: see examples/mnist-mlp.json and examples/mnist-cnn.json.
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { store: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(HELP);
    return values.help ? 0 : 1;
  }
  if (command !== 'local') throw new UsageError(`unknown command "${command}"; run rpg --help`);
  if (rest.length !== 1)
    throw new UsageError('rpg local takes exactly one config file, e.g. rpg local examples/mnist-mlp.json');
  // Paths are the user's: through `pnpm rpg` this process runs in the package directory, INIT_CWD is where they are.
  const cwd = process.env.INIT_CWD ?? process.cwd();
  const config = await loadPipelineConfig(resolve(cwd, rest[0]!));
  await loadBackend();
  const controller = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write(
      '\nstopping after the current step (the next run resumes from the last checkpoint)\n',
    );
    controller.abort(new Error('interrupted'));
  });
  const result = await runPipelineLocal(config, {
    storeDir: resolve(cwd, values.store ?? '.rpg/store'),
    progress: terminalProgress(),
    onStage: (stage, event, seconds) => {
      if (event === 'end') process.stderr.write(`${stage} done in ${seconds!.toFixed(1)} s\n`);
    },
    signal: controller.signal,
  });
  process.stdout.write(`${summarizeReport(result.report)}\n`);
  process.stdout.write(`report: ${result.reportDir}/report.html\n`);
  return 0;
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const e = err as Error;
    if (e.message === 'interrupted') {
      process.stderr.write('rpg: interrupted; run the same command again to resume\n');
      process.exit(130);
    }
    const known =
      e instanceof UsageError ||
      e instanceof ConfigError ||
      (e.name === 'TypeError' && /parseArgs|option/i.test(e.message));
    process.stderr.write(`rpg: ${known ? e.message : (e.stack ?? e.message)}\n`);
    process.exit(1);
  },
);
