/**
 * The unseen-task experiment as one durable workflow: validate (and draw the seen/unseen split), then the stage
 * graph of `unseen-graph.ts` with every stage an activity. The same stage functions as `rpg local`; every output
 * is keyed by its config and inputs, so a re-run skips what is done.
 */
import { isCancellation, proxyActivities } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities.js';
import {
  CPU_QUEUE,
  GPU_QUEUE,
  type PipelineInput,
  UNSEEN_STAGES,
  type UnseenPipelineResult,
  type UnseenProgress,
  type UnseenStageName,
} from './definitions.js';
import { activityOptions } from './options.js';
import { failOnInvalidConfig, pendingStages, trackStages } from './stage-tracker.js';
import { temporalExecutor } from './temporal-executor.js';
import { unseenGraph } from './unseen-graph.js';

type Activities = PipelineActivities;

export async function rpgUnseenPipeline(input: PipelineInput): Promise<UnseenPipelineResult> {
  const progress: UnseenProgress = { stage: 'validate', stages: pendingStages(UNSEEN_STAGES), refs: {} };
  const tracker = trackStages<UnseenStageName>(progress);
  const executor = temporalExecutor(tracker, (stage) => {
    progress.stages[stage].status = 'skipped';
  });

  const validate = proxyActivities<Pick<Activities, 'validateUnseenConfig'>>({
    taskQueue: CPU_QUEUE,
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 3 },
  });
  const cpu = proxyActivities<Activities>(activityOptions(input, CPU_QUEUE, '6 hours'));
  const gpu = proxyActivities<Activities>(activityOptions(input, GPU_QUEUE, '24 hours'));

  try {
    const validated = await tracker.run('validate', 1, () =>
      validate.validateUnseenConfig(input.config).catch(failOnInvalidConfig),
    );
    const result = await unseenGraph(
      validated,
      {
        harvestRun: cpu.harvestRun,
        harvestTaskRun: cpu.harvestTaskRun,
        collectCheckpoints: cpu.collectCheckpoints,
        tokenize: cpu.tokenize,
        trainGenerator: gpu.trainGenerator,
        generate: gpu.generate,
        evaluateTasks: cpu.evaluateTasks,
      },
      executor,
      progress.refs,
    );
    progress.stage = 'done';
    const { config, split } = validated;
    return {
      name: config.name,
      ...result,
      stageSeconds: tracker.stageSeconds,
      tasks: { seen: split.seen.length, unseen: split.unseen.length },
    };
  } catch (err) {
    progress.stage = isCancellation(err) ? 'cancelled' : 'failed';
    throw err;
  }
}
