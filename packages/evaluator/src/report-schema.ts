import { z } from 'zod';
import { parseReportWith, verdictFields } from './report-files.js';

const num = z.number();
const pct = z.number().min(0).max(100);
const unit = z.number().min(0).max(1);

export const accuracyStatsSchema = z.object({
  max: pct,
  avg: pct,
  min: pct,
  std: num.min(0),
  count: z.number().int().positive(),
});

/** One point of a training loss curve: optimiser step and loss (finite). */
export const lossPointSchema = z.object({ step: z.number().min(0), loss: z.number() });
export type LossPoint = z.infer<typeof lossPointSchema>;

export const reportSchema = z.object({
  schemaVersion: z.literal(1),
  createdAt: z.string(),
  /** A heading for the report (e.g. the experiment's name). */
  title: z.string().optional(),
  /** Remarks for the reader, shown at the top (e.g. a data set that differs from the checkpoints' own). */
  notes: z.array(z.string()).optional(),
  dataset: z.object({ name: z.string(), testSize: z.number().int().positive() }),
  /** The target network's spec, as given. */
  network: z.unknown().optional(),
  /** Test accuracies (percent) of the training checkpoints. */
  originals: accuracyStatsSchema.extend({
    all: z.array(pct),
    /** Per original: max IoU to any OTHER original (x of the frontier plot); null with fewer than 2 originals. */
    maxIouToOther: z.array(unit).nullable(),
  }),
  /** Test accuracies (percent) of the generated models; `best` is their max. */
  generated: z.object({
    best: pct,
    avg: pct,
    min: pct,
    std: num.min(0),
    count: z.number().int().positive(),
    all: z.array(pct),
  }),
  /** IoU of misclassified-test-sample sets (both empty counts as 1). */
  iou: z.object({
    /** Mean over all pairs of originals; null with fewer than 2. */
    originalOriginal: unit.nullable(),
    /** Mean over all pairs of generated models; null with fewer than 2. */
    generatedGenerated: unit.nullable(),
    /** Mean over generated models of the max IoU to any original. */
    generatedMaxToOriginal: unit,
    perModel: z.array(
      z.object({ index: z.number().int(), maxIouToOriginal: unit, closestOriginal: z.number().int() }),
    ),
  }),
  /** Originals plus Gaussian noise σ in normalized space, one entry per σ. */
  noise: z.array(
    z.object({
      sigma: num.min(0),
      accuracy: accuracyStatsSchema,
      all: z.array(pct),
      /** Mean over the noise models of the max IoU to any original (their source included). */
      maxIouToOriginal: unit,
      perModel: z.array(
        z.object({ source: z.number().int(), accuracy: pct, maxIouToOriginal: unit, nearestL2: num.min(0) }),
      ),
    }),
  ),
  /** L2 distance (raw parameters, generated tensors only) from each generated model to its nearest original. */
  nearestOriginal: z.array(
    z.object({
      index: z.number().int(),
      /** null (and `distance` null) for a model with non-finite parameters. */
      original: z.number().int().nullable(),
      distance: num.min(0).nullable(),
    }),
  ),
  /**
   * Generated models with NaN or Inf parameters: left out of every figure above (whose `index` fields count all
   * generated models), listed here with the tensors that hold them.
   */
  nonFinite: z
    .array(
      z.object({
        index: z.number().int(),
        tensors: z.array(z.object({ name: z.string(), count: z.number().int().positive() })),
      }),
    )
    .optional(),
  /** Scale for the distances above: each original's L2 distance to its nearest other original; null with < 2. */
  originalSpacing: z.object({ min: num, avg: num, max: num }).nullable(),
  /** Generated best beats the originals' max by more than `suspiciousMargin` points: check the test split. */
  suspicious: z.boolean(),
  suspiciousMargin: num.min(0),
  evaluateSeconds: num.min(0),
  /** The generator's training loss curve, steps ascending. */
  trainingLoss: z
    .array(lossPointSchema)
    .refine((pts) => pts.every((p, i) => i === 0 || p.step >= pts[i - 1]!.step), 'steps must be ascending')
    .optional(),
  /** Wall-clock seconds per pipeline stage, as the caller measured them. */
  stageSeconds: z.record(z.string(), num.min(0)).optional(),
  config: z.unknown().optional(),
  /** Match / short / failed against the originals (see verdict.ts), its one line, and the causes the run shows. */
  ...verdictFields,
});

export type Report = z.infer<typeof reportSchema>;

/** Parses and validates a report (e.g. a report.json read back), with an error that names the bad field. */
export function parseReport(value: unknown): Report {
  return parseReportWith(reportSchema, value, 'evaluation report');
}
