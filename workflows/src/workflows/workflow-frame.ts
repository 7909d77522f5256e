/** The frame both pipeline workflows run in (deterministic workflow code: no I/O, activities as types only). */
import { isCancellation, proxyActivities } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities.js';
import { CPU_QUEUE, GPU_QUEUE, type PipelineInput } from './definitions.js';
import type { Executor } from './executor.js';
import { activityOptions } from './options.js';
import { failOnInvalidConfig, type Tracked, trackStages } from './stage-tracker.js';
import { temporalExecutor } from './temporal-executor.js';

type Activities = PipelineActivities;
type Validators = Pick<Activities, 'validatePipelineConfig' | 'validateUnseenConfig'>;

/** The activities that run on the GPU queue; every other one runs on the CPU queue. */
const GPU_ACTIVITIES: ReadonlySet<string | symbol> = new Set<keyof Activities>([
  'trainGenerator',
  'generateModel',
  'generate',
]);

/**
 * The frame both workflows share: `progress` answers the `progress` query; the config is validated by a first
 * activity (`validate`; a bad field fails the run at once), then `graph` runs over the proxied activities (each
 * on its task queue) and returns the workflow's result; `progress` ends `done`, `cancelled` or `failed`.
 */
export async function runWorkflow<S extends string, V, R>(
  input: PipelineInput,
  progress: Tracked<S | 'validate'>,
  validate: (activities: Validators) => Promise<V>,
  graph: (
    validated: V,
    activities: Activities,
    executor: Executor<S | 'validate'>,
    stageSeconds: Record<string, number>,
  ) => Promise<R>,
): Promise<R> {
  const tracker = trackStages<S | 'validate'>(progress);
  const executor = temporalExecutor(tracker, (stage) => {
    progress.stages[stage].status = 'skipped';
  });

  const validators = proxyActivities<Validators>({
    taskQueue: CPU_QUEUE,
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 3 },
  });
  const cpu = proxyActivities<Activities>(activityOptions(input, CPU_QUEUE, '6 hours'));
  const gpu = proxyActivities<Activities>(activityOptions(input, GPU_QUEUE, '24 hours'));
  const activities = new Proxy({} as Activities, {
    get: (_, name) => (GPU_ACTIVITIES.has(name) ? gpu : cpu)[name as keyof Activities],
  });

  try {
    const validated = await tracker.run('validate', 1, () => validate(validators).catch(failOnInvalidConfig));
    const result = await graph(validated, activities, executor, tracker.stageSeconds);
    progress.stage = 'done';
    return result;
  } catch (err) {
    progress.stage = isCancellation(err) ? 'cancelled' : 'failed';
    throw err;
  }
}
