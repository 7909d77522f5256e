/**
 * Assembly of a report from the user command's scores: the metric for originals, generated models and noise
 * baselines; the misclassification-IoU figures when every model came with predictions; weight-space distances
 * always. Pure (no tfjs, no processes).
 */
import type { CommandScore } from './command-evaluate.js';
import { EvaluateCommandError } from './command-evaluate.js';
import { type AnyReport, anyReportSchema } from './command-report-schema.js';
import {
  accuracyStats,
  type MissSet,
  maxIouToReference,
  mean,
  meanPairwiseIou,
  misclassified,
} from './metrics.js';
import type { LossPoint } from './report-schema.js';

export interface CommandReportParts {
  metric: string;
  originals: readonly CommandScore[];
  /** Scored generated models, with their index among all generated models. */
  generated: readonly { index: number; score: CommandScore }[];
  noise: readonly {
    sigma: number;
    models: readonly { source: number; score: CommandScore; nearestL2: number }[];
  }[];
  nearestOriginal: AnyReport['nearestOriginal'];
  originalSpacing: number[] | null;
  nonFinite?: AnyReport['nonFinite'];
  notes: readonly string[];
  suspiciousMargin?: number;
  evaluateSeconds: number;
  trainingLoss?: readonly LossPoint[] | undefined;
  stageSeconds?: Record<string, number> | undefined;
  title?: string | undefined;
  config?: unknown;
}

const pct = (s: CommandScore) => 100 * s.value;

/** Misclassification sets of all models, or null unless every model printed predictions and labels. */
function missSets(all: readonly CommandScore[]): MissSet[] | null {
  if (!all.every((s) => s.predictions && s.labels)) return null;
  const labels = all[0]!.labels!;
  for (const s of all) {
    if (s.labels!.length !== labels.length || s.labels!.some((l, i) => l !== labels[i]))
      throw new EvaluateCommandError(
        'evaluate.command printed different "labels" for different models: every model must be scored on the same test samples',
      );
  }
  return all.map((s) => misclassified(s.predictions!, labels));
}

export function buildCommandReport(parts: CommandReportParts): AnyReport {
  const orig = parts.originals;
  const gen = parts.generated.map((g) => g.score);
  const noiseScores = parts.noise.flatMap((n) => n.models.map((m) => m.score));
  const misses = missSets([...orig, ...gen, ...noiseScores]);
  const origMisses = misses?.slice(0, orig.length);
  const genMisses = misses?.slice(orig.length, orig.length + gen.length);
  let offset = orig.length + gen.length;
  const o = accuracyStats(orig.map(pct));
  const g = accuracyStats(gen.map(pct));
  const perModel = genMisses?.map((m, k) => {
    const best = maxIouToReference(m, origMisses!);
    return { index: parts.generated[k]!.index, maxIouToOriginal: best.iou, closestOriginal: best.index };
  });
  const noise: AnyReport['noise'] = parts.noise.map((n) => {
    const models = n.models.map((m) => {
      const miss = misses?.[offset++];
      return {
        source: m.source,
        accuracy: pct(m.score),
        ...(miss && origMisses ? { maxIouToOriginal: maxIouToReference(miss, origMisses).iou } : {}),
        nearestL2: m.nearestL2,
      };
    });
    const ious = models.flatMap((m) => (m.maxIouToOriginal === undefined ? [] : [m.maxIouToOriginal]));
    return {
      sigma: n.sigma,
      accuracy: accuracyStats(models.map((m) => m.accuracy)),
      all: models.map((m) => m.accuracy),
      ...(ious.length > 0 ? { maxIouToOriginal: mean(ious)! } : {}),
      perModel: models,
    };
  });
  const testSize = misses ? orig[0]!.labels!.length : undefined;
  const margin = parts.suspiciousMargin ?? 0.5;
  const spacing = parts.originalSpacing;
  const notes = [
    ...parts.notes,
    ...(misses
      ? []
      : [
          'evaluate.command printed no "predictions" and "labels" for every model: the IoU figures are left out.',
        ]),
  ];
  const report: AnyReport = {
    schemaVersion: 1,
    createdAt: new Date().toISOString(),
    ...(parts.title === undefined ? {} : { title: parts.title }),
    ...(notes.length > 0 ? { notes } : {}),
    metric: parts.metric,
    dataset: { name: orig[0]!.dataset ?? 'evaluate.command', ...(testSize ? { testSize } : {}) },
    originals: {
      ...o,
      all: orig.map(pct),
      maxIouToOther:
        origMisses && origMisses.length >= 2
          ? origMisses.map((m, i) => maxIouToReference(m, origMisses, i).iou)
          : null,
    },
    generated: { best: g.max, avg: g.avg, min: g.min, std: g.std, count: g.count, all: gen.map(pct) },
    ...(origMisses && genMisses && perModel
      ? {
          iou: {
            originalOriginal: meanPairwiseIou(origMisses),
            generatedGenerated: meanPairwiseIou(genMisses),
            generatedMaxToOriginal: mean(perModel.map((p) => p.maxIouToOriginal))!,
            perModel,
          },
        }
      : {}),
    noise,
    nearestOriginal: parts.nearestOriginal,
    ...(parts.nonFinite && parts.nonFinite.length > 0 ? { nonFinite: parts.nonFinite } : {}),
    originalSpacing: spacing
      ? { min: Math.min(...spacing), avg: mean(spacing)!, max: Math.max(...spacing) }
      : null,
    suspicious: g.max > o.max + margin,
    suspiciousMargin: margin,
    evaluateSeconds: parts.evaluateSeconds,
    ...(parts.trainingLoss ? { trainingLoss: [...parts.trainingLoss] } : {}),
    ...(parts.stageSeconds ? { stageSeconds: parts.stageSeconds } : {}),
    ...(parts.config === undefined ? {} : { config: parts.config }),
  };
  return anyReportSchema.parse(report);
}
