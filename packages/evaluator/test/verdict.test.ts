import { describe, expect, it } from 'vitest';
import { judgeTasks } from '../src/task-verdict.js';
import { accuracyTargets, judge, type VerdictInput } from '../src/verdict.js';

const falling = Array.from({ length: 100 }, (_, i) => ({
  step: (i + 1) * 10,
  loss: 0.3 + 2 * Math.exp(-i / 40),
}));
const flat = Array.from({ length: 100 }, (_, i) => ({ step: (i + 1) * 10, loss: 0.05 + (i % 2) * 0.001 }));

function input(over: Partial<VerdictInput>): VerdictInput {
  return {
    originals: { max: 93.5, avg: 93.2 },
    generated: { best: 93.4, avg: 93.0 },
    classes: 10,
    trainingLoss: flat,
    prediction: 'v',
    nonFinite: 0,
    generatedTotal: 10,
    ...over,
  };
}

describe('the verdict', () => {
  it('is a match when both bench:quality accuracy targets are met', () => {
    const v = judge(input({}));
    expect(v.verdict).toBe('match');
    expect(v.line).toMatch(/^MATCH: /);
    expect(accuracyTargets(input({}))).toEqual({ bestWithin02OfMax: true, avgWithin05OfAvg: true });
  });

  it('is short, by how much, between the targets and a failure', () => {
    const v = judge(input({ generated: { best: 93.0, avg: 91.2 } }));
    expect(v.verdict).toBe('short');
    expect(v.line).toContain('fall short by 2.00 points on avg');
    expect(v.line).toContain('and 0.50 on best');
    // Only the target that is missed is named.
    const best = judge(input({ generated: { best: 93.0, avg: 92.9 } }));
    expect(best.line).toMatch(/^SHORT: the generated networks fall short by 0\.50 on best/);
  });

  it('fails near chance or far below the originals, naming the causes it sees', () => {
    const chance = judge(input({ generated: { best: 15, avg: 11 }, trainingLoss: falling }));
    expect(chance.verdict).toBe('failed');
    expect(chance.line).toContain('near chance (10.00 %)');
    expect(chance.causes.some((c) => c.startsWith('training loss still falling'))).toBe(true);
    expect(chance.causes.some((c) => c.includes('far above the 0.1'))).toBe(true);
    const far = judge(input({ generated: { best: 80, avg: 56 } }));
    expect(far.verdict).toBe('failed');
    expect(far.line).toContain('37.20 points below the originals');
    // A flat, low loss is no cause; with none visible the line still says what to try.
    expect(far.causes).toEqual([]);
    expect(far.line).toContain('try more train.steps');
  });

  it('counts generated networks with NaN parameters as a cause', () => {
    const v = judge(input({ generated: { best: 90, avg: 88 }, nonFinite: 3, generatedTotal: 10 }));
    expect(v.verdict).toBe('short');
    expect(v.causes).toEqual([expect.stringContaining('3 of 10 generated networks have NaN/Inf parameters')]);
  });

  it('judges chance by the number of classes (binary tasks: 50 %)', () => {
    expect(
      judge(input({ classes: 2, originals: { max: 97, avg: 96 }, generated: { best: 62, avg: 58 } })).line,
    ).toContain('near chance (50.00 %)');
  });
});

describe('the unseen-task verdict', () => {
  const split = (generatedAvg: number, ablationAvg?: number) => ({
    tasks: 20,
    originalAvg: 96,
    generatedAvg,
    generatedBest: generatedAvg + 1,
    generatedWorstTask: generatedAvg - 5,
    ratio: generatedAvg / 96,
    chanceAvg: 63,
    ...(ablationAvg === undefined ? {} : { ablationAvg, ablationRatio: ablationAvg / 96 }),
  });

  it('matches at 93 % of the trained networks, falls short below, fails near the majority label', () => {
    expect(judgeTasks(split(92.8), 'unseen').verdict).toBe('match');
    const short = judgeTasks(split(85), 'unseen');
    expect(short.verdict).toBe('short');
    expect(short.line).toContain('fall short of 93 % of trained by 4.5 points');
    const failed = judgeTasks(split(70, 69.5), 'unseen');
    expect(failed.verdict).toBe('failed');
    expect(failed.causes).toEqual([expect.stringContaining('without the task embedding')]);
  });
});
