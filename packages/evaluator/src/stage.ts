import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { datasetSpecSchema, loadDataset } from '@rpg/checkpoint-harvest';
import { type ArtifactRef, type ArtifactStore, MAX_SEED, type ProgressSink, silentProgress } from '@rpg/core';
import { z } from 'zod';
import { evaluateCollections } from './evaluate-collections.js';
import type { LossPoint } from './report-schema.js';

/** The settings every evaluate stage has: its noise baselines, their seed, the report's title. */
export const baselineFields = {
  /** Noise baselines σ in normalized space. */
  sigmas: z.array(z.number().min(0).max(10)).max(20).default([0.01, 0.03, 0.05]),
  /** Noise models per σ (default: as many as generated models). */
  noisePerSigma: z.number().int().positive().max(10_000).optional(),
  seed: z.number().int().nonnegative().max(MAX_SEED).default(0),
  title: z.string().max(200).optional(),
};

export const evaluateStageConfigSchema = z.object({ dataset: datasetSpecSchema, ...baselineFields }).strict();
export type EvaluateStageConfigInput = z.input<typeof evaluateStageConfigSchema>;

/** The generator directory's loss history (`generator.json`), thinned to at most `max` points for the plot. */
export async function trainingLossOf(dir: string, max = 500): Promise<LossPoint[] | undefined> {
  const file = z
    .object({ lossHistory: z.array(z.number()) })
    .safeParse(JSON.parse(await readFile(join(dir, 'generator.json'), 'utf8')));
  if (!file.success) return undefined;
  const h = file.data.lossHistory;
  const every = Math.max(1, Math.ceil(h.length / max));
  const points: LossPoint[] = [];
  for (let i = 0; i < h.length; i += every) {
    const window = h.slice(i, i + every);
    points.push({ step: i + window.length, loss: window.reduce((a, b) => a + b, 0) / window.length });
  }
  return points;
}

/**
 * What the evaluate stages take: the two collections (checkpoints artifacts), the generator that made the second
 * (its loss curve goes into the report), the stage's config, and what the report records of the run.
 */
export interface EvaluateStageInput<C> {
  originals: ArtifactRef;
  generated: ArtifactRef;
  generator?: ArtifactRef;
  config: C;
  stageSeconds?: Record<string, number>;
  pipelineConfig?: unknown;
}

/** The artifacts a report is made from: the inputs of its store key. */
export function evaluatedRefs(input: EvaluateStageInput<unknown>): ArtifactRef[] {
  return [input.originals, input.generated, ...(input.generator ? [input.generator] : [])];
}

/**
 * The evaluate stage: originals and generated models (checkpoints artifacts) → a `report` artifact with
 * `report.json` and `report.html`. `stageSeconds` and `pipelineConfig` go into the report but not into the
 * artifact key (they describe how the inputs were made, not what is evaluated).
 */
export async function evaluateStage(
  ctx: { store: ArtifactStore; progress?: ProgressSink },
  input: EvaluateStageInput<EvaluateStageConfigInput>,
): Promise<ArtifactRef> {
  const config = evaluateStageConfigSchema.parse(input.config);
  const { store } = ctx;
  const inputs = evaluatedRefs(input);
  return store.put({ kind: 'report', stage: 'evaluate', config, inputs }, async (dir) => {
    const trainingLoss = input.generator
      ? await trainingLossOf((await store.get(input.generator)).dir)
      : undefined;
    await evaluateCollections({
      originalsDir: (await store.get(input.originals)).dir,
      generatedDir: (await store.get(input.generated)).dir,
      outDir: dir,
      dataset: loadDataset(config.dataset),
      sigmas: config.sigmas,
      ...(config.noisePerSigma ? { noisePerSigma: config.noisePerSigma } : {}),
      seed: config.seed,
      ...(trainingLoss ? { trainingLoss } : {}),
      ...(input.stageSeconds ? { stageSeconds: input.stageSeconds } : {}),
      ...(config.title ? { title: config.title } : {}),
      ...(input.pipelineConfig === undefined ? {} : { config: input.pipelineConfig }),
      progress: ctx.progress ?? silentProgress,
    });
  });
}
