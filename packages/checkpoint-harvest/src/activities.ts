/**
 * The harvest stages as Temporal activities: artifact refs in, artifact refs out, progress as heartbeats. They call
 * the same stage functions as `rpg local` and this package's CLI.
 */
import { ArtifactRef } from '@rpg/core';
import { type StageActivitiesOptions, stageActivities } from '@rpg/core/activities';
import { z } from 'zod';
import { importSourceStage } from './import-source.js';
import { collectCheckpointsStage, harvestRunInputSchema, harvestRunStage } from './stage.js';
import { harvestTaskRunInputSchema, harvestTaskRunStage } from './task-stage.js';

export const collectCheckpointsInputSchema = z.object({ runs: z.array(ArtifactRef).min(1) });
export const harvestTaskRunActivityInputSchema = z.object({
  input: harvestTaskRunInputSchema,
  /** A base network to fine-tune from (see `harvestTaskRunStage`). */
  base: ArtifactRef.optional(),
});
/** The source is validated by the stage itself (its errors name the source's fields). */
const importSourceInputSchema = z.object({ source: z.unknown() });

export type ActivityOptions = StageActivitiesOptions;

export function createHarvestActivities(options: ActivityOptions) {
  const activity = stageActivities(options);
  return {
    /** One harvest run → a `checkpoints` artifact. A retry starts the run over (runs are short and seeded). */
    harvestRun: activity('harvestRun', 'harvest', harvestRunInputSchema, harvestRunStage),

    /** One harvest run on one binary task → a `checkpoints` artifact whose entries record the task. */
    harvestTaskRun: activity(
      'harvestTaskRun',
      'harvest',
      harvestTaskRunActivityInputSchema,
      (ctx, { input, base }) => harvestTaskRunStage(ctx, { ...input, ...(base ? { base } : {}) }),
    ),

    /** Checkpoints trained elsewhere (a pipeline's `source`) → one collection. */
    importSource: activity('importSource', 'import', importSourceInputSchema, importSourceStage),

    /** Per-run `checkpoints` artifacts → one collection. */
    collectCheckpoints: activity(
      'collectCheckpoints',
      'collect',
      collectCheckpointsInputSchema,
      (ctx, { runs }) => collectCheckpointsStage(ctx, runs),
    ),
  };
}

export type HarvestActivities = ReturnType<typeof createHarvestActivities>;
