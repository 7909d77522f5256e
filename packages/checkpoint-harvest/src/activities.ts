/**
 * The harvest stages as Temporal activities: artifact refs in, artifact refs out, progress as heartbeats. They call
 * the same stage functions as `rpg local` and this package's CLI.
 */
import { ArtifactRef, type ArtifactStore, type ProgressSink } from '@rpg/core';
import { parseActivityInput, runStageActivity } from '@rpg/core/activities';
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

export interface ActivityOptions {
  store: ArtifactStore;
  /** Also receives every progress event (e.g. the worker's terminal). */
  echo?: ProgressSink;
}

export function createHarvestActivities({ store, echo }: ActivityOptions) {
  return {
    /** One harvest run → a `checkpoints` artifact. A retry starts the run over (runs are short and seeded). */
    async harvestRun(input: z.input<typeof harvestRunInputSchema>): Promise<ArtifactRef> {
      const parsed = parseActivityInput('harvestRun', harvestRunInputSchema, input);
      return runStageActivity(
        'harvestRun',
        'harvest',
        ({ progress }) => harvestRunStage({ store, progress }, parsed),
        { echo },
      );
    },

    /** One harvest run on one binary task → a `checkpoints` artifact whose entries record the task. */
    async harvestTaskRun(input: z.input<typeof harvestTaskRunActivityInputSchema>): Promise<ArtifactRef> {
      const { input: run, base } = parseActivityInput(
        'harvestTaskRun',
        harvestTaskRunActivityInputSchema,
        input,
      );
      return runStageActivity(
        'harvestTaskRun',
        'harvest',
        ({ progress }) => harvestTaskRunStage({ store, progress }, { ...run, ...(base ? { base } : {}) }),
        { echo },
      );
    },

    /** Checkpoints trained elsewhere (a pipeline's `source`) → one collection. */
    async importSource(input: { source: unknown }): Promise<ArtifactRef> {
      return runStageActivity(
        'importSource',
        'import',
        ({ progress }) => importSourceStage({ store, progress }, input),
        { echo },
      );
    },

    /** Per-run `checkpoints` artifacts → one collection. */
    async collectCheckpoints(input: z.input<typeof collectCheckpointsInputSchema>): Promise<ArtifactRef> {
      const { runs } = parseActivityInput('collectCheckpoints', collectCheckpointsInputSchema, input);
      return runStageActivity(
        'collectCheckpoints',
        'collect',
        ({ progress }) => collectCheckpointsStage({ store, progress }, runs),
        { echo },
      );
    },
  };
}

export type HarvestActivities = ReturnType<typeof createHarvestActivities>;
