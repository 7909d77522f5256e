/** The tokenize stage as a Temporal activity (the same stage function as `rpg local` and this package's CLI). */
import { ArtifactRef } from '@rpg/core';
import { type StageActivitiesOptions, stageActivities } from '@rpg/core/activities';
import { z } from 'zod';
import { tokenizerConfigSchema } from './config.js';
import { tokenizeStage } from './stage.js';

export const tokenizeInputSchema = z.object({ checkpoints: ArtifactRef, tokenizer: tokenizerConfigSchema });

export type ActivityOptions = StageActivitiesOptions;

export function createTokenizerActivities(options: ActivityOptions) {
  const activity = stageActivities(options);
  return {
    /** A `checkpoints` artifact → a `tokens` artifact. */
    tokenize: activity('tokenize', 'tokenize', tokenizeInputSchema, tokenizeStage),
  };
}

export type TokenizerActivities = ReturnType<typeof createTokenizerActivities>;
