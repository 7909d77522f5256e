import type { AnyReport } from '@rpg/evaluator';

const f = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined ? '-' : v.toFixed(digits);

/** A few lines for the terminal: accuracies, novelty and the noise baselines. */
export function summarizeReport(r: AnyReport): string {
  const lines = [
    `originals  max/avg/min  ${f(r.originals.max)} / ${f(r.originals.avg)} / ${f(r.originals.min)}  (${r.originals.count})`,
    `generated best/avg/min  ${f(r.generated.best)} / ${f(r.generated.avg)} / ${f(r.generated.min)}  (${r.generated.count})`,
    `IoU  original-original ${f(r.iou?.originalOriginal, 3)}  generated-generated ${f(r.iou?.generatedGenerated, 3)}  generated max-to-original ${f(r.iou?.generatedMaxToOriginal, 3)}`,
    ...r.noise.map(
      (n) =>
        `noise sigma=${n.sigma}  acc avg ${f(n.accuracy.avg)}  max-IoU-to-original ${f(n.maxIouToOriginal, 3)}`,
    ),
  ];
  // The verdict last, where the eye lands at the end of a run.
  if (r.verdictLine) lines.push(r.verdictLine);
  return lines.join('\n');
}
