/**
 * Generator training and generation as Temporal activities. Training heartbeats every step and, after each resume
 * checkpoint is durably stored, its ref; a retried attempt continues from the ref in the last recorded heartbeat.
 * A cancelled training stops before its next step and keeps its last checkpoint.
 */
import { ArtifactRef } from '@rpg/core';
import { type StageActivitiesOptions, stageActivities } from '@rpg/core/activities';
import { taskDescriptorSchema } from '@rpg/task-embedding';
import { z } from 'zod';
import {
  collectGeneratedStage,
  generateModelStage,
  generateStage,
  generateStageConfigSchema,
  trainStage,
} from './stage.js';
import { trainStageConfigSchema } from './train-config.js';

export const trainGeneratorInputSchema = z.object({
  tokens: ArtifactRef,
  config: trainStageConfigSchema,
  /** A signal of the calling workflow to send after each durable checkpoint (see `runStageActivity`). */
  checkpointSignal: z.string().min(1).optional(),
});
export const generateModelInputSchema = z.object({
  generator: ArtifactRef,
  tokens: ArtifactRef,
  config: generateStageConfigSchema,
  network: z.unknown().optional(),
  model: z.number().int().nonnegative(),
});
export const generateInputSchema = z.object({
  generator: ArtifactRef,
  tokens: ArtifactRef,
  config: generateStageConfigSchema,
  network: z.unknown().optional(),
  /** The task to generate for, required by a task-conditioned generator (it may be one it never saw). */
  task: taskDescriptorSchema.optional(),
});
export const collectGeneratedInputSchema = z.object({ models: z.array(ArtifactRef).min(1) });

export interface TrainGeneratorResult {
  generator: ArtifactRef;
  /** The step this attempt continued from (a resume checkpoint), or null if it started at 0 or found the result. */
  resumedFrom: number | null;
  /** Temporal's attempt number of the attempt that finished. */
  attempt: number;
}

export type ActivityOptions = StageActivitiesOptions;

export function createDiffusionDecoderActivities(options: ActivityOptions) {
  const activity = stageActivities(options);
  const { store } = options;
  return {
    /** A `tokens` artifact → a `generator` artifact, resumable from the last heartbeat's `resumeRef`. */
    trainGenerator: activity(
      'trainGenerator',
      'train',
      trainGeneratorInputSchema,
      async (ctx, { tokens, config }, { previous, attempt, checkpoint }): Promise<TrainGeneratorResult> => {
        // Without a usable ref from Temporal, the stage falls back to its own record of the latest checkpoint.
        const fromHeartbeat =
          previous?.resumeRef && (await store.has(previous.resumeRef)) ? previous.resumeRef : undefined;
        let resumedFrom: number | null = null;
        const generator = await trainStage(
          ctx,
          { tokens, config },
          {
            ...(fromHeartbeat ? { resume: fromHeartbeat } : {}),
            onResume: (step) => {
              resumedFrom = step;
            },
            onCheckpoint: (ref, step, loss) => checkpoint(ref, step, loss),
          },
        );
        return { generator, resumedFrom, attempt };
      },
      (input) => input.checkpointSignal,
    ),

    /** One model of a generate config → a one-model `generated` artifact. */
    generateModel: activity('generateModel', 'generate', generateModelInputSchema, generateModelStage),

    /** All models of a generate config (for one task, when the generator is task-conditioned) → a `generated` artifact. */
    generate: activity('generate', 'generate', generateInputSchema, generateStage),

    /** One-model `generated` artifacts → one collection. */
    collectGenerated: activity(
      'collectGenerated',
      'collect',
      collectGeneratedInputSchema,
      (ctx, { models }) => collectGeneratedStage(ctx, models),
    ),
  };
}

export type DiffusionDecoderActivities = ReturnType<typeof createDiffusionDecoderActivities>;
