/**
 * The evaluate stage of the pipeline: read the originals and the generated models (checkpoints directories),
 * evaluate them on a data set's test split, write `report.json` and a self-contained `report.html`.
 */
import type { Dataset, NetworkSpec } from '@rpg/checkpoint-harvest';
import { networkSpecSchema } from '@rpg/checkpoint-harvest';
import { type ProgressSink, silentProgress } from '@rpg/core';
import { z } from 'zod';
import { collectionNotes, readModelCollection, resolveNetwork } from './collection.js';
import { evaluateModels } from './evaluate.js';
import { writeReport } from './report-html.js';
import { type LossPoint, lossPointSchema, type Report } from './report-schema.js';

const pathsSchema = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

export const evaluateCollectionsOptionsSchema = z.object({
  /** The training checkpoints: a checkpoints directory (or several; or safetensors files / directories). */
  originalsDir: pathsSchema,
  /** The generated models, same forms. */
  generatedDir: pathsSchema,
  /** Where `report.json` and `report.html` go (created if missing; existing reports are replaced). */
  outDir: z.string().min(1),
  /** The network; default: the one the checkpoints directories record (an error if they record none). */
  network: networkSpecSchema.optional(),
  /** Noise baseline σ values in normalized space; default 0.01, 0.03, 0.05. */
  sigmas: z.array(z.number().min(0)).optional(),
  /** Noise models per σ; default: as many as generated models. */
  noisePerSigma: z.number().int().positive().optional(),
  seed: z.number().int(),
  /** The generator's training loss curve, drawn in the report. */
  trainingLoss: z.array(lossPointSchema).optional(),
  /** Seconds per pipeline stage, shown in the report. */
  stageSeconds: z.record(z.string(), z.number().min(0)).optional(),
  title: z.string().optional(),
  /** Anything JSON to record in the report (e.g. the pipeline config). */
  config: z.unknown().optional(),
  /** Test samples per forward pass. */
  batchSize: z.number().int().positive().optional(),
  suspiciousMargin: z.number().min(0).optional(),
});

export interface EvaluateCollectionsOptions {
  originalsDir: string | readonly string[];
  generatedDir: string | readonly string[];
  outDir: string;
  /** The data set whose test split the models are evaluated on. */
  dataset: Dataset;
  network?: NetworkSpec;
  sigmas?: number[];
  noisePerSigma?: number;
  seed: number;
  trainingLoss?: LossPoint[];
  stageSeconds?: Record<string, number>;
  title?: string;
  config?: unknown;
  batchSize?: number;
  suspiciousMargin?: number;
  progress?: ProgressSink;
}

/**
 * Reads both collections, runs {@link evaluateModels}, writes `<outDir>/report.json` and `<outDir>/report.html`
 * and returns the report. Unless `stageSeconds` has an `evaluate` entry, this stage's own seconds (reading
 * included) are added to it. The report notes recorded data sets or test accuracies that differ from what this
 * evaluation measures (a sign of a wrong split or network).
 */
export async function evaluateCollections(options: EvaluateCollectionsOptions): Promise<Report> {
  const { dataset, progress = silentProgress, ...rest } = options;
  const parsed = evaluateCollectionsOptionsSchema.safeParse(rest);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `evaluateCollections: invalid option "${issue?.path.join('.') || '(root)'}": ${issue?.message}`,
    );
  }
  const o = parsed.data;
  if (!dataset?.test || !(dataset.test.n > 0))
    throw new Error('evaluateCollections: dataset has no test split');

  const started = performance.now();
  const originals = await readModelCollection(o.originalsDir, { progress, stage: 'read originals' });
  const generated = await readModelCollection(o.generatedDir, { progress, stage: 'read generated' });
  const spec = resolveNetwork(o.network, [originals, generated]);

  const report = await evaluateModels({
    spec,
    dataset,
    originals: originals.stateDicts,
    generated: generated.stateDicts,
    ...(o.sigmas ? { noiseSigmas: o.sigmas } : {}),
    ...(o.noisePerSigma ? { noisePerSigma: o.noisePerSigma } : {}),
    seed: o.seed,
    ...(o.batchSize ? { batchSize: o.batchSize } : {}),
    ...(o.suspiciousMargin === undefined ? {} : { suspiciousMargin: o.suspiciousMargin }),
    progress,
    ...(o.trainingLoss ? { trainingLoss: o.trainingLoss } : {}),
    ...(o.stageSeconds ? { stageSeconds: o.stageSeconds } : {}),
    ...(o.title === undefined ? {} : { title: o.title }),
    config: {
      ...(o.config === undefined ? {} : { pipeline: o.config }),
      originals: describeSources(originals.files.length, o.originalsDir),
      generated: describeSources(generated.files.length, o.generatedDir),
      seed: o.seed,
    },
  });
  const notes = [
    ...collectionNotes('originals', originals, dataset.name, report.originals.all, dataset.test.n),
    ...collectionNotes(
      'generated models',
      generated,
      dataset.name,
      byModelIndex(report, generated.stateDicts.length),
      dataset.test.n,
    ),
  ];
  const final: Report = { ...report };
  if (notes.length > 0) final.notes = [...(report.notes ?? []), ...notes];
  // The stage table shows this stage too (reading included) unless the caller timed it already.
  if (!o.stageSeconds || !('evaluate' in o.stageSeconds)) {
    final.stageSeconds = { ...(o.stageSeconds ?? {}), evaluate: (performance.now() - started) / 1000 };
  }
  await writeReport(o.outDir, final);
  return final;
}

/** The generated accuracies at their models' positions (undefined for a non-finite model, which is not scored). */
function byModelIndex(report: Report, count: number): (number | undefined)[] {
  const out = new Array<number | undefined>(count).fill(undefined);
  report.nearestOriginal.forEach((r, k) => {
    out[r.index] = report.generated.all[k];
  });
  return out;
}

function describeSources(count: number, paths: string | string[]): { count: number; from: string[] } {
  return { count, from: typeof paths === 'string' ? [paths] : paths };
}
