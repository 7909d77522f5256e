import { Rng, type StateDict, type TensorEntry } from '@rpg/core';
import { describe, expect, it } from 'vitest';
import { flattenParams } from '../src/model-tensors.js';
import {
  addNormalizedNoise,
  fitNoiseStats,
  type NormalizedSpace,
  noiseModel,
  noiseSource,
} from '../src/noise-baseline.js';

const f32 = (shape: number[], data: number[] | Float32Array): TensorEntry => ({
  dtype: 'F32',
  shape,
  data: Float32Array.from(data),
});

/** A small "network": a linear layer with a large and a small scale, plus BatchNorm buffers. */
function checkpoint(seed: number): StateDict {
  const rng = new Rng(seed);
  return new Map<string, TensorEntry>([
    ['0.weight', f32([40, 50], rng.normalArray(2000, 0.1, 2))],
    ['0.bias', f32([40], rng.normalArray(40, 0, 0.01))],
    [
      '1.running_var',
      f32(
        [40],
        Array.from({ length: 40 }, () => 0.5 + rng.uniform()),
      ),
    ],
    ['1.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.from([123n]) }],
    ['scale', f32([1], [3])],
  ]);
}

function std(values: Float32Array | number[]): number {
  const n = values.length;
  let m = 0;
  for (const v of values) m += v;
  m /= n;
  let s = 0;
  for (const v of values) s += (v - m) ** 2;
  return Math.sqrt(s / (n - 1));
}

function diff(a: TensorEntry, b: TensorEntry): Float32Array {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  return x.map((v, i) => v - y[i]!);
}

const originals = [checkpoint(1), checkpoint(2), checkpoint(3)];

describe('fitNoiseStats', () => {
  it('averages each tensor’s mean and unbiased std over checkpoints and skips copied tensors', () => {
    const stats = fitNoiseStats(originals, 0);
    expect(Object.keys(stats).sort()).toEqual(['0.bias', '0.weight', '1.running_var']);
    const w = originals.map((o) => o.get('0.weight')!.data as Float32Array);
    const expectedStd = w.reduce((a, t) => a + std(t), 0) / 3;
    expect(stats['0.weight']!.std).toBeCloseTo(expectedStd, 6);
    expect(stats['0.weight']!.std).toBeCloseTo(2, 1);
    expect(stats['0.weight']!.mean).toBeCloseTo(0.1, 1);
    expect(stats['0.weight']!.p).toBeUndefined();
    // running_var: p = 0.95 · mean(var) ≈ 0.95
    expect(stats['1.running_var']!.p).toBeCloseTo(0.95, 1);
  });
});

describe('addNormalizedNoise (per-tensor stats)', () => {
  const stats = fitNoiseStats(originals);
  const space: NormalizedSpace = { stats };

  it('is deterministic in the seed and differs across seeds', () => {
    const a = addNormalizedNoise(originals[0]!, 0.03, new Rng(5), space);
    const b = addNormalizedNoise(originals[0]!, 0.03, new Rng(5), space);
    const c = addNormalizedNoise(originals[0]!, 0.03, new Rng(6), space);
    expect(flattenParams(a)).toEqual(flattenParams(b));
    expect(flattenParams(a)).not.toEqual(flattenParams(c));
  });

  it('scales the deviation with σ and with each tensor’s own std (normalized space)', () => {
    const o = originals[0]!;
    for (const sigma of [0.01, 0.05]) {
      const noisy = addNormalizedNoise(o, sigma, new Rng(11), space);
      // weight: std ≈ 2 → raw deviation ≈ 2σ; bias: std ≈ 0.01 → raw deviation ≈ 0.01σ
      expect(
        std(diff(noisy.get('0.weight')!, o.get('0.weight')!)) / (sigma * stats['0.weight']!.std),
      ).toBeCloseTo(1, 1);
      const biasRatio = std(diff(noisy.get('0.bias')!, o.get('0.bias')!)) / (sigma * stats['0.bias']!.std);
      expect(biasRatio).toBeGreaterThan(0.7);
      expect(biasRatio).toBeLessThan(1.3);
    }
    const d1 = std(diff(addNormalizedNoise(o, 0.01, new Rng(3), space).get('0.weight')!, o.get('0.weight')!));
    const d5 = std(diff(addNormalizedNoise(o, 0.05, new Rng(3), space).get('0.weight')!, o.get('0.weight')!));
    expect(d5 / d1).toBeCloseTo(5, 4); // same stream, so exactly proportional up to float32 rounding
  });

  it('σ = 0 returns the original values; copied tensors stay untouched', () => {
    const o = originals[0]!;
    const same = addNormalizedNoise(o, 0, new Rng(1), space);
    expect(flattenParams(same)).toEqual(flattenParams(o));
    const noisy = addNormalizedNoise(o, 0.05, new Rng(1), space);
    expect(noisy.get('1.num_batches_tracked')).toBe(o.get('1.num_batches_tracked'));
    expect(noisy.get('scale')).toBe(o.get('scale'));
    expect([...noisy.keys()]).toEqual([...o.keys()]);
  });

  it('keeps BatchNorm variances positive and perturbs them multiplicatively', () => {
    const o = originals[0]!;
    const noisy = addNormalizedNoise(o, 0.05, new Rng(2), space).get('1.running_var')!.data as Float32Array;
    const orig = o.get('1.running_var')!.data as Float32Array;
    expect(noisy.every((v) => v > 0)).toBe(true);
    expect(noisy.some((v, i) => v !== orig[i])).toBe(true);
    const rel = noisy.map((v, i) => Math.abs(v / orig[i]! - 1));
    expect(Math.max(...rel)).toBeLessThan(0.2);
  });

  it('rejects a negative σ', () => {
    expect(() => addNormalizedNoise(originals[0]!, -0.1, new Rng(1), space)).toThrow(/sigma/);
  });
});

describe('addNormalizedNoise (normalize/denormalize functions)', () => {
  // A stand-in for the tokenizer: one global scale, NaN padding at the end that must survive.
  const layout = [...originals[0]!.entries()].filter(([, e]) => e.dtype === 'F32' && e.data.length > 1);
  const space: NormalizedSpace = {
    normalize: (sd) => {
      const flat = flattenParams(sd);
      const out = new Float32Array(flat.length + 3).fill(Number.NaN);
      for (let i = 0; i < flat.length; i++) out[i] = flat[i]! / 4;
      return out;
    },
    denormalize: (tokens) => {
      const sd: StateDict = new Map(originals[0]!);
      let off = 0;
      for (const [name, e] of layout) {
        sd.set(name, { ...e, data: tokens.slice(off, off + e.data.length).map((v) => v * 4) });
        off += e.data.length;
      }
      return sd;
    },
  };

  it('adds σ-noise in the normalized space and maps back', () => {
    const o = originals[1]!;
    const noisy = addNormalizedNoise(o, 0.05, new Rng(9), space);
    const d = diff(noisy.get('0.weight')!, o.get('0.weight')!);
    expect(std(d) / (0.05 * 4)).toBeCloseTo(1, 1);
    expect(flattenParams(noisy).every(Number.isFinite)).toBe(true);
  });
});

describe('noiseModel', () => {
  it('spreads sources over the originals and is the same whatever order models are made', () => {
    expect([0, 1, 2, 3, 4, 5].map((i) => noiseSource(i, 6, 3))).toEqual([0, 0, 1, 1, 2, 2]);
    expect([0, 1, 2].map((i) => noiseSource(i, 3, 50))).toEqual([0, 16, 33]);
    const space: NormalizedSpace = { stats: fitNoiseStats(originals) };
    const make = (index: number, sigma = 0.01) =>
      noiseModel({ originals, sigma, index, count: 6, seed: 4, space });
    const late = make(5);
    make(0);
    const again = make(5);
    expect(late.source).toBe(2);
    expect(flattenParams(late.model)).toEqual(flattenParams(again.model));
    expect(flattenParams(make(4).model)).not.toEqual(flattenParams(make(4, 0.03).model));
  });
});
