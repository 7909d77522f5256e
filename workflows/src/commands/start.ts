import { parseArgs } from 'node:util';
import { type Client, WorkflowFailedError } from '@temporalio/client';
import { connectClient, type StartedPipeline, startPipeline, type WorkflowResult } from '../client.js';
import { experimentWorkflowId, loadExperiment, workflowTypeOf } from '../experiment.js';
import { type TemporalSettings, temporalSettings, workflowUrl } from '../temporal-settings.js';
import { HELP_OPTION, parseCommand, UsageError, userPath } from './common.js';

export const help = `rpg start <config.json>
    Validates the config, then starts its pipeline on Temporal (or attaches to the run already going for the same
    config) and prints the workflow id and its Web UI link. Workers (rpg worker) do the work.
    Connects to TEMPORAL_ADDRESS (default 127.0.0.1:7233); see the README for TLS and namespaces.
`;

/** Validates the config file locally (a bad field fails here, naming it), then starts or attaches. */
export async function startFromFile(client: Client, file: string): Promise<StartedPipeline<WorkflowResult>> {
  const experiment = await loadExperiment(userPath(file));
  return startPipeline<WorkflowResult>(
    client,
    experimentWorkflowId(experiment),
    { config: experiment.config },
    workflowTypeOf(experiment),
  );
}

export function describeStart(
  started: StartedPipeline<WorkflowResult>,
  settings: TemporalSettings,
  ui?: string,
): string {
  const what = {
    new: 'started',
    running: 'attached to the running',
    completed: 'found the finished',
    restarted: 'restarted the stopped',
  }[started.found];
  const base = ui ?? settings.ui;
  const link = base ? `\nWeb UI: ${workflowUrl(base, settings.namespace, started.workflowId)}` : '';
  return `${what} workflow ${started.workflowId}${link}\n`;
}

/** The failure chain of a failed run, outermost first, without stack traces. */
export function failureMessage(err: unknown): string {
  const messages: string[] = [];
  let e: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  while (e instanceof Error && messages.length < 5) {
    messages.push(e.message);
    e = (e as { cause?: unknown }).cause;
  }
  return messages.join('\n  caused by: ');
}

export async function start(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand('start', () =>
    parseArgs({ args: argv, allowPositionals: true, strict: true, options: HELP_OPTION }),
  );
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (positionals.length !== 1)
    throw new UsageError('rpg start takes one config file, e.g. rpg start examples/mnist-mlp.json');
  const settings = temporalSettings();
  const client = await connectClient(settings);
  try {
    const started = await startFromFile(client, positionals[0]!);
    process.stdout.write(describeStart(started, settings));
  } finally {
    await client.connection.close();
  }
  return 0;
}
