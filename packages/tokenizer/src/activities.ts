/** The tokenize stage as a Temporal activity (the same stage function as `rpg local` and this package's CLI). */
import { ArtifactRef, type ArtifactStore, type ProgressSink } from '@rpg/core';
import { parseActivityInput, runStageActivity } from '@rpg/core/activities';
import { z } from 'zod';
import { tokenizerConfigSchema } from './config.js';
import { tokenizeStage } from './stage.js';

export const tokenizeInputSchema = z.object({ checkpoints: ArtifactRef, tokenizer: tokenizerConfigSchema });

export interface ActivityOptions {
  store: ArtifactStore;
  /** Also receives every progress event (e.g. the worker's terminal). */
  echo?: ProgressSink;
}

export function createTokenizerActivities({ store, echo }: ActivityOptions) {
  return {
    /** A `checkpoints` artifact → a `tokens` artifact. */
    async tokenize(input: z.input<typeof tokenizeInputSchema>): Promise<ArtifactRef> {
      const parsed = parseActivityInput('tokenize', tokenizeInputSchema, input);
      return runStageActivity(
        'tokenize',
        'tokenize',
        ({ progress }) => tokenizeStage({ store, progress }, parsed),
        { echo },
      );
    },
  };
}

export type TokenizerActivities = ReturnType<typeof createTokenizerActivities>;
