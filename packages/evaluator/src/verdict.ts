/**
 * The verdict of a run: do the generated networks match the originals, fall short, or fail? One definition, used
 * by the report (report.json, report.html, the terminal summary) and by `bench:quality`'s targets.
 */
import { z } from 'zod';
import type { LossPoint, Report } from './report-schema.js';

export type VerdictKind = 'match' | 'short' | 'failed';

/** The quality targets: generated best within 0.2 points of the originals' max, generated avg within 0.5 of theirs. */
export const BEST_MARGIN = 0.2;
export const AVG_MARGIN = 0.5;
/** Failed: the generated avg more than this many points below the originals' avg… */
export const FAILED_GAP = 10;
/** …or within this many points of chance (100 / classes). */
export const NEAR_CHANCE = 10;
/** Training loss still falling: the last tenth of the curve is this much (relative) below the tenth before it. */
export const STILL_FALLING = 0.03;
/**
 * The training loss such a target usually ends at (normalized tokens, per prediction type); a final loss above
 * twice this is called "far above". v: the MLP example ends at 0.064 after 600 steps (README, sensitivity
 * sweep), and the collapsed runs that motivated the verdict at 4-7 times the example's loss. ε and x₀ have not
 * been swept; their figure is the same order, on the side that names the cause only when the loss is clearly high.
 */
export const USUAL_FINAL_LOSS: Record<'epsilon' | 'x0' | 'v', number> = { epsilon: 0.05, x0: 0.05, v: 0.1 };

export interface AccuracyFigures {
  originals: { max: number; avg: number };
  generated: { best: number; avg: number };
}

/** The two accuracy targets of `bench:quality` (also the line between "match" and "short"). */
export function accuracyTargets(r: AccuracyFigures) {
  return {
    bestWithin02OfMax: r.generated.best >= r.originals.max - BEST_MARGIN,
    avgWithin05OfAvg: r.generated.avg >= r.originals.avg - AVG_MARGIN,
  };
}

export interface VerdictInput extends AccuracyFigures {
  /** Classes of the task (chance = 100 / classes). */
  classes: number;
  trainingLoss?: readonly LossPoint[] | undefined;
  /** The decoder's prediction type, for the usual final loss. */
  prediction?: 'epsilon' | 'x0' | 'v' | undefined;
  /** Generated networks with NaN/Inf parameters, and all generated networks. */
  nonFinite: number;
  generatedTotal: number;
}

export interface Verdict {
  verdict: VerdictKind;
  /** One line for the terminal and the report. */
  line: string;
  /** What the run shows that may explain a shortfall, each with what to try. */
  causes: string[];
}

const meanLoss = (pts: readonly LossPoint[]) => pts.reduce((s, p) => s + p.loss, 0) / pts.length;
const f2 = (v: number) => v.toFixed(2);
const f3 = (v: number) => (v >= 0.01 ? v.toFixed(3) : v.toPrecision(2));

/** The likely causes the run shows (loss curve, NaN samples), each with what to try. */
export function visibleCauses(input: VerdictInput): string[] {
  const causes: string[] = [];
  const curve = input.trainingLoss ?? [];
  if (curve.length >= 20) {
    const tenth = Math.max(1, Math.floor(curve.length / 10));
    const last = meanLoss(curve.slice(-tenth));
    const before = meanLoss(curve.slice(-2 * tenth, -tenth));
    if (before > 0 && (before - last) / before > STILL_FALLING)
      causes.push(
        `training loss still falling at the end (${f3(before)} → ${f3(last)} over the last fifth): train longer (train.steps)`,
      );
    const usual = input.prediction ? USUAL_FINAL_LOSS[input.prediction] : undefined;
    if (usual !== undefined && last > 2 * usual)
      causes.push(
        `final loss ${f3(last)} is far above the ${usual} such a target usually reaches: a larger generator ` +
          '(train.prototype.d, tokenizer.tokenSize) or more steps',
      );
  }
  if (input.nonFinite > 0)
    causes.push(
      `${input.nonFinite} of ${input.generatedTotal} generated networks have NaN/Inf parameters: a lower train.lr, ` +
        'more steps, or check the tokenizer (constant tensors)',
    );
  return causes;
}

/** Match / short / failed, with its line and the causes the run shows. */
export function judge(input: VerdictInput): Verdict {
  const { originals: o, generated: g } = input;
  const chance = 100 / input.classes;
  const gap = o.avg - g.avg;
  const targets = accuracyTargets(input);
  const causes = visibleCauses(input);
  const figures = `generated avg ${f2(g.avg)} % (best ${f2(g.best)}) vs originals avg ${f2(o.avg)} % (max ${f2(o.max)})`;
  let verdict: VerdictKind;
  let head: string;
  if (targets.avgWithin05OfAvg && targets.bestWithin02OfMax) {
    verdict = 'match';
    head = `MATCH: the generated networks match the originals: ${figures}`;
  } else if (g.avg <= chance + NEAR_CHANCE || gap > FAILED_GAP) {
    verdict = 'failed';
    const why =
      g.avg <= chance + NEAR_CHANCE
        ? `near chance (${f2(chance)} %)`
        : `${f2(gap)} points below the originals`;
    head = `FAILED: generation failed, ${why}: ${figures}`;
  } else {
    verdict = 'short';
    const bestGap = o.max - g.best;
    const misses = [
      ...(targets.avgWithin05OfAvg ? [] : [`${f2(gap)} points on avg (target ≤ ${AVG_MARGIN})`]),
      ...(targets.bestWithin02OfMax
        ? []
        : [`${f2(bestGap)} on best (target ≤ ${BEST_MARGIN} below the max)`]),
    ];
    head = `SHORT: the generated networks fall short by ${misses.join(' and ')}: ${figures}`;
  }
  const tail =
    verdict === 'match'
      ? ''
      : causes.length > 0
        ? `. Likely: ${causes.join('; ')}`
        : '. No cause visible in the loss curve: try more train.steps, then a larger train.prototype.d';
  return { verdict, line: `${head}${tail}`, causes };
}

const predictionOf = z
  .object({
    pipeline: z.object({
      train: z.object({ decoder: z.object({ prediction: z.enum(['epsilon', 'x0', 'v']) }) }),
    }),
  })
  .transform((c) => c.pipeline.train.decoder.prediction);

/**
 * The report with its verdict (`verdict`, `verdictLine`, `verdictCauses`). The decoder's prediction type, for the
 * usual final loss, comes from the pipeline config recorded in the report; without one that check is skipped.
 */
export function withVerdict(report: Report, classes: number): Report {
  const prediction = predictionOf.safeParse(report.config);
  const nonFinite = report.nonFinite?.length ?? 0;
  const v = judge({
    originals: report.originals,
    generated: report.generated,
    classes,
    trainingLoss: report.trainingLoss,
    ...(prediction.success ? { prediction: prediction.data } : {}),
    nonFinite,
    generatedTotal: report.generated.count + nonFinite,
  });
  return { ...report, verdict: v.verdict, verdictLine: v.line, verdictCauses: v.causes };
}
