import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Report, TaskReport } from '@rpg/evaluator';
import { type DevServer, startDevServer } from '@rpg/infra';
import { Connection, WorkflowFailedError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { connectClient, type PipelineHandle, pipelineStatus, type WorkflowResult } from '../client.js';
import { loadExperiment } from '../experiment.js';
import { renderStatus } from '../progress-view.js';
import { summarizeReport } from '../summary.js';
import { temporalSettings, workflowUrl } from '../temporal-settings.js';
import { summarizeTaskReport } from '../unseen-figures.js';
import { connectWorker, createPipelineWorkers, runWorkers } from '../worker.js';
import {
  commandArgs,
  dbOption,
  heartbeatTimeoutOption,
  installTemporalRuntime,
  interrupted,
  printHelp,
  storeOption,
  UsageError,
  userPath,
} from './common.js';
import { describeStart, failureMessage, startExperiment } from './start.js';

export const help = `rpg run <config.json> [--store <dir>] [--db <file>] [--no-worker] [--heartbeat-timeout <d>]
    Runs an experiment durably on Temporal and shows its progress until the report is written. With no
    TEMPORAL_ADDRESS it starts the local Temporal dev server (history in .rpg/temporal.db, Web UI on :8233;
    a server already answering on 127.0.0.1:7233, e.g. from rpg server, is used instead), and it runs a worker
    for both task queues in this process. Starting the same config again attaches to its run; a finished run
    is shown, not repeated. Ctrl-C stops the worker; running the same command again resumes (finished stages
    come from the store, training from its last checkpoint).
    --store <dir>   artifact store of the in-process worker (default .rpg/store)
    --db <file>     SQLite file of the dev server (default .rpg/temporal.db)
    --no-worker     start/attach and watch only; workers run elsewhere (rpg worker)
    --heartbeat-timeout <d>   how long a stage may go without a heartbeat before Temporal gives it to another
                    worker: 10 s to 1 h, e.g. 90, 90s, 5m (default 2m; a run already going keeps its own)
    The config, the flags and the store are checked before a server starts or the backend loads.
`;

/** True when a Temporal frontend answers health checks at `address`. */
async function serverAnswers(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: 1000 });
    try {
      return (await connection.healthService.check({})).status === 1;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

/** Redraws the status on a terminal every second; elsewhere (CI logs) prints it every 15 s. */
function watch(handle: PipelineHandle<WorkflowResult>, stream: NodeJS.WriteStream = process.stderr) {
  let drawn = 0;
  let lastPrint = 0;
  const draw = async (force = false) => {
    const status = await pipelineStatus(handle).catch(() => undefined);
    if (!status) return;
    const lines = renderStatus(status);
    if (stream.isTTY) {
      stream.write(`${drawn ? `\x1b[${drawn}A\x1b[J` : ''}${lines.join('\n')}\n`);
      drawn = lines.length;
    } else if (force || Date.now() - lastPrint >= 15_000) {
      stream.write(`${lines.join('\n')}\n`);
      lastPrint = Date.now();
    }
  };
  let inFlight: Promise<void> | undefined;
  const timer = setInterval(() => {
    inFlight ??= draw().finally(() => {
      inFlight = undefined;
    });
  }, 1000);
  return {
    /** Stops redrawing; resolves once no call to the server is left (the connection may then close). */
    async stop(finalDraw: boolean) {
      clearInterval(timer);
      await inFlight;
      if (finalDraw) await draw(true);
    },
  };
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = commandArgs('run', argv, {
    store: { type: 'string' },
    db: { type: 'string' },
    'no-worker': { type: 'boolean' },
    'heartbeat-timeout': { type: 'string' },
  });
  if (values.help) return printHelp(help);
  if (positionals.length !== 1)
    throw new UsageError('rpg run takes one config file, e.g. rpg run examples/mnist-mlp.json');
  // A bad field, flag or store fails here, before anything starts or is written.
  const heartbeatTimeout = heartbeatTimeoutOption(values['heartbeat-timeout']);
  const experiment = await loadExperiment(userPath(positionals[0]!));
  if (experiment.kind === 'pipeline' && experiment.derived) process.stderr.write(`${experiment.derived}\n`);
  const storeDir = values['no-worker'] ? undefined : await storeOption(values.store);
  const settings = temporalSettings();
  const dbFile = settings.local ? await dbOption(values.db) : undefined;
  const stop = interrupted();
  installTemporalRuntime();

  let dev: DevServer | undefined;
  let ui = settings.ui;
  if (dbFile) {
    if (await serverAnswers(settings.address)) {
      process.stderr.write(`using the Temporal server already running at ${settings.address}\n`);
    } else {
      // In its own process group: Ctrl-C reaches only this process, which stops the worker while the server
      // still answers (so Temporal hears that the running stage stopped), and the server last.
      dev = await startDevServer({
        dbFile,
        port: 7233,
        uiPort: 8233,
        ownProcessGroup: true,
      });
      ui = dev.uiUrl;
      process.stderr.write(`Temporal dev server on ${dev.address}, history in ${dev.dbFile}\n`);
    }
  }
  const client = await connectClient(settings);
  const connection = await connectWorker(settings);
  const stopWorkers = new AbortController();
  // Ends the long poll for the result before the connection closes (a call left retrying would throw then).
  const stopWaiting = new AbortController();
  let workersDone: Promise<void> = Promise.resolve();
  try {
    let workers: Worker[] = [];
    if (storeDir) {
      workers = await createPipelineWorkers({ connection, namespace: settings.namespace, storeDir });
      workersDone = runWorkers(workers, stopWorkers.signal);
    }
    const started = await startExperiment(client, experiment, heartbeatTimeout);
    process.stdout.write(describeStart(started, settings, ui));
    const view = watch(started.handle);
    const outcome = await Promise.race([
      client
        .withAbortSignal(stopWaiting.signal, () => started.handle.result())
        .then(
          (result) => ({ kind: 'done' as const, result }),
          (error: unknown) => ({ kind: 'failed' as const, error }),
        ),
      stop.promise.then(() => ({ kind: 'interrupted' as const })),
      // Workers that stop on their own (a crash in the worker itself) end the command with their error.
      workersDone.then(() => new Promise<never>(() => {})),
      // So does the dev server this command started, dying under it.
      ...(dev ? [dev.exited.then((why) => ({ kind: 'server-died' as const, why }))] : []),
    ]);
    await view.stop(outcome.kind !== 'interrupted' && outcome.kind !== 'server-died');
    if (outcome.kind === 'server-died') {
      process.stderr.write(
        `\nthe Temporal dev server stopped (${outcome.why}); the workflow's history is kept in ${dev?.dbFile}: run the same command again to resume\n`,
      );
      return 1;
    }
    if (outcome.kind === 'interrupted') {
      process.stderr.write(
        `\nstopping the worker; the workflow stays in Temporal. Run the same command again to resume ` +
          `(finished stages are kept, training continues from its last checkpoint).\n`,
      );
      return 130;
    }
    if (outcome.kind === 'failed') {
      const cancelled =
        outcome.error instanceof WorkflowFailedError && outcome.error.cause?.name === 'CancelledFailure';
      process.stderr.write(
        cancelled
          ? `workflow ${started.workflowId} was cancelled; run the same command again to resume it\n`
          : `workflow ${started.workflowId} failed: ${failureMessage(outcome.error)}\n`,
      );
      return 1;
    }
    const { result } = outcome;
    const reportJson = join(result.reportDir, 'report.json');
    const report = await readFile(reportJson, 'utf8').then(
      (t) => JSON.parse(t) as Report | TaskReport,
      () => undefined,
    );
    if (report) {
      const summary =
        'kind' in report && report.kind === 'task-report'
          ? summarizeTaskReport(report)
          : summarizeReport(report as Report);
      process.stdout.write(`${summary}\n`);
    }
    process.stdout.write(`report: ${join(result.reportDir, 'report.html')}\n`);
    if (ui) process.stdout.write(`Web UI: ${workflowUrl(ui, settings.namespace, started.workflowId)}\n`);
    return 0;
  } finally {
    stop.dispose();
    stopWaiting.abort();
    stopWorkers.abort();
    await workersDone.catch(() => undefined);
    await connection.close();
    await client.connection.close();
    await dev?.stop();
  }
}
