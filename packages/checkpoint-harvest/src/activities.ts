/**
 * The harvest stages as Temporal activities: artifact refs in, artifact refs out, progress as heartbeats. They call
 * the same stage functions as `rpg local` and this package's CLI.
 */
import { ArtifactRef, type ArtifactStore, type ProgressSink } from '@rpg/core';
import { parseActivityInput, runStageActivity } from '@rpg/core/activities';
import { z } from 'zod';
import { collectCheckpointsStage, harvestRunInputSchema, harvestRunStage } from './stage.js';

export const collectCheckpointsInputSchema = z.object({ runs: z.array(ArtifactRef).min(1) });

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
