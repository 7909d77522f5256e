import { type SplitSummary, TASK_RATIO_TARGET, type TaskReport } from '@rpg/evaluator';

const r2 = (v: number) => Math.round(v * 100) / 100;
const r4 = (v: number) => Math.round(v * 10000) / 10000;
const f = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(2));

function splitFigures(s: SplitSummary) {
  return {
    tasks: s.tasks,
    originalAvg: r2(s.originalAvg),
    generatedAvg: r2(s.generatedAvg),
    generatedBest: r2(s.generatedBest),
    generatedWorstTask: r2(s.generatedWorstTask),
    ratio: r4(s.ratio),
    chanceAvg: r2(s.chanceAvg),
    ...(s.ablationAvg === undefined
      ? {}
      : { ablationAvg: r2(s.ablationAvg), ablationRatio: r4(s.ablationRatio!) }),
    ...(s.scratchAvg === undefined
      ? {}
      : { scratchAvg: r2(s.scratchAvg), scratchRatio: r4(s.scratchRatio!) }),
  };
}

/**
 * The unseen-task benchmark's figures, with its targets checked: at least 20 unseen tasks; their generated
 * average at least 93 % of the trained networks' average; and without the task embedding, unseen accuracy
 * falling towards chance (closing under half of the gap from the majority-label rate to the trained networks).
 */
export function unseenFigures(r: TaskReport) {
  const u = r.summary.unseen;
  const targets = {
    atLeast20Unseen: (u?.tasks ?? 0) >= 20,
    unseenRatioAtLeast093: u ? u.ratio >= TASK_RATIO_TARGET : false,
    ablationTowardsChance:
      u?.ablationAvg === undefined ? null : u.ablationAvg - u.chanceAvg < 0.5 * (u.originalAvg - u.chanceAvg),
  };
  return {
    unseen: u ? splitFigures(u) : null,
    seen: r.summary.seen ? splitFigures(r.summary.seen) : null,
    targets,
  };
}

/** A few lines for the terminal: per split, trained vs generated, the ratio, the ablation and chance. */
export function summarizeTaskReport(r: TaskReport): string {
  const line = (name: string, s: SplitSummary | undefined) =>
    s
      ? `${name.padEnd(6)} ${String(s.tasks).padStart(3)} tasks  trained ${f(s.originalAvg)}  generated avg ${f(s.generatedAvg)} (best ${f(s.generatedBest)}, worst task ${f(s.generatedWorstTask)})  = ${(100 * s.ratio).toFixed(1)}% of trained  no-embedding ${f(s.ablationAvg)}  majority label ${f(s.chanceAvg)}${s.scratchAvg === undefined ? '' : `  from scratch ${f(s.scratchAvg)}`}`
      : `${name.padEnd(6)}   - no tasks evaluated`;
  const lines = [line('unseen', r.summary.unseen), line('seen', r.summary.seen)];
  if (r.verdictLine) lines.push(r.verdictLine);
  return lines.join('\n');
}
