/** The verdict as the report page's first banner: green for a match, amber for short, red for failed. */
import type { Report } from './report-schema.js';
import { esc } from './svg-plot.js';
import type { TaskReport } from './task-report-schema.js';

const STYLE: Record<'match' | 'short' | 'failed', string> = {
  match: 'background:#e6f4ea;border:1px solid #34a853',
  short: 'background:#fff3cd;border:1px solid #e0b400',
  failed: 'background:#fde7e9;border:2px solid #d93025',
};

/** The verdict banner, with its causes as a list; empty for a report without a verdict. */
export function verdictBanner(
  report: Pick<Report | TaskReport, 'verdict' | 'verdictLine' | 'verdictCauses'>,
): string {
  if (!report.verdict || !report.verdictLine) return '';
  // The line's head (before the causes, which are shown as a list).
  const head = report.verdictLine.split('. Likely: ')[0] ?? '';
  const causes = report.verdictCauses ?? [];
  const list = causes.length ? `Likely:<ul>${causes.map((c) => `<li>${esc(c)}</li>`).join('')}</ul>` : '';
  return `<div class="banner verdict" style="${STYLE[report.verdict]}"><strong>${esc(head)}</strong>${list}</div>`;
}
