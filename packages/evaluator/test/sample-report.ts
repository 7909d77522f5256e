/** A synthetic but realistic report (MNIST-like numbers) built from hand-made misclassification sets. */
import { Rng } from '@rpg/core';
import { accuracyFromMisses, accuracyStats, type MissSet, maxIouToReference, mean } from '../src/metrics.js';
import { buildReport, lossCurve } from '../src/report-build.js';
import type { Report } from '../src/report-schema.js';

const TEST_SIZE = 2000;

/** Misses: a shared hard core (most models miss it), plus `extra` random ones. */
function missSet(rng: Rng, core: number[], keep: number, extra: number): MissSet {
  const s = new Set<number>();
  for (const i of core) if (rng.uniform() < keep) s.add(i);
  const target = Math.round(core.length * keep) + extra + rng.int(6);
  while (s.size < target) s.add(rng.int(TEST_SIZE));
  return Int32Array.from([...s].sort((a, b) => a - b));
}

export function sampleReport(
  opts: { broken?: number; lossSteps?: number; suspicious?: boolean } = {},
): Report {
  const rng = new Rng(7);
  const core = rng.sample(TEST_SIZE, 130);
  const origMisses = Array.from({ length: 50 }, () => missSet(rng, core, 0.97, 6));
  const genMisses = Array.from({ length: 10 }, (_, i) =>
    i < (opts.broken ?? 2) ? missSet(rng, core, 1, 300 + 400 * i) : missSet(rng, core, 0.93, 14 + i),
  );
  if (opts.suspicious) genMisses[9] = missSet(rng, core, 0.5, 0);
  const noise = [0.01, 0.03, 0.05].map((sigma, k) => {
    const perModel = Array.from({ length: 10 }, (_, i) => {
      const m = missSet(rng, core, 0.97 - 0.03 * k, 6 + 12 * k * (k + 1));
      return {
        source: i * 5,
        accuracy: accuracyFromMisses(m, TEST_SIZE),
        maxIouToOriginal: maxIouToReference(m, origMisses).iou,
        nearestL2: 0.4 * (k + 1),
      };
    });
    const all = perModel.map((p) => p.accuracy);
    return {
      sigma,
      accuracy: accuracyStats(all),
      all,
      maxIouToOriginal: mean(perModel.map((p) => p.maxIouToOriginal))!,
      perModel,
    };
  });
  const steps = opts.lossSteps ?? 1500;
  const lossHistory = Array.from(
    { length: steps },
    (_, t) => 0.02 + 0.9 * Math.exp(-t / 150) * (1 + 0.3 * rng.normal() ** 2),
  );
  return buildReport({
    datasetName: 'mnist',
    testSize: TEST_SIZE,
    spec: { type: 'mlp', sizes: [784, 64, 10] },
    origMisses,
    genMisses,
    noise,
    nearestOriginal: genMisses.map((_, index) => ({
      index,
      original: (index * 7) % 50,
      distance: 0.8 + 0.1 * index,
    })),
    originalSpacing: Array.from({ length: 50 }, (_, i) => 0.5 + 0.01 * i),
    evaluateSeconds: 12.3,
    trainingLoss: steps > 0 ? lossCurve(lossHistory) : undefined,
    stageSeconds: { harvest: 95.2, tokenize: 1.4, train: 402.5, generate: 33.1, evaluate: 12.3 },
    config: { tokenSize: 256, prototype: { model: 'lstm', d: 256 }, steps: 1500 },
  });
}
