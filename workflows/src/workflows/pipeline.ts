/**
 * The RPG pipeline as one durable workflow: validate, then the stage graph of `pipeline-graph.ts` with every stage
 * an activity. Activities exchange artifact refs only; every stage's output is keyed by its config and inputs, so
 * a re-run skips what is done. Deterministic: no I/O, no tfjs, activities imported as types only.
 */
import { type PipelineInput, type PipelineProgress, type PipelineResult, STAGES } from './definitions.js';
import { pipelineGraph } from './pipeline-graph.js';
import { pendingStages } from './stage-tracker.js';
import { runWorkflow } from './workflow-frame.js';

export async function rpgPipeline(input: PipelineInput): Promise<PipelineResult> {
  const progress: PipelineProgress = { stage: 'validate', stages: pendingStages(STAGES), refs: {} };
  return runWorkflow(
    input,
    progress,
    (v) => v.validatePipelineConfig(input.config),
    async (config, activities, executor, stageSeconds) => {
      const result = await pipelineGraph(config, activities, executor, progress.refs);
      return { name: config.name, ...result, stageSeconds };
    },
  );
}
