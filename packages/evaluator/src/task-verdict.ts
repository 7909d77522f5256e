/**
 * The verdict of an unseen-task run, on the unseen split (the seen split when there is none): the generated
 * networks match the trained ones when they reach {@link TASK_RATIO_TARGET} of their accuracy (`bench:unseen`'s
 * target), fail when they close less than half of the gap from the majority-label rate to the trained networks,
 * and fall short in between.
 */
import type { SplitSummary, TaskReport } from './task-report-schema.js';
import type { Verdict } from './verdict.js';

export const TASK_RATIO_TARGET = 0.93;

const f2 = (v: number) => v.toFixed(2);

export function judgeTasks(split: SplitSummary, name: string): Verdict {
  const figures =
    `${name} tasks: generated avg ${f2(split.generatedAvg)} % vs trained ${f2(split.originalAvg)} % ` +
    `(${(100 * split.ratio).toFixed(1)} %; majority label ${f2(split.chanceAvg)} %)`;
  if (split.ratio >= TASK_RATIO_TARGET)
    return {
      verdict: 'match',
      line: `MATCH: the generated networks match the trained ones: ${figures}`,
      causes: [],
    };
  const causes: string[] = [];
  if (split.ablationAvg !== undefined && split.generatedAvg <= split.ablationAvg + 1)
    causes.push(
      'no better than the generator without the task embedding: more seen tasks, or a longer training',
    );
  const tryNext = causes.length
    ? `. Likely: ${causes.join('; ')}`
    : '. Try more train.steps, then more seen tasks';
  const closed = (split.generatedAvg - split.chanceAvg) / Math.max(1e-9, split.originalAvg - split.chanceAvg);
  if (closed < 0.5)
    return {
      verdict: 'failed',
      line: `FAILED: generation failed, near the majority label: ${figures}${tryNext}`,
      causes,
    };
  const short = 100 * (TASK_RATIO_TARGET - split.ratio);
  return {
    verdict: 'short',
    line: `SHORT: the generated networks fall short of ${100 * TASK_RATIO_TARGET} % of trained by ${short.toFixed(1)} points: ${figures}${tryNext}`,
    causes,
  };
}

/** The task report with its verdict; unchanged when it has no split to judge. */
export function withTaskVerdict(report: TaskReport): TaskReport {
  const { unseen, seen } = report.summary;
  const split = unseen && unseen.tasks > 0 ? unseen : seen;
  if (!split || split.tasks === 0) return report;
  const v = judgeTasks(split, split === unseen ? 'unseen' : 'seen');
  return { ...report, verdict: v.verdict, verdictLine: v.line, verdictCauses: v.causes };
}
