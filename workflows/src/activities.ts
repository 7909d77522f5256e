/**
 * Every activity the pipeline workflow calls, gathered from the packages, plus config validation. Each package's
 * activities call the same stage functions as `rpg local`; this module only puts them together.
 */
import { createHarvestActivities } from '@rpg/checkpoint-harvest/activities';
import type { ArtifactStore, ProgressSink } from '@rpg/core';
import { createDiffusionDecoderActivities } from '@rpg/diffusion-decoder/activities';
import { createEvaluatorActivities } from '@rpg/evaluator/activities';
import type { TaskSplit } from '@rpg/task-embedding';
import { createTokenizerActivities } from '@rpg/tokenizer/activities';
import { ApplicationFailure } from '@temporalio/activity';
import { type AnyPipelineConfig, parseAnyPipelineConfig } from './import-config.js';
import { ConfigError } from './pipeline-config.js';
import { parseUnseenConfig, type UnseenConfig, unseenSplit } from './unseen-config.js';

/** Failure type of a config that does not validate. */
export const INVALID_CONFIG = 'InvalidConfig';

/** Validates a pipeline config and returns it with defaults filled in; writes nothing. */
export async function validatePipelineConfig(raw: unknown): Promise<AnyPipelineConfig> {
  try {
    return parseAnyPipelineConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) throw ApplicationFailure.nonRetryable(err.message, INVALID_CONFIG);
    throw err;
  }
}

/**
 * Validates an unseen-task config and draws its seen/unseen split (seeded, so every attempt draws the same);
 * writes nothing.
 */
export async function validateUnseenConfig(
  raw: unknown,
): Promise<{ config: UnseenConfig; split: TaskSplit }> {
  try {
    const config = parseUnseenConfig(raw);
    return { config, split: unseenSplit(config) };
  } catch (err) {
    if (err instanceof ConfigError) throw ApplicationFailure.nonRetryable(err.message, INVALID_CONFIG);
    throw err;
  }
}

export interface PipelineActivityOptions {
  store: ArtifactStore;
  /** Also receives every stage's progress events (e.g. the worker's terminal). */
  echo?: ProgressSink;
}

export function createPipelineActivities(options: PipelineActivityOptions) {
  return {
    validatePipelineConfig,
    validateUnseenConfig,
    ...createHarvestActivities(options),
    ...createTokenizerActivities(options),
    ...createDiffusionDecoderActivities(options),
    ...createEvaluatorActivities(options),
  };
}

export type PipelineActivities = ReturnType<typeof createPipelineActivities>;

/** The activities that go to the GPU queue; all others run on the CPU queue. */
export const GPU_ACTIVITIES = [
  'trainGenerator',
  'generateModel',
  'generate',
] as const satisfies readonly (keyof PipelineActivities)[];
