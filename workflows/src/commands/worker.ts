import { terminalProgress } from '@rpg/core';
import { temporalSettings } from '../temporal-settings.js';
import { connectWorker, createPipelineWorkers, parseQueues, runWorkers } from '../worker.js';
import {
  commandArgs,
  installTemporalRuntime,
  interrupted,
  parseCommand,
  printHelp,
  storeOption,
  UsageError,
} from './common.js';

/** Activities at once per queue: each stage already uses every core, so more only interleaves them. */
const MAX_CONCURRENCY = 64;

export const help = `rpg worker [--queues rpg-cpu,rpg-gpu] [--store <dir>] [--concurrency <n>]
    Runs pipeline workers in this process until Ctrl-C (which stops the running stage at its next step; Temporal
    hands it to another worker, and training continues there from its last checkpoint).
    --queues <list>     task queues to serve (default both): rpg-cpu hosts the workflow and the harvest,
                        tokenize and evaluate stages; rpg-gpu generator training and generation
    --store <dir>       artifact store shared by all workers (default .rpg/store)
    --concurrency <n>   activities run at once per queue (default 1, at most 64)
    Connects to TEMPORAL_ADDRESS (default 127.0.0.1:7233); see the README for TLS and namespaces.
`;

export async function worker(argv: string[]): Promise<number> {
  const { values, positionals } = commandArgs('worker', argv, {
    queues: { type: 'string' },
    store: { type: 'string' },
    concurrency: { type: 'string' },
  });
  if (values.help) return printHelp(help);
  if (positionals.length > 0) throw new UsageError(`rpg worker takes no arguments, got "${positionals[0]}"`);
  const queues = parseCommand('worker', () => parseQueues(values.queues ?? 'rpg-cpu,rpg-gpu'));
  const concurrency = Number(values.concurrency ?? '1');
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY)
    throw new UsageError(
      `--concurrency must be an integer from 1 to ${MAX_CONCURRENCY}, got "${values.concurrency?.slice(0, 40)}"`,
    );
  const settings = temporalSettings();
  const storeDir = await storeOption(values.store);
  installTemporalRuntime();
  const connection = await connectWorker(settings);
  try {
    const workers = await createPipelineWorkers({
      connection,
      namespace: settings.namespace,
      queues,
      storeDir,
      echo: terminalProgress(process.stdout, 2000),
      maxConcurrentActivities: concurrency,
    });
    process.stdout.write(
      `worker ${process.pid} on ${settings.address} (namespace ${settings.namespace}), queues ${queues.join(', ')}, store ${storeDir}\n`,
    );
    const stop = new AbortController();
    const signal = interrupted();
    signal.promise.then(() => {
      process.stdout.write('\nshutting down: running stages stop at their next step\n');
      stop.abort();
    });
    await runWorkers(workers, stop.signal);
    signal.dispose();
  } finally {
    await connection.close();
  }
  return 0;
}
