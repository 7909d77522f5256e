import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CheckpointsMeta,
  checkpointFileName,
  readCheckpointsMeta,
  writeCheckpointsMeta,
} from '@rpg/checkpoint-harvest';
import { type ArtifactRef, ArtifactStore, type ProgressSink, Rng, silentProgress } from '@rpg/core';
import { parseTaskDescriptor, type TaskDescriptor, taskVector } from '@rpg/task-embedding';
import { loadTokenizerState } from '@rpg/tokenizer';
import type { z } from 'zod';
import { checkpointSink } from './checkpoint-sink.js';
import { generate, generateSettingsSchema } from './generate.js';
import { loadGenerator, saveGenerator } from './generator-files.js';
import { storeResumeSlot, type TrainHooks } from './resume-pointer.js';
import { checkpointsOfTokens } from './task-conditioning.js';
import { type TrainStageConfigInput, trainStageConfigSchema } from './train-config.js';
import { disposeGenerator } from './train-generator.js';
import { trainJob } from './train-job.js';
import { checkTrainedOn } from './trained-on.js';

export interface StageContext {
  store: ArtifactStore;
  progress?: ProgressSink;
  signal?: AbortSignal;
}

/**
 * The train stage: a `tokens` artifact → a `generator` artifact, by {@link trainJob}. Saves resume checkpoints
 * (`train-state` artifacts) every `checkpointEvery` steps and continues from the latest one when run again (or
 * from `hooks.resume`), so a killed run loses at most `checkpointEvery` steps.
 */
export async function trainStage(
  ctx: StageContext,
  input: { tokens: ArtifactRef; config: TrainStageConfigInput },
  hooks: TrainHooks = {},
): Promise<ArtifactRef> {
  const config = trainStageConfigSchema.parse(input.config);
  const { store } = ctx;
  const key = ArtifactStore.keyFor('train', config, [input.tokens]);
  return store.put({ kind: 'generator', stage: 'train', config, inputs: [input.tokens] }, async (dir) => {
    const gen = await trainJob({
      tokensDir: (await store.get(input.tokens)).dir,
      config,
      // A task-conditioned model, or states per seed, need facts the tokens do not carry: their checkpoints.
      checkpoints: () => checkpointsOfTokens(store, input.tokens),
      slot: storeResumeSlot(store, key, input.tokens, hooks),
      progress: ctx.progress,
      signal: ctx.signal,
      onResume: hooks.onResume,
    });
    try {
      await saveGenerator(dir, gen);
    } finally {
      disposeGenerator(gen);
    }
  });
}

export const generateStageConfigSchema = generateSettingsSchema.strict();
export type GenerateStageConfigInput = z.input<typeof generateStageConfigSchema>;

/**
 * The generate stage: a `generator` + the `tokens` artifact it was trained on → a `generated` artifact, a
 * checkpoints directory with one detokenized safetensors per model (run = model index). Models are decoded and
 * written one at a time, chunk by chunk. A task-conditioned generator needs `task`, the task to generate for (it
 * may be one the generator never saw); it is recorded with every model.
 */
export async function generateStage(
  ctx: StageContext,
  input: {
    generator: ArtifactRef;
    tokens: ArtifactRef;
    config: GenerateStageConfigInput;
    network?: unknown;
    task?: TaskDescriptor;
  },
): Promise<ArtifactRef> {
  const config = generateStageConfigSchema.parse(input.config);
  const { store } = ctx;
  const task = input.task === undefined ? undefined : parseTaskDescriptor(input.task, 'task');
  return store.put(
    {
      kind: 'generated',
      stage: 'generate',
      config: task ? { ...config, task } : config,
      inputs: [input.generator, input.tokens],
    },
    async (dir) => {
      const state = await loadTokenizerState((await store.get(input.tokens)).dir);
      const gen = await loadGenerator((await store.get(input.generator)).dir);
      try {
        checkTrainedOn(gen, state, `of ${input.tokens.uri}`);
      } catch (err) {
        disposeGenerator(gen);
        throw err;
      }
      const meta: CheckpointsMeta = {
        format: 'rpg-checkpoints',
        version: 1,
        network: (input.network as CheckpointsMeta['network']) ?? null,
        dataset: null,
        runs: [],
        checkpoints: [],
      };
      const sink = checkpointSink(
        state,
        dir,
        (m) => checkpointFileName(m, 0).replace(/^run/, 'gen'),
        (m, file) =>
          meta.checkpoints.push({
            file,
            run: m,
            index: 0,
            step: null,
            testAccuracy: null,
            ...(task ? { task } : {}),
          }),
      );
      try {
        const { states } = await generate(gen, {
          ...config,
          ...(task ? { task: taskVector(task) } : {}),
          progress: ctx.progress ?? silentProgress,
          ...(ctx.signal ? { signal: ctx.signal } : {}),
          write: sink.write,
        });
        meta.runs = states.map((s) => ({ permutationState: s }));
      } finally {
        await sink.abort();
        disposeGenerator(gen);
      }
      await writeCheckpointsMeta(dir, meta);
    },
  );
}

/**
 * The seed model `model` of a fanned-out generation samples with: derived from the config's seed, so every model
 * is reproducible on its own, whichever worker makes it and in whatever order.
 */
export function modelSeed(seed: number, model: number): number {
  return new Rng(seed).fork(`model ${model}`).nextUint32();
}

/**
 * Model `model` of a generate config alone (sampled with {@link modelSeed}) → a `generated` artifact holding just
 * it: the unit the pipeline fans generation out over. {@link collectGeneratedStage} joins them.
 */
export async function generateModelStage(
  ctx: StageContext,
  // Whatever generateStage takes, plus which model.
  input: Parameters<typeof generateStage>[1] & { model: number },
): Promise<ArtifactRef> {
  const { model, config, ...rest } = input;
  const parsed = generateStageConfigSchema.parse(config);
  if (!Number.isInteger(model) || model < 0 || model >= parsed.count) {
    throw new Error(`model ${model} is not one of the config's ${parsed.count} (0 .. ${parsed.count - 1})`);
  }
  return generateStage(ctx, {
    ...rest,
    config: { ...parsed, count: 1, seed: modelSeed(parsed.seed, model) },
  });
}

/**
 * Joins one-model `generated` artifacts into one collection, model i being the i-th input (files renamed to
 * match), in the layout {@link generateStage} writes.
 */
export async function collectGeneratedStage(ctx: StageContext, models: ArtifactRef[]): Promise<ArtifactRef> {
  if (models.length === 0) throw new Error('collectGeneratedStage: no models to collect');
  const { store } = ctx;
  return store.put(
    { kind: 'generated', stage: 'collect-generated', config: { models: models.length }, inputs: models },
    async (dir) => {
      let merged: CheckpointsMeta | undefined;
      for (const [m, ref] of models.entries()) {
        const { dir: src } = await store.get(ref);
        const meta = await readCheckpointsMeta(src);
        const entry = meta.checkpoints[0];
        if (meta.checkpoints.length !== 1 || !entry) {
          throw new Error(`input ${m} (${ref.uri}) holds ${meta.checkpoints.length} models, expected 1`);
        }
        merged ??= { ...meta, runs: [], checkpoints: [] };
        const file = checkpointFileName(m, 0).replace(/^run/, 'gen');
        await copyFile(join(src, entry.file), join(dir, file));
        merged.checkpoints.push({ ...entry, file, run: m });
        merged.runs.push(meta.runs[0] ?? {});
        ctx.progress?.({ stage: 'collect', step: m + 1, total: models.length });
      }
      await writeCheckpointsMeta(dir, merged!);
    },
  );
}
