import { loadBackend, terminalProgress } from '@rpg/core';
import { loadExperiment } from '../experiment.js';
import { runPipelineLocal } from '../run-local.js';
import { runUnseenLocal } from '../run-unseen-local.js';
import { summarizeReport } from '../summary.js';
import { summarizeTaskReport } from '../unseen-figures.js';
import { commandArgs, printHelp, storeOption, UsageError, userPath } from './common.js';

export const help = `rpg local <config.json> [--store <dir>]
    Runs the whole pipeline of an experiment config in this process, stage by stage, without Temporal:
    harvest -> tokenize -> train generator -> generate -> evaluate. Finished stages found in the store are
    reused, and generator training continues from its last resume checkpoint, so running the same command
    again after a crash picks up where it stopped. Prints the report path.
    An unseen-task config (one with a "tasks" section, e.g. examples/mnist-unseen.json) runs its own stages:
    base network -> harvest per seen task -> collect -> tokenize -> train the task-conditioned generator (and
    the ablation without the task embedding) -> generate per task -> evaluate per task.
    A config with a "source" section (e.g. examples/pytorch/pytorch-zoo.json) imports its checkpoints instead
    of harvesting them; "evaluate.command" scores every model with the user's own command.
    --store <dir>   artifact store (default .rpg/store)
`;

export async function local(argv: string[]): Promise<number> {
  const { values, positionals } = commandArgs('local', argv, { store: { type: 'string' } });
  if (values.help) return printHelp(help);
  if (positionals.length !== 1)
    throw new UsageError('rpg local takes exactly one config file, e.g. rpg local examples/mnist-mlp.json');
  const experiment = await loadExperiment(userPath(positionals[0]!));
  const storeDir = await storeOption(values.store);
  if (experiment.kind === 'pipeline' && experiment.derived) process.stderr.write(`${experiment.derived}\n`);
  await loadBackend();
  const controller = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write(
      '\nstopping after the current step (the next run resumes from the last checkpoint)\n',
    );
    controller.abort(new Error('interrupted'));
  });
  const options = {
    storeDir,
    progress: terminalProgress(),
    onStage: (stage: string, event: 'start' | 'end', seconds?: number) => {
      if (event === 'end') process.stderr.write(`${stage} done in ${seconds!.toFixed(1)} s\n`);
    },
    signal: controller.signal,
  };
  if (experiment.kind === 'unseen') {
    const result = await runUnseenLocal(experiment.config, options);
    process.stdout.write(`${summarizeTaskReport(result.report)}\n`);
    process.stdout.write(`report: ${result.reportDir}/report.html\n`);
    return 0;
  }
  const result = await runPipelineLocal(experiment.config, options);
  process.stdout.write(`${summarizeReport(result.report)}\n`);
  process.stdout.write(`report: ${result.reportDir}/report.html\n`);
  return 0;
}
