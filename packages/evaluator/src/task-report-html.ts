/**
 * The per-task report as one self-contained HTML page (inline CSS and SVG, nothing fetched): a summary per split,
 * a plot of generated vs. trained accuracy per task, and the per-task table.
 */
import { subsetBits } from '@rpg/task-embedding';
import { writeReportFiles } from './report-files.js';
import { fmtSec, REPORT_CSS, stageTable } from './report-html.js';
import { esc, type Frame, linearScale, marker, px, svgOpen, xAxis, yAxis } from './svg-plot.js';
import { type SplitSummary, type TaskReport, type TaskRow, taskReportSchema } from './task-report-schema.js';
import { verdictBanner } from './verdict-html.js';

const COLORS = { unseen: '#d62728', seen: '#1f6fb4', ablation: '#8c8c8c' };
const f2 = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(2));

function taskLabel(row: TaskRow): string {
  return row.task.kind === 'class-subset'
    ? `${subsetBits(row.task)} {${row.task.positive.join(',')}}`
    : row.id;
}

function summaryTable(report: TaskReport): string {
  const line = (name: string, s: SplitSummary | undefined, cls: string) =>
    s
      ? `<tr class="${cls}"><th>${name}</th><td>${s.tasks}</td><td>${f2(s.originalAvg)}</td><td>${f2(s.scratchAvg)}</td><td>${f2(s.generatedAvg)}</td><td>${f2(s.generatedBest)}</td><td>${f2(s.generatedWorstTask)}</td><td><strong>${(100 * s.ratio).toFixed(1)}%</strong></td><td>${f2(s.ablationAvg)}</td><td>${f2(s.chanceAvg)}</td></tr>`
      : '';
  return `<table><thead><tr><th>tasks</th><th>count</th><th>trained avg</th><th>from scratch avg</th><th>generated avg</th><th>generated best (mean)</th><th>worst task (generated avg)</th><th>generated / trained</th><th>no task embedding avg</th><th>majority label avg</th></tr></thead><tbody>${line('unseen', report.summary.unseen, 'gen')}${line('seen', report.summary.seen, 'orig')}</tbody></table>`;
}

/** Generated vs. trained accuracy, one point per task; the ablation's points hang below the same x. */
function taskPlot(report: TaskReport): string {
  const frame: Frame = { width: 960, height: 520, left: 70, right: 200, top: 16, bottom: 50 };
  const rows = report.tasks;
  const xs = rows.map((r) => r.original.avg);
  const ys = rows.flatMap((r) => [r.generated.avg, ...(r.ablation ? [r.ablation.avg] : [])]);
  const lo = Math.min(...xs, ...ys);
  const x = linearScale(Math.min(...xs), 100, frame.left, frame.width - frame.right, 8);
  const y = linearScale(lo, 100, frame.height - frame.bottom, frame.top, 8);
  const parts = [svgOpen(frame, 'Generated versus trained accuracy per task')];
  parts.push(
    xAxis(frame, x, 'trained networks, mean test accuracy on the task (%)'),
    yAxis(frame, y, 'generated, mean test accuracy (%)'),
  );
  // Reference lines y = x and y = 0.93·x over the x range.
  const [x0, x1] = x.domain;
  const line = (k: number, dash: string, tip: string) =>
    `<line x1="${px(x(x0))}" y1="${px(y(Math.max(k * x0, y.domain[0])))}" x2="${px(x(x1))}" y2="${px(y(Math.max(k * x1, y.domain[0])))}" stroke="#444" stroke-width="1" stroke-dasharray="${dash}"><title>${tip}</title></line>`;
  parts.push(line(1, '4 3', 'generated = trained'), line(0.93, '1 3', 'generated = 93% of trained'));
  for (const r of rows) {
    const tip = `${r.split} ${taskLabel(r)}: trained ${f2(r.original.avg)}%`;
    if (r.ablation) {
      parts.push(
        marker(
          'down',
          x(r.original.avg),
          y(r.ablation.avg),
          4,
          COLORS.ablation,
          `${tip}, no task embedding ${f2(r.ablation.avg)}%`,
        ),
      );
    }
    parts.push(
      marker(
        r.split === 'unseen' ? 'dot' : 'ring',
        x(r.original.avg),
        y(r.generated.avg),
        4.5,
        COLORS[r.split],
        `${tip}, generated ${f2(r.generated.avg)}% (best ${f2(r.generated.best)}%)`,
      ),
    );
  }
  const lx = frame.width - frame.right + 18;
  const legend: [Parameters<typeof marker>[0], string, string][] = [
    ['dot', COLORS.unseen, 'unseen task'],
    ['ring', COLORS.seen, 'seen task'],
    ['down', COLORS.ablation, 'no task embedding'],
  ];
  legend.forEach(([shape, color, label], k) => {
    const ly = frame.top + 14 + k * 22;
    parts.push(
      marker(shape, lx, ly, 5, color),
      `<text class="tick" x="${lx + 12}" y="${ly}" dy="0.32em">${esc(label)}</text>`,
    );
  });
  const ly = frame.top + 14 + legend.length * 22 + 10;
  parts.push(
    `<text class="note" x="${lx - 6}" y="${ly}">dashed: generated = trained</text>`,
    `<text class="note" x="${lx - 6}" y="${ly + 14}">dotted: 93% of trained</text>`,
    '</svg>',
  );
  return parts.join('');
}

function taskTable(report: TaskReport): string {
  const order = [...report.tasks].sort((a, b) =>
    a.split === b.split ? a.id.localeCompare(b.id) : a.split === 'unseen' ? -1 : 1,
  );
  const rows = order.map(
    (r) =>
      `<tr class="${r.split === 'unseen' ? 'gen' : 'orig'}"><th>${esc(r.split)}</th><td style="text-align:left;font-family:monospace">${esc(taskLabel(r))}</td><td>${f2(r.chance)}</td><td>${f2(r.original.best)} / ${f2(r.original.avg)} (${r.original.count})</td><td>${f2(r.generated.best)} / ${f2(r.generated.avg)} / ${f2(r.generated.min)} (${r.generated.count})</td><td>${(100 * r.ratio).toFixed(1)}%</td><td>${r.ablation ? `${f2(r.ablation.best)} / ${f2(r.ablation.avg)}` : '–'}</td><td>${r.scratch ? f2(r.scratch.avg) : '–'}</td></tr>`,
  );
  return `<table class="models"><thead><tr><th>split</th><th style="text-align:left">task (bits, class 0 first; positive classes)</th><th>majority label</th><th>trained max / avg</th><th>generated best / avg / min</th><th>generated / trained</th><th>no task embedding best / avg</th><th>from scratch avg</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** The per-task report as one self-contained HTML document. */
export function renderTaskReportHtml(input: TaskReport): string {
  const report = taskReportSchema.parse(input);
  const u = report.summary.unseen;
  const title = report.title ?? 'RPG unseen-task report';
  const headline = u
    ? `<div class="banner info">Unseen tasks (${u.tasks}): generated average <strong>${f2(u.generatedAvg)}%</strong> vs. <strong>${f2(u.originalAvg)}%</strong> for networks trained on them — <strong>${(100 * u.ratio).toFixed(1)}%</strong> of trained accuracy${u.ablationAvg === undefined ? '' : `; without the task embedding ${f2(u.ablationAvg)}% (majority label ${f2(u.chanceAvg)}%)`}.</div>`
    : '';
  const notes = report.notes?.length
    ? `<div class="banner warn"><strong>Notes:</strong><ul>${report.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul></div>`
    : '';
  const sections = [
    `<h1>${esc(title)}</h1>`,
    `<div class="meta">${esc(report.dataset.name)} · ${report.dataset.testSize} test samples · ${report.tasks.length} tasks · created ${esc(report.createdAt)} · evaluation took ${fmtSec(report.evaluateSeconds)}</div>`,
    verdictBanner(report),
    notes,
    headline,
    '<h2>Summary</h2>',
    summaryTable(report),
    '<p class="note">Accuracies in percent on each task’s binary labels of the test split, averaged over tasks. Unseen tasks were held out of generator training; their trained networks exist only for this comparison.</p>',
    '<h2>Generated vs. trained, per task</h2>',
    taskPlot(report),
    '<h2>Tasks</h2>',
    taskTable(report),
  ];
  if (report.stageSeconds && Object.keys(report.stageSeconds).length > 0) {
    sections.push('<h2>Stage times</h2>', stageTable(report.stageSeconds));
  }
  if (report.network !== undefined) {
    sections.push('<h2>Network</h2>', `<pre>${esc(JSON.stringify(report.network, null, 2))}</pre>`);
  }
  if (report.config !== undefined) {
    sections.push('<h2>Configuration</h2>', `<pre>${esc(JSON.stringify(report.config, null, 2))}</pre>`);
  }
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)} — ${esc(report.dataset.name)}</title><style>${REPORT_CSS}</style></head>
<body>
${sections.filter(Boolean).join('\n')}
</body></html>
`;
}

/** Writes `report.json` and `report.html` into `dir` (created if needed); returns their paths. */
export async function writeTaskReport(
  dir: string,
  report: TaskReport,
): Promise<{ json: string; html: string }> {
  return writeReportFiles(dir, taskReportSchema, report, renderTaskReportHtml);
}
