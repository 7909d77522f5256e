/** The report's novelty reading and IoU table: where the generated models sit among the noise baselines. */
import type { AnyReport as Report } from './command-report-schema.js';
import { esc } from './svg-plot.js';

export const fmtIou = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(3));

/** One sentence placing the generated models' novelty among the noise baselines. */
export function noveltyReading(report: Report): string {
  if (!report.iou)
    return 'No novelty reading: the IoU figures need per-sample predictions from evaluate.command.';
  const g = report.iou.generatedMaxToOriginal;
  const base = [...report.noise]
    .sort((a, b) => a.sigma - b.sigma)
    .map((n) => ({ ...n, maxIouToOriginal: n.maxIouToOriginal ?? 0 }));
  const head = `Generated models' mean max-IoU to an original is ${fmtIou(g)}`;
  if (base.length === 0) return `${head} (no noise baselines were computed).`;
  const desc = (n: (typeof base)[number]) => `σ=${n.sigma} noise (${fmtIou(n.maxIouToOriginal)})`;
  const first = base[0]!;
  const last = base[base.length - 1]!;
  if (g >= first.maxIouToOriginal) {
    return `${head}, at or above ${desc(first)}: the generated models make the same mistakes as the training checkpoints — near copies.`;
  }
  if (g < last.maxIouToOriginal) {
    return `${head}, below ${desc(last)}: more different from the originals than the strongest noise baseline.`;
  }
  for (let i = 0; i + 1 < base.length; i++) {
    const a = base[i]!;
    const b = base[i + 1]!;
    if (g < a.maxIouToOriginal && g >= b.maxIouToOriginal)
      return `${head}, between ${desc(a)} and ${desc(b)}.`;
  }
  return `${head}.`;
}

export function iouTable(report: Report): string {
  if (!report.iou)
    return '<p class="note">Left out: evaluate.command printed no per-sample predictions and labels.</p>';
  const rows: [string, number | null | undefined][] = [
    ['original – original (mean over pairs)', report.iou.originalOriginal],
    ['generated – generated (mean over pairs)', report.iou.generatedGenerated],
    ['generated → nearest original (mean of max)', report.iou.generatedMaxToOriginal],
    ...report.noise.map((n): [string, number | undefined] => [
      `noise σ=${n.sigma} → nearest original (mean of max)`,
      n.maxIouToOriginal,
    ]),
  ];
  return `<table class="iou"><tbody>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${fmtIou(v)}</td></tr>`).join('')}</tbody></table>`;
}
