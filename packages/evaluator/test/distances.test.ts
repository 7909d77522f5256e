import { initStateDict, type NetworkSpec } from '@rpg/checkpoint-harvest';
import { oneConvCnn } from '@rpg/checkpoint-harvest/test-fixtures';
import { Rng, type StateDict, tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import {
  float32MatmulIsExact,
  NearestOriginalIndex,
  nearestOriginalStateDict,
  stateDictSquaredL2,
} from '../src/distances.js';

function shifted(sd: StateDict, scale: number, seed: number, factor = 1): StateDict {
  const rng = new Rng(seed);
  const out: StateDict = new Map();
  for (const [name, e] of sd) {
    if (e.dtype !== 'F32') out.set(name, e);
    else
      out.set(name, { ...e, data: (e.data as Float32Array).map((v) => factor * v + scale * rng.normal()) });
  }
  return out;
}

useBackend();

describe('NearestOriginalIndex', () => {
  it('finds exactly what the float64 brute force finds', () => {
    const spec: NetworkSpec = { type: 'mlp', sizes: [784, 64, 10] }; // 50,890 values: a realistic error bound
    // A "trajectory": originals close to each other, plus a duplicate (a tie: the first index must win).
    const start = initStateDict(spec, new Rng(1));
    const originals = Array.from({ length: 12 }, (_, i) => shifted(start, 0.002 * (i + 1), 100 + i));
    originals[7] = originals[3]!;
    const queries = [
      originals[5]!, // an exact copy: distance 0
      originals[3]!, // a copy of the duplicated one: index 3, not 7
      shifted(originals[9]!, 1e-4, 1), // σ=0.01-like noise around one original
      shifted(start, 0.002, 2), // between originals
      initStateDict(spec, new Rng(3)), // an unrelated network
      shifted(start, 0, 4, 50), // far away and large
    ];
    const before = tf.memory().numTensors;
    const index = new NearestOriginalIndex(originals);
    const got = index.nearest(queries);
    const spacing = index.nearest(originals, (i) => i);
    const exact = index.exactEvaluations;
    index.dispose();
    expect(tf.memory().numTensors).toBe(before);

    expect(got).toEqual(queries.map((q) => nearestOriginalStateDict(q, originals)));
    expect(spacing).toEqual(originals.map((o, i) => nearestOriginalStateDict(o, originals, i)));
    expect(got[0]).toEqual({ index: 5, distance: 0 });
    expect(got[1]).toEqual({ index: 3, distance: 0 });
    expect(got[2]!.index).toBe(9);
    expect(spacing[3]).toEqual({ index: 7, distance: 0 });
    // The screen leaves few exact sums: far fewer than the 18 × 12 pairs of the brute force.
    if (float32MatmulIsExact()) expect(exact).toBeLessThan(3 * (queries.length + originals.length));
  });

  it('skips counters and handles BatchNorm networks', () => {
    const spec = oneConvCnn([8, 8, 1], { out: 4, kernel: 3, padding: 1 }, 3);
    const originals = [1, 2, 3].map((s) => initStateDict(spec, new Rng(s)));
    const q = shifted(originals[1]!, 0.01, 9);
    q.set('bn1.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.of(99n) });
    const index = new NearestOriginalIndex(originals);
    const [r] = index.nearest([q]);
    index.dispose();
    expect(r).toEqual(nearestOriginalStateDict(q, originals));
    expect(r!.distance).toBeCloseTo(Math.sqrt(stateDictSquaredL2(q, originals[1]!)), 12);
  });

  it('gives null for a model with non-finite values, and refuses such originals', () => {
    const spec: NetworkSpec = { type: 'mlp', sizes: [4, 3, 2] };
    const originals = [1, 2].map((s) => initStateDict(spec, new Rng(s)));
    const bad = shifted(originals[0]!, 0.1, 5);
    (bad.get('2.bias')!.data as Float32Array)[1] = Number.POSITIVE_INFINITY;
    const index = new NearestOriginalIndex(originals);
    expect(index.nearest([originals[1]!, bad])).toEqual([{ index: 1, distance: 0 }, null]);
    index.dispose();
    expect(() => new NearestOriginalIndex([bad])).toThrow(/original 0 has non-finite values/);
    expect(() => nearestOriginalStateDict(bad, originals)).toThrow(/non-finite values/);
  });

  it('rejects models of another size and use after dispose', () => {
    const spec: NetworkSpec = { type: 'mlp', sizes: [4, 3, 2] };
    const index = new NearestOriginalIndex([initStateDict(spec, new Rng(1))]);
    expect(() => index.nearest([initStateDict({ type: 'mlp', sizes: [4, 5, 2] }, new Rng(2))])).toThrow(
      /tensor '0\.weight' differs in size/,
    );
    expect(() => index.nearest([initStateDict(spec, new Rng(2))], () => 0)).toThrow(
      /at least one other original/,
    );
    index.dispose();
    expect(() => index.nearest([])).toThrow(/disposed/);
  });
});
