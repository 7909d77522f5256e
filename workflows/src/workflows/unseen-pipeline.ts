/**
 * The unseen-task experiment as one durable workflow: validate (and draw the seen/unseen split), then the stage
 * graph of `unseen-graph.ts` with every stage an activity. The same stage functions as `rpg local`; every output
 * is keyed by its config and inputs, so a re-run skips what is done.
 */
import {
  type PipelineInput,
  UNSEEN_STAGES,
  type UnseenPipelineResult,
  type UnseenProgress,
} from './definitions.js';
import { pendingStages } from './stage-tracker.js';
import { unseenGraph } from './unseen-graph.js';
import { runWorkflow } from './workflow-frame.js';

export async function rpgUnseenPipeline(input: PipelineInput): Promise<UnseenPipelineResult> {
  const progress: UnseenProgress = { stage: 'validate', stages: pendingStages(UNSEEN_STAGES), refs: {} };
  return runWorkflow(
    input,
    progress,
    (v) => v.validateUnseenConfig(input.config),
    async (validated, activities, executor, stageSeconds) => {
      const result = await unseenGraph(validated, activities, executor, progress.refs);
      const { config, split } = validated;
      return {
        name: config.name,
        ...result,
        stageSeconds,
        tasks: { seen: split.seen.length, unseen: split.unseen.length },
      };
    },
  );
}
