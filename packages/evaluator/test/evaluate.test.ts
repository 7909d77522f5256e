import {
  accuracy,
  type Dataset,
  initStateDict,
  type NetworkSpec,
  syntheticDataset,
} from '@rpg/checkpoint-harvest';
import { loadBackend, type ProgressEvent, Rng, type StateDict, type TensorEntry, tf } from '@rpg/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { nearestOriginalStateDict } from '../src/distances.js';
import { evaluateModels } from '../src/evaluate.js';
import { flattenParams } from '../src/model-tensors.js';
import { renderReportHtml } from '../src/report-html.js';
import { reportSchema } from '../src/report-schema.js';

const DIM = 12;
const CLASSES = 4;
const HIDDEN = 2 * DIM;
const spec: NetworkSpec = { type: 'mlp', sizes: [DIM, HIDDEN, CLASSES] };

/**
 * A correct network without training: the nearest-centroid classifier written as an MLP. The hidden layer is
 * [relu(x), relu(−x)] (so x = h⁺ − h⁻) and the head scores class c by μ_c·x − |μ_c|²/2.
 */
function centroidNetwork(data: Dataset): StateDict {
  const { x, y, n } = data.train;
  const mu = new Float64Array(CLASSES * DIM);
  const count = new Float64Array(CLASSES);
  for (let i = 0; i < n; i++) {
    const c = y[i]!;
    count[c]!++;
    for (let j = 0; j < DIM; j++) mu[c * DIM + j]! += x[i * DIM + j]!;
  }
  for (let c = 0; c < CLASSES; c++) for (let j = 0; j < DIM; j++) mu[c * DIM + j]! /= count[c]!;
  const w1 = new Float32Array(HIDDEN * DIM);
  for (let j = 0; j < DIM; j++) {
    w1[j * DIM + j] = 1;
    w1[(DIM + j) * DIM + j] = -1;
  }
  const w2 = new Float32Array(CLASSES * HIDDEN);
  const b2 = new Float32Array(CLASSES);
  for (let c = 0; c < CLASSES; c++) {
    let sq = 0;
    for (let j = 0; j < DIM; j++) {
      const m = mu[c * DIM + j]!;
      w2[c * HIDDEN + j] = m;
      w2[c * HIDDEN + DIM + j] = -m;
      sq += m * m;
    }
    b2[c] = -sq / 2;
  }
  return new Map<string, TensorEntry>([
    ['0.weight', { dtype: 'F32', shape: [HIDDEN, DIM], data: w1 }],
    ['0.bias', { dtype: 'F32', shape: [HIDDEN], data: new Float32Array(HIDDEN) }],
    ['2.weight', { dtype: 'F32', shape: [CLASSES, HIDDEN], data: w2 }],
    ['2.bias', { dtype: 'F32', shape: [CLASSES], data: b2 }],
  ]);
}

/**
 * Test accuracy of the nearest-centroid rule, computed directly in float64 (no network): the reference the
 * centroid networks approximate. The clusters overlap at noise 2.2, so this is ~75%, and no classifier can do
 * much better here (the optimal rule, nearest TRUE centre, gets 75.5% on this test split).
 */
function nearestCentroidAccuracy(data: Dataset): number {
  const { x, y, n } = data.train;
  const mu = new Float64Array(CLASSES * DIM);
  const count = new Float64Array(CLASSES);
  for (let i = 0; i < n; i++) {
    count[y[i]!]!++;
    for (let j = 0; j < DIM; j++) mu[y[i]! * DIM + j]! += x[i * DIM + j]!;
  }
  for (let k = 0; k < CLASSES * DIM; k++) mu[k]! /= count[Math.floor(k / DIM)]!;
  const t = data.test;
  let correct = 0;
  for (let i = 0; i < t.n; i++) {
    let best = -1;
    let bestD = Number.POSITIVE_INFINITY;
    for (let c = 0; c < CLASSES; c++) {
      let d = 0;
      for (let j = 0; j < DIM; j++) d += (t.x[i * DIM + j]! - mu[c * DIM + j]!) ** 2;
      if (d < bestD) {
        bestD = d;
        best = c;
      }
    }
    if (best === t.y[i]) correct++;
  }
  return (100 * correct) / t.n;
}

function perturb(sd: StateDict, scale: number, seed: number): StateDict {
  const rng = new Rng(seed);
  const out: StateDict = new Map();
  for (const [name, e] of sd) {
    const src = e.data as Float32Array;
    out.set(name, { ...e, data: src.map((v) => v + scale * rng.normal()) });
  }
  return out;
}

describe('evaluateModels on real networks', () => {
  let data: Dataset;
  let base: StateDict;
  let originals: StateDict[];
  let generated: StateDict[];
  let centroidAcc: number;

  beforeAll(async () => {
    await loadBackend({ log: null });
    data = syntheticDataset({
      seed: 3,
      inputDim: DIM,
      numClasses: CLASSES,
      trainSize: 800,
      testSize: 1500,
      noise: 2.2,
    });
    base = centroidNetwork(data);
    centroidAcc = nearestCentroidAccuracy(data);
    originals = [0, 1, 2, 3].map((i) => perturb(base, 0.08, 100 + i));
    generated = [
      originals[2]!, // an exact copy
      perturb(base, 0.08, 200),
      perturb(base, 0.25, 201),
      initStateDict(spec, new Rng(5)), // broken: an untrained network
    ];
  });

  it('reports accuracies equal to checkpoint-harvest’s, IoU novelty, noise baselines and distances', async () => {
    const before = tf.memory().numTensors;
    const events: ProgressEvent[] = [];
    const report = await evaluateModels({
      spec,
      dataset: data,
      originals,
      generated,
      seed: 9,
      noisePerSigma: 4,
      progress: (e) => events.push(e),
      trainingLoss: [
        { step: 1, loss: 1 },
        { step: 2, loss: 0.5 },
      ],
      stageSeconds: { train: 3 },
      config: { note: 'test' },
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(reportSchema.safeParse(report).success).toBe(true);

    // Accuracy: same numbers as the harvest package's own accuracy().
    originals.forEach((sd, i) => {
      expect(report.originals.all[i]).toBeCloseTo(accuracy(spec, sd, data.test), 10);
    });
    generated.forEach((sd, i) => {
      expect(report.generated.all[i]).toBeCloseTo(accuracy(spec, sd, data.test), 10);
    });
    // The originals are the centroid network with small weight noise: close to the nearest-centroid rule's
    // accuracy (a little worse, not much: far above chance, 25%). The untrained network is near chance.
    expect(centroidAcc).toBeGreaterThan(74);
    expect(report.originals.min).toBeGreaterThan(centroidAcc - 5);
    expect(report.originals.max).toBeLessThan(centroidAcc + 1);
    expect(report.generated.min).toBeLessThan(50);
    expect(report.generated.best).toBe(Math.max(...report.generated.all));

    // Novelty: the exact copy has IoU 1 to its source and L2 distance 0.
    expect(report.iou.perModel[0]).toEqual({ index: 0, maxIouToOriginal: 1, closestOriginal: 2 });
    expect(report.nearestOriginal[0]).toEqual({ index: 0, original: 2, distance: 0 });
    expect(report.iou.perModel[3]!.maxIouToOriginal).toBeLessThan(0.5);
    expect(report.iou.perModel[1]!.maxIouToOriginal).toBeGreaterThan(
      report.iou.perModel[3]!.maxIouToOriginal,
    );
    expect(report.nearestOriginal[2]!.distance!).toBeGreaterThan(report.nearestOriginal[1]!.distance!);
    expect(report.nearestOriginal[1]!.distance).toBeCloseTo(
      Math.min(...originals.map((o) => nearestOriginalStateDict(generated[1]!, [o]).distance)),
      9,
    );
    expect(report.originalSpacing!.min).toBeGreaterThan(0);

    // Noise baselines: more noise, fewer shared mistakes.
    expect(report.noise.map((n) => n.sigma)).toEqual([0.01, 0.03, 0.05]);
    for (const n of report.noise) expect(n.perModel.map((p) => p.source)).toEqual([0, 1, 2, 3]);
    const [n1, n3, n5] = report.noise as [
      (typeof report.noise)[0],
      (typeof report.noise)[0],
      (typeof report.noise)[0],
    ];
    expect(n1.maxIouToOriginal).toBeGreaterThan(n5.maxIouToOriginal);
    expect(n1.maxIouToOriginal).toBeGreaterThan(0.9);
    expect(n1.perModel[0]!.nearestL2).toBeLessThan(n3.perModel[0]!.nearestL2);
    expect(n3.perModel[0]!.nearestL2).toBeLessThan(n5.perModel[0]!.nearestL2);

    expect(report.suspicious).toBe(false);
    expect(report.trainingLoss).toEqual([
      { step: 1, loss: 1 },
      { step: 2, loss: 0.5 },
    ]);
    expect(report.stageSeconds).toEqual({ train: 3 });
    expect(report.config).toEqual({ note: 'test' });

    expect(events).toHaveLength(4 + 4 + 3 * 4);
    expect(events.at(-1)).toMatchObject({ stage: 'evaluate', step: 20, total: 20 });
  });

  it('is deterministic in the seed', async () => {
    const run = (seed: number) =>
      evaluateModels({
        spec,
        dataset: data,
        originals,
        generated: generated.slice(1, 2),
        seed,
        noisePerSigma: 2,
      });
    const [a, b, c] = await Promise.all([run(1), run(1), run(2)]);
    expect(a.noise).toEqual(b.noise);
    expect(a.noise).not.toEqual(c.noise);
  });

  it('flags a generated model far better than every original', async () => {
    const weak = [perturb(base, 0.9, 1), perturb(base, 0.9, 2)];
    const report = await evaluateModels({
      spec,
      dataset: data,
      originals: weak,
      generated: [base],
      noiseSigmas: [],
    });
    // The unperturbed centroid network is the nearest-centroid rule (up to float32 round-off: ≤ 1 test sample).
    expect(Math.abs(report.generated.best - centroidAcc)).toBeLessThanOrEqual(100 / data.test.n + 1e-9);
    expect(report.generated.best).toBeGreaterThan(report.originals.max + 0.5);
    expect(report.suspicious).toBe(true);
    expect(report.noise).toEqual([]);
  });

  it('reports a generated model with NaN parameters as such, never scoring it', async () => {
    const nan = perturb(base, 0.08, 300);
    (nan.get('0.weight')!.data as Float32Array)[5] = Number.NaN;
    const inf = perturb(base, 0.08, 301);
    (inf.get('2.bias')!.data as Float32Array)[0] = Number.POSITIVE_INFINITY;
    const report = await evaluateModels({
      spec,
      dataset: data,
      originals,
      generated: [nan, generated[1]!, inf],
      noiseSigmas: [0.01],
      noisePerSigma: 1,
    });
    // Only model 1 is scored; it keeps its index.
    expect(report.generated.count).toBe(1);
    expect(report.generated.all).toEqual([accuracy(spec, generated[1]!, data.test)]);
    expect(report.iou.perModel.map((p) => p.index)).toEqual([1]);
    expect(report.nearestOriginal.map((r) => r.index)).toEqual([1]);
    expect(report.nearestOriginal[0]!.distance).toBeGreaterThan(0);
    expect(report.nonFinite).toEqual([
      { index: 0, tensors: [{ name: '0.weight', count: 1 }] },
      { index: 2, tensors: [{ name: '2.bias', count: 1 }] },
    ]);
    expect(report.notes).toEqual([
      'generated model 0 has non-finite parameters (NaN/Inf in "0.weight" (1 value)): not scored; the generator diverged?',
      'generated model 2 has non-finite parameters (NaN/Inf in "2.bias" (1 value)): not scored; the generator diverged?',
    ]);
    const html = renderReportHtml(report);
    expect(html).toContain('1 generated (and 2 with NaN/Inf parameters, not scored)');
    expect(html).toContain('<td>2</td><td colspan="5">non-finite parameters, not scored: 2.bias (1)</td>');
    expect(reportSchema.parse(JSON.parse(JSON.stringify(report)))).toEqual(report);
  });

  it('refuses to score when every generated model, or an original, is non-finite', async () => {
    const nan = perturb(base, 0.08, 302);
    (nan.get('0.bias')!.data as Float32Array).fill(Number.NaN);
    await expect(evaluateModels({ spec, dataset: data, originals, generated: [nan, nan] })).rejects.toThrow(
      'all 2 generated models have non-finite parameters (model 0: NaN/Inf in "0.bias" (24 values)): nothing to score',
    );
    await expect(
      evaluateModels({ spec, dataset: data, originals: [originals[0]!, nan], generated }),
    ).rejects.toThrow('original 1 has non-finite parameters (NaN/Inf in "0.bias" (24 values))');
  });

  it('rejects models that do not fit the network’s layout, and empty inputs', async () => {
    const bad = new Map(base);
    bad.delete('2.bias');
    await expect(evaluateModels({ spec, dataset: data, originals, generated: [bad] })).rejects.toThrow(
      /generated model 0 has 3 tensors/,
    );
    await expect(evaluateModels({ spec, dataset: data, originals: [], generated })).rejects.toThrow(
      /at least one original/,
    );
    expect(flattenParams(base).length).toBe(HIDDEN * DIM + HIDDEN + CLASSES * HIDDEN + CLASSES);
  });
});
