/** The evaluate stage as a Temporal activity (the same stage function as `rpg local`). */
import { ArtifactRef, type ArtifactStore, type ProgressSink } from '@rpg/core';
import { parseActivityInput, runStageActivity } from '@rpg/core/activities';
import { z } from 'zod';
import { evaluateStage, evaluateStageConfigSchema } from './stage.js';

export const evaluateInputSchema = z.object({
  originals: ArtifactRef,
  generated: ArtifactRef,
  generator: ArtifactRef.optional(),
  config: evaluateStageConfigSchema,
  stageSeconds: z.record(z.string(), z.number().min(0)).optional(),
  pipelineConfig: z.unknown().optional(),
});

export interface EvaluateResult {
  report: ArtifactRef;
  /** Where the worker that ran it stored `report.json` and `report.html`. */
  reportDir: string;
}

export interface ActivityOptions {
  store: ArtifactStore;
  /** Also receives every progress event (e.g. the worker's terminal). */
  echo?: ProgressSink;
}

export function createEvaluatorActivities({ store, echo }: ActivityOptions) {
  return {
    /** Originals + generated models → a `report` artifact. */
    async evaluate(input: z.input<typeof evaluateInputSchema>): Promise<EvaluateResult> {
      const parsed = parseActivityInput('evaluate', evaluateInputSchema, input);
      return runStageActivity(
        'evaluate',
        'evaluate',
        async ({ progress }) => {
          const report = await evaluateStage({ store, progress }, parsed);
          return { report, reportDir: store.resolve(report) };
        },
        { echo },
      );
    },
  };
}

export type EvaluatorActivities = ReturnType<typeof createEvaluatorActivities>;
