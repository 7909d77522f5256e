import { accuracyTargets, type Report } from '@rpg/evaluator';

const r2 = (v: number) => Math.round(v * 100) / 100;
const r4 = (v: number) => Math.round(v * 10000) / 10000;

function meanOrNull(values: (number | null)[]): number | null {
  const finite = values.filter((v): v is number => v !== null);
  return finite.length ? r4(finite.reduce((a, b) => a + b, 0) / finite.length) : null;
}

/** The benchmark's figures from a report, with the three quality targets checked. */
export function qualityFigures(r: Report) {
  const sigma05 = r.noise.find((n) => Math.abs(n.sigma - 0.05) < 1e-9);
  const targets = {
    ...accuracyTargets(r),
    maxIouBelowSigma005: sigma05 ? r.iou.generatedMaxToOriginal < sigma05.maxIouToOriginal : null,
  };
  return {
    originals: {
      max: r2(r.originals.max),
      avg: r2(r.originals.avg),
      min: r2(r.originals.min),
      count: r.originals.count,
    },
    generated: {
      best: r2(r.generated.best),
      avg: r2(r.generated.avg),
      min: r2(r.generated.min),
      count: r.generated.count,
    },
    iou: {
      originalOriginal: r.iou.originalOriginal === null ? null : r4(r.iou.originalOriginal),
      generatedGenerated: r.iou.generatedGenerated === null ? null : r4(r.iou.generatedGenerated),
      generatedMaxToOriginal: r4(r.iou.generatedMaxToOriginal),
    },
    noise: r.noise.map((n) => ({
      sigma: n.sigma,
      accAvg: r2(n.accuracy.avg),
      maxIouToOriginal: r4(n.maxIouToOriginal),
    })),
    nearestL2: meanOrNull(r.nearestOriginal.map((n) => n.distance)),
    targets,
    targetsMet: Object.values(targets).every((v) => v === true),
  };
}
