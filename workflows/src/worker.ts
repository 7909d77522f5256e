/**
 * Pipeline workers: one Temporal worker per task queue, all in this process and sharing one connection. The
 * `rpg-cpu` worker hosts the workflow and the CPU stages, the `rpg-gpu` worker generator training and generation.
 */
import { fileURLToPath } from 'node:url';
import { ArtifactStore, loadBackend, type ProgressSink } from '@rpg/core';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createPipelineActivities, GPU_ACTIVITIES } from './activities.js';
import { connectTo, type TemporalSettings } from './temporal-settings.js';
import { CPU_QUEUE, GPU_QUEUE, TASK_QUEUES, type TaskQueue } from './workflows/definitions.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('./workflows/index.ts', import.meta.url));

/** Bundles the workflow code once (workers otherwise bundle it each time they are created). */
export function bundlePipelineWorkflows(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
}

const quietBundlerLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn(message: string) {
    process.stderr.write(`[temporal bundler] ${message}\n`);
  },
  error(message: string) {
    process.stderr.write(`[temporal bundler] ${message}\n`);
  },
};

export async function connectWorker(settings: TemporalSettings): Promise<NativeConnection> {
  return connectTo(settings, (options) => NativeConnection.connect(options));
}

/** Parses `rpg-cpu,rpg-gpu`; the error lists the valid names. */
export function parseQueues(list: string): TaskQueue[] {
  const queues = list
    .split(',')
    .map((q) => q.trim())
    .filter(Boolean);
  for (const q of queues) {
    if (!(TASK_QUEUES as readonly string[]).includes(q)) {
      throw new Error(`unknown task queue "${q}"; use ${TASK_QUEUES.join(', ')} (comma-separated)`);
    }
  }
  if (queues.length === 0) throw new Error(`no task queue given; use ${TASK_QUEUES.join(', ')}`);
  return [...new Set(queues)] as TaskQueue[];
}

export interface PipelineWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  /** Default: both. */
  queues?: readonly TaskQueue[];
  /** The artifact store every worker of a deployment shares. */
  storeDir: string;
  /** Receives the progress of the stages this process runs (a terminal, a test). */
  echo?: ProgressSink;
  /** A prebuilt bundle of the workflow code (see {@link bundlePipelineWorkflows}). */
  workflowBundle?: WorkflowBundle;
  /**
   * Activities one worker runs at once (default 1: a stage already uses every core through tfjs, and two would
   * interleave on one event loop). Fan-out runs in parallel across worker processes or machines.
   */
  maxConcurrentActivities?: number;
  identity?: string;
}

export async function createPipelineWorkers(options: PipelineWorkerOptions): Promise<Worker[]> {
  await loadBackend();
  const store = new ArtifactStore(options.storeDir);
  // Leftovers of puts killed mid-write; an hour's margin spares a put another worker is running now.
  await store.cleanTmp({ olderThanMs: 3_600_000 });
  const all = createPipelineActivities({ store, ...(options.echo ? { echo: options.echo } : {}) });
  const onGpu = new Set<string>(GPU_ACTIVITIES);
  const activitiesFor = (queue: TaskQueue) =>
    Object.fromEntries(Object.entries(all).filter(([name]) => onGpu.has(name) === (queue === GPU_QUEUE)));
  const workflowSource = options.workflowBundle
    ? { workflowBundle: options.workflowBundle }
    : { workflowsPath: WORKFLOWS_PATH, bundlerOptions: {} };
  const workers: Worker[] = [];
  for (const taskQueue of options.queues ?? TASK_QUEUES) {
    workers.push(
      await Worker.create({
        connection: options.connection,
        ...(options.namespace ? { namespace: options.namespace } : {}),
        taskQueue,
        activities: activitiesFor(taskQueue),
        ...(taskQueue === CPU_QUEUE ? workflowSource : {}),
        maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities ?? 1,
        // Heartbeats reach the server (the UI, `rpg status`, a retry's resumeRef) at most 2 s late.
        maxHeartbeatThrottleInterval: '2 seconds',
        ...(options.identity ? { identity: `${options.identity}/${taskQueue}` } : {}),
      }),
    );
  }
  return workers;
}

/** Runs the workers until they fail or `signal` aborts (then shuts them down: running stages stop at once). */
export async function runWorkers(workers: Worker[], signal?: AbortSignal): Promise<void> {
  const stop = () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  signal?.addEventListener('abort', stop, { once: true });
  try {
    await Promise.all(
      workers.map((w) =>
        w.run().catch((err: unknown) => {
          stop();
          throw err;
        }),
      ),
    );
  } finally {
    signal?.removeEventListener('abort', stop);
  }
}
