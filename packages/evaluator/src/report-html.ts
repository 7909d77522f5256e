/**
 * Renders a {@link Report} as ONE self-contained HTML page: inline CSS, inline SVG plots drawn here, no scripts,
 * fonts or anything else fetched from elsewhere, so the file can be mailed, archived or opened offline.
 */
import { type AnyReport as Report, anyReportSchema as reportSchema } from './command-report-schema.js';
import { mean } from './metrics.js';
import { writeReportFiles } from './report-files.js';
import { fmtIou, iouTable, noveltyReading } from './report-novelty.js';
import type { LossPoint } from './report-schema.js';
import {
  esc,
  type Frame,
  jitter,
  linearScale,
  logScale,
  marker,
  px,
  type Scale,
  svgOpen,
  xAxis,
  yAxis,
} from './svg-plot.js';
import { verdictBanner } from './verdict-html.js';

const COLORS = {
  original: '#1f6fb4',
  generated: '#d62728',
  noise: ['#2ca02c', '#ff9f1a', '#9467bd', '#8c564b', '#17becf', '#7f7f7f'],
};

const noiseColor = (i: number) => COLORS.noise[i % COLORS.noise.length]!;
const fmtAcc = (v: number) => v.toFixed(2);
const fmtL2 = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toPrecision(4));
/** Seconds as `12.3 s`, or minutes from two minutes on. */
export const fmtSec = (v: number) => (v >= 120 ? `${(v / 60).toFixed(1)} min` : `${v.toFixed(1)} s`);

interface Group {
  label: string;
  color: string;
  accuracies: number[];
  /** Max IoU to originals, aligned with accuracies; null where undefined. */
  ious: (number | null)[];
  hollow?: boolean;
}

function groups(report: Report): Group[] {
  const out: Group[] = [
    {
      label: `originals (${report.originals.count})`,
      color: COLORS.original,
      accuracies: report.originals.all,
      ious: report.originals.all.map((_, i) => report.originals.maxIouToOther?.[i] ?? null),
      hollow: true,
    },
    {
      label: `generated (${report.generated.count})`,
      color: COLORS.generated,
      accuracies: report.generated.all,
      ious: report.generated.all.map((_, i) => report.iou?.perModel[i]?.maxIouToOriginal ?? null),
    },
  ];
  report.noise.forEach((n, k) => {
    out.push({
      label: `noise σ=${n.sigma} (${n.all.length})`,
      color: noiseColor(k),
      accuracies: n.all,
      ious: n.perModel.map((p) => p.maxIouToOriginal ?? null),
    });
  });
  return out;
}

/**
 * The accuracy axis range. Broken samples (far below every original) would squeeze the interesting region into a
 * few pixels, so the axis stops at `originals.min − max(5, 10 × originals' spread)` and lower values are drawn
 * as clipped markers at the edge, with their count.
 */
export function accuracyRange(report: Report): { lo: number; hi: number } {
  const all = groups(report).flatMap((g) => g.accuracies);
  const hi = Math.max(...all);
  const o = report.originals;
  const floor = o.min - Math.max(5, 10 * (o.max - o.min));
  return { lo: Math.max(Math.min(...all), floor), hi };
}

function stripPlot(report: Report): string {
  const gs = groups(report);
  const rowH = 46;
  const frame: Frame = { width: 960, height: 0, left: 180, right: 24, top: 12, bottom: 46 };
  frame.height = frame.top + rowH * gs.length + frame.bottom;
  const { lo, hi } = accuracyRange(report);
  const x = linearScale(lo, hi, frame.left, frame.width - frame.right, 8);
  const parts = [svgOpen(frame, 'Test accuracy of originals, generated models and noise baselines')];
  parts.push(xAxis(frame, x, 'test accuracy (%)'));
  gs.forEach((g, r) => {
    const cy = frame.top + rowH * r + rowH / 2;
    if (r % 2 === 0) {
      parts.push(
        `<rect x="${frame.left}" y="${frame.top + rowH * r}" width="${frame.width - frame.left - frame.right}" height="${rowH}" fill="#f4f6f8"/>`,
      );
    }
    const hasClipped = g.accuracies.some((a) => a < x.domain[0]);
    parts.push(
      `<text class="rowlabel" x="8" y="${px(hasClipped ? cy - 6 : cy)}" dy="0.32em" fill="${g.color}">${esc(g.label)}</text>`,
    );
    let clipped = 0;
    g.accuracies.forEach((a, i) => {
      if (a < x.domain[0]) {
        clipped++;
        return;
      }
      const tip = `${g.label.split(' (')[0]} #${i}: ${fmtAcc(a)}%`;
      parts.push(marker(g.hollow ? 'ring' : 'dot', x(a), cy + jitter(i) * 13, 4, g.color, tip));
    });
    if (clipped > 0) {
      parts.push(
        marker('left', frame.left + 8, cy, 6, g.color, `${clipped} below ${x.format(x.domain[0])}%`),
        `<text class="note" x="8" y="${px(cy + 15)}">◀ ${clipped} below ${esc(x.format(x.domain[0]))}%</text>`,
      );
    }
    const m = mean(g.accuracies)!;
    if (m >= x.domain[0]) {
      parts.push(
        `<line x1="${px(x(m))}" y1="${px(cy - 18)}" x2="${px(x(m))}" y2="${px(cy + 18)}" stroke="#222" stroke-width="2"><title>mean ${fmtAcc(m)}%</title></line>`,
      );
    }
  });
  parts.push('</svg>');
  return parts.join('');
}

function frontierPlot(report: Report): string {
  const gs = groups(report);
  const frame: Frame = { width: 960, height: 500, left: 70, right: 190, top: 16, bottom: 50 };
  const ious = gs.flatMap((g) => g.ious).filter((v): v is number => v !== null);
  const { lo, hi } = accuracyRange(report);
  const x = linearScale(Math.min(...ious), Math.max(...ious, 1), frame.left, frame.width - frame.right, 8);
  const y = linearScale(lo, hi, frame.height - frame.bottom, frame.top, 8);
  const parts = [svgOpen(frame, 'Accuracy versus max IoU to the originals (novelty frontier)')];
  parts.push(
    xAxis(frame, x, 'max IoU of misclassified test samples to any original (lower = more novel)'),
    yAxis(frame, y, 'test accuracy (%)'),
  );
  // Draw noise first, then originals, then generated on top.
  const order = [...gs.slice(2), gs[0]!, gs[1]!];
  for (const g of order) {
    g.accuracies.forEach((a, i) => {
      const v = g.ious[i];
      if (v === null || v === undefined) return;
      const tip = `${g.label.split(' (')[0]} #${i}: ${fmtAcc(a)}%, max IoU ${fmtIou(v)}`;
      if (a < y.domain[0]) {
        parts.push(marker('down', x(v), frame.height - frame.bottom - 6, 5, g.color, `${tip} (below axis)`));
      } else {
        parts.push(marker(g.hollow ? 'ring' : 'dot', x(v), y(a), g.hollow ? 4.5 : 4, g.color, tip));
      }
    });
  }
  // Legend in the right margin.
  const lx = frame.width - frame.right + 18;
  gs.forEach((g, k) => {
    const ly = frame.top + 14 + k * 22;
    parts.push(
      marker(g.hollow ? 'ring' : 'dot', lx, ly, 5, g.color),
      `<text class="tick" x="${lx + 12}" y="${ly}" dy="0.32em">${esc(g.label)}</text>`,
    );
  });
  const ly = frame.top + 14 + gs.length * 22 + 8;
  parts.push(
    marker('down', lx, ly, 5, '#555'),
    `<text class="tick" x="${lx + 12}" y="${ly}" dy="0.32em">below the accuracy axis</text>`,
  );
  if (report.originals.maxIouToOther) {
    parts.push(
      `<text class="note" x="${lx - 6}" y="${ly + 26}">originals: IoU to the</text>`,
      `<text class="note" x="${lx - 6}" y="${ly + 40}">nearest OTHER original</text>`,
    );
  }
  parts.push('</svg>');
  return parts.join('');
}

/**
 * At most `maxPoints` points: consecutive points (steps ascending) are grouped into equal buckets and each
 * bucket drawn at its mean step and mean loss over its positive finite losses (a log axis needs loss > 0), so a
 * 30k-step curve draws as ≤ 600 points.
 */
export function downsampleLoss(points: readonly LossPoint[], maxPoints = 600): LossPoint[] {
  const good = points.filter((p) => Number.isFinite(p.step) && Number.isFinite(p.loss) && p.loss > 0);
  const buckets = Math.min(maxPoints, good.length);
  const out: LossPoint[] = [];
  for (let b = 0; b < buckets; b++) {
    const s = Math.floor((b * good.length) / buckets);
    const e = Math.floor(((b + 1) * good.length) / buckets);
    let step = 0;
    let loss = 0;
    for (let i = s; i < e; i++) {
      step += good[i]!.step;
      loss += good[i]!.loss;
    }
    out.push({ step: step / (e - s), loss: loss / (e - s) });
  }
  return out;
}

function lossPlot(curve: readonly LossPoint[]): string {
  const pts = downsampleLoss(curve);
  const frame: Frame = { width: 960, height: 340, left: 70, right: 24, top: 16, bottom: 50 };
  if (pts.length === 0)
    return '<p class="note">The training loss curve has no positive finite values to plot.</p>';
  const losses = pts.map((p) => p.loss);
  const x = linearScale(
    Math.min(0, pts[0]!.step),
    pts[pts.length - 1]!.step,
    frame.left,
    frame.width - frame.right,
    10,
  );
  const y: Scale = logScale(Math.min(...losses), Math.max(...losses), frame.height - frame.bottom, frame.top);
  const line = (ps: LossPoint[]) =>
    ps.map((p, i) => `${i === 0 ? 'M' : 'L'}${px(x(p.step))} ${px(y(p.loss))}`).join('');
  // Exponential moving average over the buckets (span ≈ 1/25 of the curve) for the trend.
  const alpha = 2 / (Math.max(2, pts.length / 25) + 1);
  let ema = pts[0]!.loss;
  const smooth = pts.map((p) => {
    ema = alpha * p.loss + (1 - alpha) * ema;
    return { step: p.step, loss: ema };
  });
  const last = curve[curve.length - 1]!;
  return [
    svgOpen(frame, 'Training loss of the generator (log scale)'),
    xAxis(frame, x, 'training step'),
    yAxis(frame, y, 'loss (log scale)'),
    `<path d="${line(pts)}" fill="none" stroke="#9bb8d8" stroke-width="1"/>`,
    `<path d="${line(smooth)}" fill="none" stroke="#1f4f84" stroke-width="2"><title>moving average; last step ${last.step}: loss ${last.loss.toPrecision(4)}</title></path>`,
    '</svg>',
    `<p class="note">${curve.length} recorded steps${curve.length > pts.length ? `, drawn as ${pts.length} bucket means` : ''}; thin line: raw, thick: moving average. Final loss ${esc(last.loss.toPrecision(4))} at step ${last.step}.</p>`,
  ].join('');
}

function summaryTable(report: Report): string {
  const o = report.originals;
  const g = report.generated;
  const genL2 = mean(report.nearestOriginal.flatMap((n) => (n.distance === null ? [] : [n.distance])));
  const rows = [
    `<tr class="orig"><th>originals</th><td>${o.count}</td><td>${fmtAcc(o.max)}</td><td>${fmtAcc(o.avg)}</td><td>${fmtAcc(o.min)}</td><td>${o.std.toFixed(2)}</td><td>${fmtIou(o.maxIouToOther ? mean(o.maxIouToOther) : null)}*</td><td>${fmtL2(report.originalSpacing?.avg)}*</td></tr>`,
    `<tr class="gen"><th>generated</th><td>${g.count}</td><td>${fmtAcc(g.best)}</td><td>${fmtAcc(g.avg)}</td><td>${fmtAcc(g.min)}</td><td>${g.std.toFixed(2)}</td><td>${fmtIou(report.iou?.generatedMaxToOriginal)}</td><td>${fmtL2(genL2)}</td></tr>`,
    ...report.noise.map(
      (n) =>
        `<tr><th>originals + noise σ=${n.sigma}</th><td>${n.accuracy.count}</td><td>${fmtAcc(n.accuracy.max)}</td><td>${fmtAcc(n.accuracy.avg)}</td><td>${fmtAcc(n.accuracy.min)}</td><td>${n.accuracy.std.toFixed(2)}</td><td>${fmtIou(n.maxIouToOriginal)}</td><td>${fmtL2(mean(n.perModel.map((p) => p.nearestL2)))}</td></tr>`,
    ),
  ];
  return `<table class="summary"><thead><tr><th></th><th>n</th><th>max / best</th><th>avg</th><th>min</th><th>std</th><th>mean max-IoU to originals</th><th>mean L2 to nearest original</th></tr></thead><tbody>${rows.join('')}</tbody></table>
<p class="note">${report.metric ? `${esc(report.metric)} (from evaluate.command) in %` : 'Accuracy in %'} on ${report.dataset.testSize ?? 'the'} test samples of ${esc(report.dataset.name)}. IoU: |A∩B|/|A∪B| of the misclassified test samples (two empty sets count as 1). L2 over the generated tensors, raw parameters. * For originals: to the nearest <em>other</em> original.</p>`;
}

function perModelTable(report: Report): string {
  const rows = report.generated.all.map((acc, i) => {
    const iou = report.iou?.perModel[i];
    const near = report.nearestOriginal[i];
    return `<tr><td>${near?.index ?? i}</td><td>${fmtAcc(acc)}</td><td>${fmtIou(iou?.maxIouToOriginal)}</td><td>${iou?.closestOriginal ?? '–'}</td><td>${fmtL2(near?.distance)}</td><td>${near?.original ?? '–'}</td></tr>`;
  });
  for (const m of report.nonFinite ?? []) {
    const tensors = m.tensors.map((t) => `${t.name} (${t.count})`).join(', ');
    rows.push(
      `<tr><td>${m.index}</td><td colspan="5">non-finite parameters, not scored: ${esc(tensors)}</td></tr>`,
    );
  }
  return `<table class="models"><thead><tr><th>generated #</th><th>accuracy</th><th>max IoU to an original</th><th>that original</th><th>L2 to nearest original</th><th>that original</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** Seconds per pipeline stage, with each stage's share of the total. */
export function stageTable(stageSeconds: Record<string, number>): string {
  const entries = Object.entries(stageSeconds);
  const total = entries.reduce((sum, [, v]) => sum + v, 0);
  const rows = entries.map(
    ([k, v]) =>
      `<tr><th>${esc(k)}</th><td>${fmtSec(v)}</td><td>${total > 0 ? ((100 * v) / total).toFixed(0) : '–'}%</td></tr>`,
  );
  rows.push(`<tr><th>total</th><td>${fmtSec(total)}</td><td></td></tr>`);
  return `<table class="iou"><tbody>${rows.join('')}</tbody></table>`;
}

/** The report pages' style sheet (shared by the per-task report). */
export const REPORT_CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif;margin:24px auto;max-width:1000px;color:#1b1f23;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde1e6;padding-bottom:4px}
.meta,.note{color:#586069;font-size:12.5px}
table{border-collapse:collapse;font-size:13.5px;margin:6px 0}
th,td{padding:4px 10px;border-bottom:1px solid #e6e9ed;text-align:right}
th:first-child{text-align:left}thead th{background:#f4f6f8;font-weight:600}
tr.orig th{color:${COLORS.original}}tr.gen th{color:${COLORS.generated}}
table.models{font-size:12.5px}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-size:14px}
.banner.warn{background:#fff3cd;border:1px solid #e0b400}.banner.info{background:#eef5fc;border:1px solid #b6d0ea}
.banner ul{margin:4px 0 0 18px;padding:0}
svg{display:block;margin:6px 0}
svg .axis{stroke:#444;stroke-width:1}svg .grid{stroke:#e3e6ea;stroke-width:1}
svg text{font-family:inherit}svg .tick{font-size:11.5px;fill:#444}svg .label{font-size:12.5px;fill:#222}
svg .rowlabel{font-size:13px;font-weight:600}svg .note{font-size:11px;fill:#666}
pre{background:#f6f8fa;padding:10px;font-size:12px;overflow:auto;border-radius:4px}
`;

/** The report as one self-contained HTML document. */
export function renderReportHtml(input: Report): string {
  const report = reportSchema.parse(input);
  const o = report.originals;
  const g = report.generated;
  const warn = report.suspicious
    ? `<div class="banner warn"><strong>Suspicious:</strong> the best generated model (${fmtAcc(g.best)}%) beats the best original (${fmtAcc(o.max)}%) by more than ${report.suspiciousMargin} points. That is not a win to claim: check that the test split was not used in training or checkpoint selection.</div>`
    : '';
  const notes = report.notes?.length
    ? `<div class="banner warn"><strong>Notes:</strong><ul>${report.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul></div>`
    : '';
  const sections = [
    `<h1>${esc(report.title ?? 'RPG evaluation report')}</h1>`,
    `<div class="meta">${esc(report.dataset.name)} · ${report.dataset.testSize ?? '?'} test samples · ${o.count} originals · ${g.count} generated${report.nonFinite?.length ? ` (and ${report.nonFinite.length} with NaN/Inf parameters, not scored)` : ''} · created ${esc(report.createdAt)} · evaluation took ${fmtSec(report.evaluateSeconds)}</div>`,
    verdictBanner(report),
    warn,
    notes,
    `<div class="banner info">Generated best / avg / min: <strong>${fmtAcc(g.best)} / ${fmtAcc(g.avg)} / ${fmtAcc(g.min)}</strong> — originals max / avg / min: <strong>${fmtAcc(o.max)} / ${fmtAcc(o.avg)} / ${fmtAcc(o.min)}</strong>.<br>${esc(noveltyReading(report))}</div>`,
    `<h2>Summary</h2>`,
    summaryTable(report),
    `<h2>Accuracy distribution</h2>`,
    `<p class="note">One marker per model; black bar = mean. Hollow = originals.</p>`,
    stripPlot(report),
    `<h2>Novelty frontier: accuracy vs. max IoU to the originals</h2>`,
    `<p class="note">Up is more accurate, left makes different mistakes from every original. Near copies sit at the top right with the σ=0.01 noise.</p>`,
    report.iou ? frontierPlot(report) : '',
    `<h2>IoU of misclassification sets</h2>`,
    iouTable(report),
  ];
  if (report.trainingLoss && report.trainingLoss.length > 0) {
    sections.push(`<h2>Training loss</h2>`, lossPlot(report.trainingLoss));
  }
  sections.push(`<h2>Generated models</h2>`, perModelTable(report));
  if (report.stageSeconds && Object.keys(report.stageSeconds).length > 0) {
    sections.push(`<h2>Stage times</h2>`, stageTable(report.stageSeconds));
  }
  if (report.network !== undefined) {
    sections.push(`<h2>Network</h2>`, `<pre>${esc(JSON.stringify(report.network, null, 2))}</pre>`);
  }
  if (report.config !== undefined) {
    sections.push(`<h2>Configuration</h2>`, `<pre>${esc(JSON.stringify(report.config, null, 2))}</pre>`);
  }
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(report.title ?? 'RPG evaluation report')} — ${esc(report.dataset.name)}</title><style>${REPORT_CSS}</style></head>
<body>
${sections.filter(Boolean).join('\n')}
</body></html>
`;
}

/** Writes `report.json` and `report.html` into `dir` (created if needed); returns their paths. */
export async function writeReport(dir: string, report: Report): Promise<{ json: string; html: string }> {
  return writeReportFiles(dir, reportSchema, report, renderReportHtml);
}

export { noveltyReading } from './report-novelty.js';
