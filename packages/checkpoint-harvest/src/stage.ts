import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ArtifactRef, type ArtifactStore, MAX_SEED, type ProgressSink, silentProgress } from '@rpg/core';
import { z } from 'zod';
import {
  type CheckpointsMeta,
  checkpointFileName,
  readCheckpoint,
  readCheckpointsMeta,
  writeCheckpoint,
  writeCheckpointsMeta,
} from './checkpoints-dir.js';
import { type Dataset, loadMnist, MNIST_TOTAL } from './data.js';
import { harvestConfigSchema } from './harvest-config.js';
import { writeHarvest } from './harvest-dir.js';
import { harvestRun } from './train.js';

/** Which data set a pipeline uses, as data (so it can go into configs and artifact keys). */
export const datasetSpecSchema = z
  .object({
    kind: z.literal('mnist'),
    /** Seed of the fixed train/test split. */
    seed: z.number().int().nonnegative().max(MAX_SEED).default(0),
    testSize: z
      .number()
      .int()
      .positive()
      .max(MNIST_TOTAL - 1, `at most ${MNIST_TOTAL - 1}: MNIST here has ${MNIST_TOTAL} digits`)
      .default(2000),
    /** Average-pool the images by this factor (2: 14×14); absent keeps 28×28. */
    pool: z.union([z.literal(1), z.literal(2), z.literal(4), z.literal(7)]).optional(),
  })
  .strict();
export type DatasetSpec = z.output<typeof datasetSpecSchema>;
export type DatasetSpecInput = z.input<typeof datasetSpecSchema>;

export function loadDataset(spec: DatasetSpecInput): Dataset {
  const s = datasetSpecSchema.parse(spec);
  return loadMnist({ seed: s.seed, testSize: s.testSize, ...(s.pool ? { pool: s.pool } : {}) });
}

export interface StageContext {
  store: ArtifactStore;
  progress?: ProgressSink;
}

export const harvestRunInputSchema = z.object({
  dataset: datasetSpecSchema,
  /** Run r trains with seed `harvest.seed + r`. */
  harvest: harvestConfigSchema,
  run: z.number().int().nonnegative().max(100_000),
});
export type HarvestRunInput = z.input<typeof harvestRunInputSchema>;

/** One harvest run (seed `harvest.seed + run`) → a `checkpoints` artifact holding that run's checkpoints. */
export async function harvestRunStage(ctx: StageContext, input: HarvestRunInput): Promise<ArtifactRef> {
  const parsed = harvestRunInputSchema.parse(input);
  return ctx.store.put(
    { kind: 'checkpoints', stage: 'harvest-run', config: parsed, inputs: [] },
    async (dir) => {
      const dataset = loadDataset(parsed.dataset);
      const result = await harvestRun({
        ...parsed.harvest,
        seed: parsed.harvest.seed + parsed.run,
        dataset,
        progress: ctx.progress ?? silentProgress,
      });
      await writeHarvest(dir, {
        network: parsed.harvest.network,
        datasetName: dataset.name,
        results: [result],
      });
    },
  );
}

/**
 * Joins per-run `checkpoints` artifacts into one collection; run `r` of the result is the r-th input (files are
 * renamed accordingly). Checkpoints keep their accuracies and steps.
 */
export async function collectCheckpointsStage(ctx: StageContext, runs: ArtifactRef[]): Promise<ArtifactRef> {
  if (runs.length === 0) throw new Error('collectCheckpointsStage: no runs to collect');
  return ctx.store.put(
    { kind: 'checkpoints', stage: 'collect', config: { runs: runs.length }, inputs: runs },
    async (dir) => {
      let merged: CheckpointsMeta | undefined;
      for (const [r, ref] of runs.entries()) {
        const { dir: src } = await ctx.store.get(ref);
        const meta = await readCheckpointsMeta(src);
        if (merged && JSON.stringify(merged.network) !== JSON.stringify(meta.network)) {
          throw new Error(`run ${r} has a different network than run 0; runs of one collection must match`);
        }
        merged ??= { ...meta, runs: [], checkpoints: [] };
        merged.runs.push(...meta.runs);
        for (const entry of meta.checkpoints) {
          const file = checkpointFileName(r, entry.index);
          await writeCheckpoint(dir, file, await readCheckpoint(src, entry));
          merged.checkpoints.push({ ...entry, file, run: r });
        }
      }
      await writeCheckpointsMeta(dir, merged!);
    },
  );
}

/** A scratch directory removed after `fn`, for stages that stage files before putting them. */
export async function withScratchDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'rpg-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
