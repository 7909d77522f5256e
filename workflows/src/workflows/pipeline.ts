/**
 * The RPG pipeline as one durable workflow: validate, then the stage graph of `pipeline-graph.ts` with every stage
 * an activity. Activities exchange artifact refs only; every stage's output is keyed by its config and inputs, so
 * a re-run skips what is done. Deterministic: no I/O, no tfjs, activities imported as types only.
 */
import { isCancellation, proxyActivities } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities.js';
import {
  CPU_QUEUE,
  GPU_QUEUE,
  type PipelineInput,
  type PipelineProgress,
  type PipelineResult,
  STAGES,
  type StageName,
} from './definitions.js';
import { activityOptions } from './options.js';
import { pipelineGraph } from './pipeline-graph.js';
import { failOnInvalidConfig, pendingStages, trackStages } from './stage-tracker.js';
import { temporalExecutor } from './temporal-executor.js';

type Activities = PipelineActivities;

export async function rpgPipeline(input: PipelineInput): Promise<PipelineResult> {
  const progress: PipelineProgress = { stage: 'validate', stages: pendingStages(STAGES), refs: {} };
  const tracker = trackStages<StageName>(progress);
  const executor = temporalExecutor(tracker, (stage) => {
    progress.stages[stage].status = 'skipped';
  });

  const validate = proxyActivities<Pick<Activities, 'validatePipelineConfig'>>({
    taskQueue: CPU_QUEUE,
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 3 },
  });
  const cpu = proxyActivities<Activities>(activityOptions(input, CPU_QUEUE, '6 hours'));
  const gpu = proxyActivities<Activities>(activityOptions(input, GPU_QUEUE, '24 hours'));

  try {
    const config = await tracker.run('validate', 1, () =>
      validate.validatePipelineConfig(input.config).catch(failOnInvalidConfig),
    );
    const result = await pipelineGraph(
      config,
      {
        importSource: cpu.importSource,
        harvestRun: cpu.harvestRun,
        collectCheckpoints: cpu.collectCheckpoints,
        tokenize: cpu.tokenize,
        trainGenerator: gpu.trainGenerator,
        generateModel: gpu.generateModel,
        collectGenerated: cpu.collectGenerated,
        evaluate: cpu.evaluate,
        evaluateByCommand: cpu.evaluateByCommand,
      },
      executor,
      progress.refs,
    );
    progress.stage = 'done';
    return { name: config.name, ...result, stageSeconds: tracker.stageSeconds };
  } catch (err) {
    progress.stage = isCancellation(err) ? 'cancelled' : 'failed';
    throw err;
  }
}
