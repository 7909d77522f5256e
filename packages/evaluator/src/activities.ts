/** The evaluate stage as a Temporal activity (the same stage function as `rpg local`). */
import { ArtifactRef, type ArtifactStore } from '@rpg/core';
import { type StageActivitiesOptions, stageActivities } from '@rpg/core/activities';
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

export type ActivityOptions = StageActivitiesOptions;

/** A finished report's ref and where this worker stored it. */
async function withReportDir(store: ArtifactStore, report: Promise<ArtifactRef>): Promise<EvaluateResult> {
  const ref = await report;
  return { report: ref, reportDir: store.resolve(ref) };
}

export function createEvaluatorActivities(options: ActivityOptions) {
  const activity = stageActivities(options);
  const { store } = options;
  return {
    /** Originals + generated models → a `report` artifact. */
    evaluate: activity('evaluate', 'evaluate', evaluateInputSchema, (ctx, input) =>
      withReportDir(store, evaluateStage(ctx, input)),
    ),

    /** Originals + generated models → a `report` artifact scored by the user's `evaluate.command`. */
    evaluateByCommand: activity('evaluateByCommand', 'evaluate', evaluateByCommandInputSchema, (ctx, input) =>
      withReportDir(store, evaluateByCommandStage(ctx, input)),
    ),

    /** Per-task originals, generated (and ablation) models → a `task-report` artifact. */
    evaluateTasks: activity('evaluateTasks', 'evaluate', evaluateTasksInputSchema, (ctx, input) =>
      withReportDir(store, evaluateTasksStage(ctx, input)),
    ),
  };
}

export type EvaluatorActivities = ReturnType<typeof createEvaluatorActivities>;
