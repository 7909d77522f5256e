import { numel, Rng, type StateDict } from '@rpg/core';
import { describe, expect, it } from 'vitest';
import {
  detokenize,
  fitTokenizer,
  type Granularity,
  type TensorStats,
  type Transform,
  tokenize,
} from '../src/index.js';
import { bits, convNetCheckpoint, expectSameStateDict } from './helpers.js';

/**
 * First-order error of one float32 rounding of the token plus one of the result: standard 2^-24·(|w − μ| + |w|);
 * running_var 2^-24·(|v' − μ|·(w + 0.05·p) + w) with v' = log(w/p + 0.05) (d var = (var + 0.05p)·d v').
 */
function errorBound(w: number, s: TensorStats, transform: Transform): number {
  if (transform === 'bn-var') {
    const v = Math.log(w / s.p! + 0.05);
    return 1.001 * 2 ** -24 * (Math.abs(v - s.mean) * (w + 0.05 * s.p!) + w);
  }
  return 1.001 * 2 ** -24 * (Math.abs(w - s.mean) + Math.abs(w));
}

describe('normalized round trip on real-looking checkpoints', () => {
  const rng = new Rng(11);
  const ckpts = Array.from({ length: 6 }, () => convNetCheckpoint(rng));
  const heldOut = convNetCheckpoint(rng);

  for (const granularity of ['layer', 'network', 'channel'] as Granularity[]) {
    it(`${granularity}: tokens standardized, bit-exact for most values, else within the first-order rounding bound`, () => {
      const state = fitTokenizer(ckpts, { tokenSize: 16, granularity });
      let exact = 0;
      let total = 0;
      for (const ckpt of [...ckpts, heldOut]) {
        const tokens = tokenize(state, ckpt);
        const real = tokens.filter((x) => !Number.isNaN(x));
        expect(real.length).toBe(state.layout.reduce((s, e) => s + e.numel, 0));
        // Standardized: the big (mean 120) and tiny (σ 1e-6) tensors land in the same range as the rest.
        expect(real.every((x) => Number.isFinite(x) && Math.abs(x) < 10)).toBe(true);

        const back = detokenize(state, tokens);
        // Copied tensors are bit-exact copies of checkpoint 0's.
        expect(bits(back.get('scale')!.data as Float32Array)).toEqual(
          bits(ckpts[0]!.get('scale')!.data as Float32Array),
        );
        expect(back.get('1.num_batches_tracked')).toEqual(ckpts[0]!.get('1.num_batches_tracked'));
        expect([...back.keys()]).toEqual([...ckpt.keys()]);
        for (const e of state.layout) {
          const w = ckpt.get(e.name)!.data as Float32Array;
          const b = back.get(e.name)!.data as Float32Array;
          for (let i = 0; i < w.length; i++) {
            total++;
            if (b[i] === w[i]) {
              exact++;
              continue;
            }
            expect(
              Math.abs(b[i]! - w[i]!),
              `${e.name}[${i}] = ${w[i]} came back as ${b[i]}`,
            ).toBeLessThanOrEqual(errorBound(w[i]!, state.stats[e.name]!, e.transform));
          }
        }
      }
      // Measured 0.928 over these tensors (float32 tokens cannot make every value exact, see transform.ts).
      expect(exact / total).toBeGreaterThan(0.85);
    });
  }

  it('raw (normalize: false) round trip is bit-exact for every granularity and token size', () => {
    for (const granularity of ['layer', 'network', 'channel'] as Granularity[]) {
      for (const k of [1, 5, 16, 64, 4096]) {
        const state = fitTokenizer(ckpts, { tokenSize: k, granularity, normalize: false });
        for (const ckpt of [ckpts[0]!, heldOut]) {
          const back = detokenize(state, tokenize(state, ckpt));
          const reference: StateDict = new Map(
            [...ckpt].map(([n, e]) => [n, state.copied.has(n) ? ckpts[0]!.get(n)! : e]),
          );
          expect(expectSameStateDict(back, reference)).toEqual([]);
        }
      }
    }
  });

  it('keeps −0 and extreme float32 values bit-exact in the raw path', () => {
    const values = Float32Array.of(
      -0,
      0,
      3.4028234663852886e38,
      -1.401298464324817e-45,
      1.1754943508222875e-38,
      1,
    );
    const sd: StateDict = new Map([['w', { dtype: 'F32', shape: [values.length], data: values }]]);
    const state = fitTokenizer([sd], { tokenSize: 4, normalize: false });
    expect(bits(detokenize(state, tokenize(state, sd)).get('w')!.data as Float32Array)).toEqual(bits(values));
  });

  it('is fast on a 4M-parameter tensor', () => {
    const big: StateDict = new Map([
      ['w', { dtype: 'F32', shape: [2048, 2048], data: rng.normalArray(2048 * 2048, 0.001, 0.02) }],
    ]);
    const started = performance.now();
    const state = fitTokenizer([big], { tokenSize: 256 });
    const back = detokenize(state, tokenize(state, big));
    expect(performance.now() - started).toBeLessThan(5000); // ~0.2 s measured
    expect(numel(back.get('w')!.shape)).toBe(2048 * 2048);
  });
});
