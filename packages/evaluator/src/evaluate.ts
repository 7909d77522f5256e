/**
 * Evaluation of generated models against the training checkpoints, as the RPG paper reports it: test accuracy
 * (best / avg / min beside the originals' max / avg / min), novelty (IoU of misclassification sets; noise
 * baselines; L2 distance to the nearest original) and a flag for results too good to be true.
 */
import { type NetworkSpec, numClassesOf, type Split } from '@rpg/checkpoint-harvest';
import { type ProgressSink, type StateDict, silentProgress } from '@rpg/core';
import { z } from 'zod';
import { NearestOriginalIndex } from './distances.js';
import { describeNonFinite, nonFiniteModels } from './finite.js';
import {
  accuracyFromMisses,
  accuracyStats,
  type MissSet,
  maxIouToReference,
  mean,
  misclassified,
} from './metrics.js';
import { assertSameLayout } from './model-tensors.js';
import { DEFAULT_NOISE_SIGMAS, fitNoiseStats, type NormalizedSpace, noiseModel } from './noise-baseline.js';
import { TestSetPredictor } from './predict-batch.js';
import { buildReport } from './report-build.js';
import type { LossPoint, Report } from './report-schema.js';
import { withVerdict } from './verdict.js';

export const evaluateOptionsSchema = z.object({
  noiseSigmas: z.array(z.number().min(0)).default([...DEFAULT_NOISE_SIGMAS]),
  /** Noise models per σ; default: as many as generated models (at least 1). */
  noisePerSigma: z.number().int().positive().optional(),
  seed: z.number().int().default(0),
  suspiciousMargin: z.number().min(0).default(0.5),
  /** Test samples per forward pass (see {@link TestSetPredictor}). */
  batchSize: z.number().int().positive().optional(),
});

export type EvaluateOptions = z.input<typeof evaluateOptionsSchema>;

export interface EvaluateInput extends EvaluateOptions {
  spec: NetworkSpec;
  /** A data set (its `test` split is used). */
  dataset: { name: string; test: Split };
  originals: StateDict[];
  generated: StateDict[];
  /** The normalized space for the noise baselines; default: per-tensor statistics fitted on the originals. */
  space?: NormalizedSpace;
  progress?: ProgressSink;
  /** Passed through into the report: the generator's training loss curve (non-finite points are dropped). */
  trainingLoss?: readonly LossPoint[];
  /** Passed through: seconds per pipeline stage. */
  stageSeconds?: Record<string, number>;
  /** Passed through: a heading for the report. */
  title?: string;
  /** Passed through: remarks shown at the top of the report (e.g. data set mismatches). */
  notes?: readonly string[];
  config?: unknown;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs every model on the test split and assembles the {@link Report}. Predictions are batched (the test inputs
 * are uploaded once; MLPs run several models per forward pass) and nearest-original distances use one Gram
 * matmul per block of models (exact results, see {@link NearestOriginalIndex}). Noise models are made, evaluated
 * and dropped a batch at a time, so memory holds little beyond the given models. Yields to the event loop between
 * batches (heartbeats) and reports progress once per model.
 */
export async function evaluateModels(input: EvaluateInput): Promise<Report> {
  const started = performance.now();
  const opts = evaluateOptionsSchema.parse({
    noiseSigmas: input.noiseSigmas,
    noisePerSigma: input.noisePerSigma,
    seed: input.seed,
    suspiciousMargin: input.suspiciousMargin,
    batchSize: input.batchSize,
  });
  const { spec, dataset, originals } = input;
  // Non-finite models are reported as such, never scored: their NaN logits would count as one class.
  const brokenOriginal = nonFiniteModels(originals)[0];
  if (brokenOriginal) {
    throw new Error(
      `original ${brokenOriginal.index} has non-finite parameters (${describeNonFinite(brokenOriginal)}): it cannot be a reference`,
    );
  }
  const nonFinite = nonFiniteModels(input.generated);
  if (nonFinite.length > 0 && nonFinite.length === input.generated.length) {
    throw new Error(
      `all ${nonFinite.length} generated models have non-finite parameters (model 0: ${describeNonFinite(nonFinite[0]!)}): nothing to score; the generator diverged?`,
    );
  }
  const broken = new Set(nonFinite.map((m) => m.index));
  /** Index among all generated models of each scored (finite) one. */
  const scored = input.generated.map((_, i) => i).filter((i) => !broken.has(i));
  const generated = scored.map((i) => input.generated[i]!);
  const progress = input.progress ?? silentProgress;
  const split = dataset.test;
  if (originals.length === 0) throw new Error('evaluateModels needs at least one original checkpoint');
  if (input.generated.length === 0) throw new Error('evaluateModels needs at least one generated model');
  if (!(split.n > 0) || split.y.length !== split.n) {
    throw new Error(`the test split must have n > 0 labels (n=${split.n}, labels=${split.y.length})`);
  }
  const reference = originals[0]!;
  for (const [i, sd] of originals.entries()) assertSameLayout(reference, sd, `original ${i}`);
  for (const [i, sd] of input.generated.entries()) assertSameLayout(reference, sd, `generated model ${i}`);

  const noisePerSigma = opts.noisePerSigma ?? generated.length;
  const total = originals.length + generated.length + opts.noiseSigmas.length * noisePerSigma;
  let step = 0;
  const predictor = new TestSetPredictor(spec, split, opts.batchSize ? { batchSize: opts.batchSize } : {});
  const index = new NearestOriginalIndex(originals);
  try {
    // Models per batch: a few predictor groups, so noise models are made and dropped in batches.
    const batch = Math.max(predictor.modelsPerBatch, 8);
    const missesOf = async (
      models: readonly StateDict[],
      note: (i: number) => string,
    ): Promise<MissSet[]> => {
      const out: MissSet[] = [];
      for (let s = 0; s < models.length; s += batch) {
        const preds = predictor.predict(models.slice(s, s + batch));
        for (const p of preds) {
          out.push(misclassified(p, split.y));
          progress({ stage: 'evaluate', step: ++step, total, note: note(out.length - 1) });
        }
        await tick();
      }
      return out;
    };

    const origMisses = await missesOf(originals, (i) => `original ${i + 1}/${originals.length}`);
    const genMisses = await missesOf(generated, (i) => `generated ${i + 1}/${generated.length}`);

    const space =
      opts.noiseSigmas.length > 0 ? (input.space ?? { stats: fitNoiseStats(originals) }) : undefined;
    const noise: Report['noise'] = [];
    for (const sigma of opts.noiseSigmas) {
      const perModel: Report['noise'][number]['perModel'] = [];
      for (let s = 0; s < noisePerSigma; s += batch) {
        const made = Array.from({ length: Math.min(batch, noisePerSigma - s) }, (_, k) =>
          noiseModel({
            originals,
            sigma,
            index: s + k,
            count: noisePerSigma,
            seed: opts.seed,
            space: space!,
          }),
        );
        const models = made.map((m) => m.model);
        const preds = predictor.predict(models);
        const nearest = index.nearest(models);
        made.forEach(({ source }, k) => {
          const m = misclassified(preds[k]!, split.y);
          perModel.push({
            source,
            accuracy: accuracyFromMisses(m, split.n),
            maxIouToOriginal: maxIouToReference(m, origMisses).iou,
            nearestL2: finiteDistance(nearest[k], `noise model σ=${sigma} #${s + k}`),
          });
          progress({
            stage: 'evaluate',
            step: ++step,
            total,
            note: `noise σ=${sigma} ${perModel.length}/${noisePerSigma}`,
          });
        });
        await tick();
      }
      const all = perModel.map((p) => p.accuracy);
      noise.push({
        sigma,
        accuracy: accuracyStats(all),
        all,
        maxIouToOriginal: mean(perModel.map((p) => p.maxIouToOriginal))!,
        perModel,
      });
    }

    const nearestOriginal = index.nearest(generated).map((r, i) => ({
      index: scored[i]!,
      original: r?.index ?? null,
      distance: r?.distance ?? null,
    }));
    const originalSpacing =
      originals.length >= 2 ? index.nearest(originals, (i) => i).map((r) => r!.distance) : null;
    const notes = [
      ...(input.notes ?? []),
      ...nonFinite.map(
        (m) =>
          `generated model ${m.index} has non-finite parameters (${describeNonFinite(m)}): not scored; the generator diverged?`,
      ),
    ];

    const report = buildReport({
      datasetName: dataset.name,
      testSize: split.n,
      spec,
      origMisses,
      genMisses,
      noise,
      nearestOriginal,
      originalSpacing,
      suspiciousMargin: opts.suspiciousMargin,
      evaluateSeconds: (performance.now() - started) / 1000,
      trainingLoss: input.trainingLoss,
      stageSeconds: input.stageSeconds,
      title: input.title,
      notes,
      config: input.config,
    });
    const classes = numClassesOf(spec);
    if (nonFinite.length === 0) return withVerdict(report, classes);
    // Scored models keep their index among all generated models.
    for (const p of report.iou.perModel) p.index = scored[p.index]!;
    return withVerdict({ ...report, nonFinite }, classes);
  } finally {
    predictor.dispose();
    index.dispose();
  }
}

function finiteDistance(r: { distance: number } | null | undefined, what: string): number {
  if (!r) throw new Error(`${what} has non-finite parameters (NaN or Inf)`);
  return r.distance;
}
