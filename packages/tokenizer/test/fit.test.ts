import { Rng, type StateDict } from '@rpg/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_EPS, detokenize, fitTokenizer, tokenize } from '../src/index.js';
import { convNetCheckpoint, f32, i64Scalar } from './helpers.js';

const sqrt = Math.sqrt;

describe('statistics', () => {
  it('μ and σ (unbiased) are computed per checkpoint and averaged, not pooled; σ += eps', () => {
    const a: StateDict = new Map([['w', f32([4], [1, 2, 3, 4])]]);
    const b: StateDict = new Map([['w', f32([4], [10, 10, 12, 12])]]);
    // a: mean 2.5, std sqrt(5/3); b: mean 11, std sqrt(4/3). Pooled std of all 8 values would be ~4.9.
    const state = fitTokenizer([a, b], { tokenSize: 3, eps: 1e-3 });
    const std = (sqrt(5 / 3) + sqrt(4 / 3)) / 2 + 1e-3;
    expect(state.stats.w!.mean).toBe(6.75);
    expect(state.stats.w!.std).toBeCloseTo(std, 14);
    expect(state.config).toEqual({ tokenSize: 3, granularity: 'layer', eps: 1e-3, normalize: true });
    const t = tokenize(state, a);
    const want = [1, 2, 3, 4].map((w) => Math.fround((w - 6.75) / std));
    expect([...t.subarray(0, 4)]).toEqual(want);
    expect(Number.isNaN(t[4]!) && Number.isNaN(t[5]!)).toBe(true);
    expect(fitTokenizer([a], { tokenSize: 3 }).stats.w).toEqual({
      mean: 2.5,
      std: sqrt(5 / 3) + DEFAULT_EPS,
    });
  });

  it('a constant tensor gives finite tokens (0 when constant across checkpoints) and round-trips exactly', () => {
    const c = (v: number): StateDict =>
      new Map([
        ['bias', f32([5], new Array(5).fill(v))],
        ['w', f32([3], [0.1, -0.2, 0.3])],
      ]);
    const same = fitTokenizer([c(0.7), c(0.7), c(0.7)], { tokenSize: 4 });
    expect(same.stats.bias).toEqual({ mean: Math.fround(0.7), std: DEFAULT_EPS });
    const t = tokenize(same, c(0.7));
    expect([...t.subarray(0, 5)]).toEqual([0, 0, 0, 0, 0]);
    expect([...(detokenize(same, t).get('bias')!.data as Float32Array)]).toEqual(
      new Array(5).fill(Math.fround(0.7)),
    );

    // Constant in each checkpoint but different between them: σ is just eps, tokens are large but finite.
    const differ = fitTokenizer([c(0), c(1)], { tokenSize: 4 });
    const t1 = tokenize(differ, c(1));
    expect(
      [...t1.subarray(0, 5)].every((x) => Number.isFinite(x) && Math.abs(x - 0.5 / DEFAULT_EPS) < 1),
    ).toBe(true);
    expect([...(detokenize(differ, t1).get('bias')!.data as Float32Array)]).toEqual([1, 1, 1, 1, 1]);
  });

  it('BatchNorm running_var: p = 0.95·mean(var) averaged, log(var/p + 0.05) then standardized, inverse clamps', () => {
    const a: StateDict = new Map([['bn.running_var', f32([4], [0.5, 1, 2, 4.5])]]);
    const b: StateDict = new Map([['bn.running_var', f32([4], [1, 1, 1, 1])]]);
    const state = fitTokenizer([a, b], { tokenSize: 4 });
    expect(state.layout[0]!.transform).toBe('bn-var');
    const p = 0.95 * 1.5;
    const s = state.stats['bn.running_var']!;
    expect(s.p).toBeCloseTo(p, 15);
    const la = [0.5, 1, 2, 4.5].map((v) => Math.log(v / p + 0.05));
    const lb = Math.log(1 / p + 0.05);
    const ma = la.reduce((x, y) => x + y) / 4;
    const sa = sqrt(la.reduce((x, y) => x + (y - ma) ** 2, 0) / 3);
    expect(s.mean).toBeCloseTo((ma + lb) / 2, 14);
    expect(s.std).toBeCloseTo(sa / 2 + DEFAULT_EPS, 14);

    const t = tokenize(state, a);
    expect([...t]).toEqual(la.map((v) => Math.fround((v - s.mean) / s.std)));
    const back = detokenize(state, t).get('bn.running_var')!.data as Float32Array;
    for (const [i, v] of [0.5, 1, 2, 4.5].entries()) {
      expect(Math.abs(back[i]! - v) / v).toBeLessThanOrEqual(2 ** -23);
    }

    // Inverse on known tokens: exp(x·σ + μ) − 0.05, floored at 0.001, times p.
    const x = Float32Array.of(0, 1, -2, -100);
    const inv = detokenize(state, x).get('bn.running_var')!.data as Float32Array;
    const want = [0, 1, -2, -100].map((v) =>
      Math.fround(Math.max(Math.exp(v * s.std + s.mean) - 0.05, 0.001) * p),
    );
    expect([...inv]).toEqual(want);
    expect(inv[3]).toBe(Math.fround(0.001 * p));

    // A variance of 0 (dead channel) is in the domain and comes back as the floor 0.001·p.
    const z: StateDict = new Map([['bn.running_var', f32([4], [0, 1, 2, 3])]]);
    const zs = fitTokenizer([z], { tokenSize: 2 });
    const zb = detokenize(zs, tokenize(zs, z)).get('bn.running_var')!.data as Float32Array;
    expect(zb[0]).toBe(Math.fround(0.001 * zs.stats['bn.running_var']!.p!));
  });

  it('an all-zero running_var falls back to the standard transform; normalize:false uses no transform', () => {
    const z: StateDict = new Map([['bn.running_var', f32([3], [0, 0, 0])]]);
    const state = fitTokenizer([z], { tokenSize: 2 });
    expect(state.layout[0]!.transform).toBe('standard');
    expect([...tokenize(state, z).subarray(0, 3)]).toEqual([0, 0, 0]);
    const raw = fitTokenizer([convNetCheckpoint(new Rng(3))], { tokenSize: 8, normalize: false });
    expect(
      raw.layout.every(
        (e) => e.transform === 'standard' && raw.stats[e.name]!.mean === 0 && raw.stats[e.name]!.std === 1,
      ),
    ).toBe(true);
  });
});

describe('errors', () => {
  const base = (): StateDict =>
    new Map([
      ['0.weight', f32([2, 3], [1, 2, 3, 4, 5, 6])],
      ['0.bias', f32([2], [1, 2])],
      ['bn.num_batches_tracked', i64Scalar(3)],
    ]);

  it('names the checkpoint, tensor and both shapes on a shape mismatch', () => {
    const bad = base();
    bad.set('0.weight', f32([3, 2], [1, 2, 3, 4, 5, 6]));
    expect(() => fitTokenizer([base(), base(), bad], { tokenSize: 4 })).toThrow(
      'checkpoint 2: tensor "0.weight" has shape [3, 2] but checkpoint 0 has [2, 3]',
    );
  });

  it('reports missing, extra and re-typed tensors', () => {
    const missing = base();
    missing.delete('0.bias');
    expect(() => fitTokenizer([base(), missing], { tokenSize: 4 })).toThrow(
      'checkpoint 1 lacks tensor "0.bias" [2] that checkpoint 0 has',
    );
    const extra = base();
    extra.set('1.weight', f32([2], [1, 2]));
    expect(() => fitTokenizer([base(), extra], { tokenSize: 4 })).toThrow(
      'checkpoint 1 has tensor "1.weight" [2] that checkpoint 0 lacks',
    );
    const retyped = base();
    retyped.set('0.bias', { dtype: 'F64', shape: [2], data: Float32Array.of(1, 2) });
    expect(() => fitTokenizer([base(), retyped], { tokenSize: 4 })).toThrow(
      'checkpoint 1: tensor "0.bias" has dtype F64 but checkpoint 0 has F32',
    );
    const short = base();
    short.set('0.bias', f32([3], [1, 2]));
    expect(() => fitTokenizer([short], { tokenSize: 4 })).toThrow(
      'tensor "0.bias" has 2 values but its shape [3] needs 3',
    );
  });

  it('rejects bad configs, no checkpoints, nothing to generate, non-finite values and negative variances', () => {
    for (const bad of [
      { tokenSize: 0 },
      { tokenSize: 2.5 },
      { tokenSize: 4, granularity: 'row' },
      { tokenSize: 4, eps: 0 },
      { tokenSize: 4, extra: 1 },
    ]) {
      expect(() => fitTokenizer([base()], bad as never)).toThrow('Invalid tokenizer config');
    }
    expect(() => fitTokenizer([], { tokenSize: 4 })).toThrow('at least one checkpoint');
    expect(() => fitTokenizer([new Map([['s', f32([], [1])]])], { tokenSize: 4 })).toThrow(
      'no tensor to generate',
    );
    const nan = base();
    nan.set('0.bias', f32([2], [1, Number.NaN]));
    expect(() => fitTokenizer([base(), nan], { tokenSize: 4 })).toThrow(
      'checkpoint 1: tensor "0.bias" has a non-finite value (NaN) at flat index 1',
    );
    const neg: StateDict = new Map([['bn.running_var', f32([3], [1, 2, -1])]]);
    expect(() => fitTokenizer([neg], { tokenSize: 4 })).toThrow(
      'BatchNorm variance "bn.running_var" has -1 at flat index 2',
    );
  });

  it('tokenize checks the checkpoint against the fitted structure; detokenize checks the length', () => {
    const state = fitTokenizer([base()], { tokenSize: 4 });
    const other = base();
    other.set('0.bias', f32([4], [1, 2, 3, 4]));
    expect(() => tokenize(state, other, 'test.safetensors')).toThrow(
      'test.safetensors: tensor "0.bias" has shape [4] but the fitted tokenizer has [2]',
    );
    const noCount = base();
    noCount.delete('bn.num_batches_tracked');
    expect(() => tokenize(state, noCount)).toThrow('lacks tensor "bn.num_batches_tracked"');
    const inf = base();
    inf.set('0.weight', f32([2, 3], [1, 2, 3, Number.POSITIVE_INFINITY, 5, 6]));
    expect(() => tokenize(state, inf)).toThrow('non-finite value (Infinity) at flat index 3');
    expect(() => detokenize(state, new Float32Array(5))).toThrow(
      'needs a Float32Array of 3·4 = 12 values, got 5',
    );
  });
});
