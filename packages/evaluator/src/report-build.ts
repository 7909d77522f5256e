/** Pure assembly of a report from misclassification sets and distances (no tfjs, no networks). */
import {
  accuracyFromMisses,
  accuracyStats,
  type MissSet,
  maxIouToReference,
  mean,
  meanPairwiseIou,
} from './metrics.js';
import { type LossPoint, type Report, reportSchema } from './report-schema.js';

export interface ReportParts {
  datasetName: string;
  testSize: number;
  spec?: unknown;
  origMisses: readonly MissSet[];
  genMisses: readonly MissSet[];
  noise: Report['noise'];
  nearestOriginal: Report['nearestOriginal'];
  /** Per original, L2 to its nearest other original; null with fewer than 2. */
  originalSpacing: number[] | null;
  suspiciousMargin?: number;
  evaluateSeconds?: number;
  /** Training loss curve; points with a non-finite step or loss are dropped, the rest sorted by step. */
  trainingLoss?: readonly LossPoint[] | undefined;
  stageSeconds?: Record<string, number> | undefined;
  title?: string | undefined;
  notes?: readonly string[] | undefined;
  config?: unknown;
}

/** A per-step loss list (e.g. a trainer's `lossHistory`, step `firstStep` first) as loss-curve points. */
export function lossCurve(history: readonly (number | null)[], firstStep = 1): LossPoint[] {
  const out: LossPoint[] = [];
  history.forEach((loss, i) => {
    if (loss !== null && Number.isFinite(loss)) out.push({ step: firstStep + i, loss });
  });
  return out;
}

function cleanLoss(points: readonly LossPoint[]): LossPoint[] {
  return points
    .filter((p) => Number.isFinite(p.step) && p.step >= 0 && Number.isFinite(p.loss))
    .map((p) => ({ step: p.step, loss: p.loss }))
    .sort((a, b) => a.step - b.step);
}

/** Pure assembly of a report from misclassification sets and distances (validated against `reportSchema`). */
export function buildReport(parts: ReportParts): Report {
  const { origMisses, genMisses, testSize } = parts;
  const origAcc = origMisses.map((m) => accuracyFromMisses(m, testSize));
  const genAcc = genMisses.map((m) => accuracyFromMisses(m, testSize));
  const o = accuracyStats(origAcc);
  const g = accuracyStats(genAcc);
  const perModel = genMisses.map((m, index) => {
    const best = maxIouToReference(m, origMisses);
    return { index, maxIouToOriginal: best.iou, closestOriginal: best.index };
  });
  const margin = parts.suspiciousMargin ?? 0.5;
  const spacing = parts.originalSpacing;
  const report: Report = {
    schemaVersion: 1,
    createdAt: new Date().toISOString(),
    ...(parts.title === undefined ? {} : { title: parts.title }),
    ...(parts.notes && parts.notes.length > 0 ? { notes: [...parts.notes] } : {}),
    dataset: { name: parts.datasetName, testSize },
    ...(parts.spec === undefined ? {} : { network: parts.spec }),
    originals: {
      ...o,
      all: origAcc,
      maxIouToOther:
        origMisses.length >= 2 ? origMisses.map((m, i) => maxIouToReference(m, origMisses, i).iou) : null,
    },
    generated: { best: g.max, avg: g.avg, min: g.min, std: g.std, count: g.count, all: genAcc },
    iou: {
      originalOriginal: meanPairwiseIou(origMisses),
      generatedGenerated: meanPairwiseIou(genMisses),
      generatedMaxToOriginal: mean(perModel.map((p) => p.maxIouToOriginal))!,
      perModel,
    },
    noise: parts.noise,
    nearestOriginal: parts.nearestOriginal,
    originalSpacing: spacing
      ? { min: Math.min(...spacing), avg: mean(spacing)!, max: Math.max(...spacing) }
      : null,
    suspicious: g.max > o.max + margin,
    suspiciousMargin: margin,
    evaluateSeconds: parts.evaluateSeconds ?? 0,
    ...(parts.trainingLoss ? { trainingLoss: cleanLoss(parts.trainingLoss) } : {}),
    ...(parts.stageSeconds ? { stageSeconds: parts.stageSeconds } : {}),
    ...(parts.config === undefined ? {} : { config: parts.config }),
  };
  return reportSchema.parse(report);
}
