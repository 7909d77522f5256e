/**
 * rpg: run RPG experiments, in this process (`rpg local`) or durably on Temporal (`rpg run`, or `rpg start` with
 * workers from `rpg worker`), and watch or stop them (`rpg status`, `rpg cancel`, `rpg server` for the Web UI).
 * Each command's module is loaded only when it runs, so `rpg status` does not load TensorFlow.
 */
import { UsageError } from './commands/common.js';

type Command = { help: string; main: (argv: string[]) => Promise<number> };

const COMMANDS: Record<string, () => Promise<Command>> = {
  run: () => import('./commands/run.js').then((m) => ({ help: m.help, main: m.run })),
  local: () => import('./commands/local.js').then((m) => ({ help: m.help, main: m.local })),
  worker: () => import('./commands/worker.js').then((m) => ({ help: m.help, main: m.worker })),
  start: () => import('./commands/start.js').then((m) => ({ help: m.help, main: m.start })),
  status: () => import('./commands/status.js').then((m) => ({ help: m.help, main: m.status })),
  cancel: () => import('./commands/cancel.js').then((m) => ({ help: m.help, main: m.cancel })),
  server: () => import('./commands/server.js').then((m) => ({ help: m.help, main: m.server })),
  gc: () => import('./commands/gc.js').then((m) => ({ help: m.help, main: m.gc })),
};

const HELP = `rpg: recurrent diffusion parameter generation (RPG)

Usage:
  rpg run <config.json>        the pipeline on Temporal, with a local dev server and worker unless
                               TEMPORAL_ADDRESS is set; live progress, the Web UI link, the report path
  rpg local <config.json>      the pipeline in this process, without Temporal
  rpg worker [--queues ...]    a worker for a Temporal server or cluster
  rpg start <config.json>      start (or attach to) a pipeline, print its workflow id and Web UI link
  rpg status <workflowId>      a pipeline's progress
  rpg cancel <workflowId>      stop a pipeline (training keeps its last checkpoint)
  rpg server                   the local Temporal dev server alone, with its Web UI
  rpg gc [--delete]            list (and remove) resume states and temp files no run needs

  rpg <command> --help         more on one command

Temporal connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY (mTLS),
TEMPORAL_TLS_CA, TEMPORAL_TLS_SERVER_NAME, TEMPORAL_API_KEY (see the README).
Configs: examples/mnist-mlp.json and examples/mnist-cnn.json (the pipeline: harvest, tokenize, train,
generate, evaluate); examples/mnist-unseen.json (a config with a "tasks" section: a task-conditioned generator
evaluated on tasks it never saw).
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return name ? 0 : 1;
  }
  const load = COMMANDS[name];
  if (!load) throw new UsageError(`unknown command "${name}"; run rpg --help`);
  const command = await load();
  return command.main(rest);
}

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
      ['ConfigError', 'SettingsError', 'TemporalUnreachableError'].includes(e.name);
    process.stderr.write(`rpg: ${known ? e.message : (e.stack ?? e.message)}\n`);
    process.exit(1);
  },
);
