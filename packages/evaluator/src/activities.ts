/** The evaluate stage as a Temporal activity (the same stage function as `rpg local`). */
import { ArtifactRef, type ArtifactStore, type ProgressSink } from '@rpg/core';
import { parseActivityInput, runStageActivity } from '@rpg/core/activities';
import { taskDescriptorSchema } from '@rpg/task-embedding';
import { z } from 'zod';
import { evaluateByCommandConfigSchema, evaluateByCommandStage } from './command-stage.js';
import { evaluateStage, evaluateStageConfigSchema } from './stage.js';
import { evaluateTasksStage, evaluateTasksStageConfigSchema } from './task-stage.js';

export const evaluateInputSchema = z.object({
  originals: ArtifactRef,
  generated: ArtifactRef,
  generator: ArtifactRef.optional(),
  config: evaluateStageConfigSchema,
  stageSeconds: z.record(z.string(), z.number().min(0)).optional(),
  pipelineConfig: z.unknown().optional(),
});

export const evaluateByCommandInputSchema = evaluateInputSchema.extend({
  config: evaluateByCommandConfigSchema,
});

export const evaluateTasksInputSchema = z.object({
  groups: z
    .array(
      z.object({
        task: taskDescriptorSchema,
        split: z.enum(['seen', 'unseen']),
        originals: ArtifactRef,
        generated: ArtifactRef,
        ablation: ArtifactRef.optional(),
        scratch: ArtifactRef.optional(),
      }),
    )
    .min(1),
  config: evaluateTasksStageConfigSchema,
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

    /** Originals + generated models → a `report` artifact scored by the user's `evaluate.command`. */
    async evaluateByCommand(input: z.input<typeof evaluateByCommandInputSchema>): Promise<EvaluateResult> {
      const parsed = parseActivityInput('evaluateByCommand', evaluateByCommandInputSchema, input);
      return runStageActivity(
        'evaluateByCommand',
        'evaluate',
        async ({ progress, signal }) => {
          const report = await evaluateByCommandStage({ store, progress, signal }, parsed);
          return { report, reportDir: store.resolve(report) };
        },
        { echo },
      );
    },

    /** Per-task originals, generated (and ablation) models → a `task-report` artifact. */
    async evaluateTasks(input: z.input<typeof evaluateTasksInputSchema>): Promise<EvaluateResult> {
      const parsed = parseActivityInput('evaluateTasks', evaluateTasksInputSchema, input);
      return runStageActivity(
        'evaluateTasks',
        'evaluate',
        async ({ progress }) => {
          const report = await evaluateTasksStage({ store, progress }, parsed);
          return { report, reportDir: store.resolve(report) };
        },
        { echo },
      );
    },
  };
}

export type EvaluatorActivities = ReturnType<typeof createEvaluatorActivities>;
