import { type Client, WorkflowFailedError } from '@temporalio/client';
import { connectClient, type StartedPipeline, startPipeline, type WorkflowResult } from '../client.js';
import { type Experiment, experimentWorkflowId, loadExperiment, workflowTypeOf } from '../experiment.js';
import { type TemporalSettings, temporalSettings, workflowUrl } from '../temporal-settings.js';
import { commandArgs, heartbeatTimeoutOption, printHelp, UsageError, userPath } from './common.js';

export const help = `rpg start <config.json> [--heartbeat-timeout <duration>]
    Validates the config, then starts its pipeline on Temporal (or attaches to the run already going for the same
    config) and prints the workflow id and its Web UI link. Workers (rpg worker) do the work. The config is
    checked before any connection, so a bad one fails the same with or without a server.
    --heartbeat-timeout <d>   how long a stage may go without a heartbeat before Temporal gives it to another
                              worker: 10 s to 1 h, e.g. 90, 90s, 5m (default 2m; a run already going keeps its own)
    Connects to TEMPORAL_ADDRESS (default 127.0.0.1:7233); see the README for TLS and namespaces.
`;

/** Starts or attaches to the pipeline of a validated experiment. */
export async function startExperiment(
  client: Client,
  experiment: Experiment,
  heartbeatTimeout?: string,
): Promise<StartedPipeline<WorkflowResult>> {
  return startPipeline<WorkflowResult>(
    client,
    experimentWorkflowId(experiment),
    { config: experiment.config, ...(heartbeatTimeout ? { heartbeatTimeout } : {}) },
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
  const { values, positionals } = commandArgs('start', argv, { 'heartbeat-timeout': { type: 'string' } });
  if (values.help) return printHelp(help);
  if (positionals.length !== 1)
    throw new UsageError('rpg start takes one config file, e.g. rpg start examples/mnist-mlp.json');
  // Everything local first: a bad config or flag is named even when no server answers.
  const heartbeatTimeout = heartbeatTimeoutOption(values['heartbeat-timeout']);
  const experiment = await loadExperiment(userPath(positionals[0]!));
  const settings = temporalSettings();
  const client = await connectClient(settings);
  try {
    const started = await startExperiment(client, experiment, heartbeatTimeout);
    process.stdout.write(describeStart(started, settings));
  } finally {
    await client.connection.close();
  }
  return 0;
}
