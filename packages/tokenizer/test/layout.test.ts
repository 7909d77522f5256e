import { numel, Rng, type StateDict } from '@rpg/core';
import { describe, expect, it } from 'vitest';
import {
  detokenize,
  fitTokenizer,
  type Granularity,
  paddingFraction,
  paddingMask,
  tokenize,
  tokenPositions,
} from '../src/index.js';
import { bits, expectSameStateDict, randomArchitecture, randomCheckpoint } from './helpers.js';

const GRANULARITIES: Granularity[] = ['layer', 'network', 'channel'];
const TOKEN_SIZES = [1, 2, 3, 4, 7, 16, 1000];

/** Independent oracle: builds the raw token stream by concatenation, straight from the method's description. */
function oracle(
  ckpt: StateDict,
  k: number,
  granularity: Granularity,
): { values: number[]; generated: string[] } {
  const values: number[] = [];
  const generated: string[] = [];
  const pad = () => {
    while (values.length % k !== 0) values.push(Number.NaN);
  };
  for (const [name, e] of ckpt) {
    const isFloat = e.dtype === 'F32' || e.dtype === 'F16' || e.dtype === 'BF16' || e.dtype === 'F64';
    if (!isFloat || numel(e.shape) <= 1 || name.endsWith('num_batches_tracked')) continue;
    generated.push(name);
    const data = [...(e.data as Float32Array)];
    if (granularity === 'network') {
      values.push(...data);
    } else if (granularity === 'layer' || e.shape.length < 2) {
      values.push(...data);
      pad();
    } else {
      const channels = e.shape[0]!;
      const per = data.length / channels;
      for (let c = 0; c < channels; c++) {
        values.push(...data.slice(c * per, (c + 1) * per));
        pad();
      }
    }
  }
  pad();
  return { values, generated };
}

describe('layout, all granularities (random architectures)', () => {
  for (const granularity of GRANULARITIES) {
    it(`${granularity}: numTokens, NaN exactly in padding, bit-exact raw round trip, positions`, () => {
      const rng = new Rng(granularity.length * 1000 + 7);
      let cases = 0;
      for (let trial = 0; trial < 40; trial++) {
        const arch = randomArchitecture(rng);
        const ckpts = [randomCheckpoint(rng, arch), randomCheckpoint(rng, arch), randomCheckpoint(rng, arch)];
        for (const k of TOKEN_SIZES) {
          const state = fitTokenizer(ckpts, { tokenSize: k, granularity, normalize: false });
          const expected = oracle(ckpts[1]!, k, granularity);
          expect(state.layout.map((e) => e.name)).toEqual(expected.generated);
          expect(state.numTokens).toBe(expected.values.length / k);

          const tokens = tokenize(state, ckpts[1]!);
          expect(tokens.length).toBe(expected.values.length);
          // Raw tokens equal the oracle's stream bit for bit, NaN exactly where it pads.
          const want = Float32Array.from(expected.values);
          expect(bits(tokens)).toEqual(bits(want));
          const mask = paddingMask(tokens);
          expect([...mask]).toEqual(expected.values.map((v) => (Number.isNaN(v) ? 0 : 1)));
          const real = mask.reduce((a, b) => a + b, 0);
          expect(paddingFraction(state)).toBeCloseTo(1 - real / tokens.length, 12);

          // Copied tensors come from checkpoint 0, generated ones from the tokens.
          const back = detokenize(state, tokens);
          const reference: StateDict = new Map(
            [...ckpts[1]!].map(([n, e]) => [n, state.copied.has(n) ? ckpts[0]!.get(n)! : e]),
          );
          expect(expectSameStateDict(back, reference)).toEqual([]);

          const positions = tokenPositions(state);
          expect(positions.length).toBe(state.numTokens);
          if (granularity === 'network') {
            expect(positions.every((p, i) => p.layerIndex === 0 && p.indexInLayer === i)).toBe(true);
          } else {
            const rows = state.layout.flatMap((e, li) =>
              Array.from({ length: e.tokens }, (_, j) => ({
                layerIndex: li,
                indexInLayer: j,
                layerTokens: e.tokens,
              })),
            );
            expect(positions).toEqual(rows);
            expect(
              state.layout.every(
                (e, i) => i === 0 || e.offset === state.layout[i - 1]!.offset + state.layout[i - 1]!.tokens,
              ),
            ).toBe(true);
          }
          cases++;
        }
      }
      expect(cases).toBe(40 * TOKEN_SIZES.length);
    });
  }

  it('classifies generated and copied tensors', () => {
    const sd: StateDict = new Map([
      ['scalar', { dtype: 'F32', shape: [], data: Float32Array.of(3) }],
      ['one', { dtype: 'F32', shape: [1, 1], data: Float32Array.of(2) }],
      ['empty', { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) }],
      ['bn.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.of(5n) }],
      ['bn.weird_num_batches_tracked', { dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) }],
      ['ints', { dtype: 'I32', shape: [3], data: Int32Array.of(1, 2, 3) }],
      ['w', { dtype: 'F32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }],
      ['h', { dtype: 'F16', shape: [2], data: Float32Array.of(0.5, 1.5) }],
    ]);
    const state = fitTokenizer([sd], { tokenSize: 4 });
    expect(state.layout.map((e) => e.name)).toEqual(['w', 'h']);
    expect([...state.copied.keys()]).toEqual([
      'scalar',
      'one',
      'empty',
      'bn.num_batches_tracked',
      'bn.weird_num_batches_tracked',
      'ints',
    ]);
    expect(state.order).toEqual([...sd.keys()]);
    const back = detokenize(state, tokenize(state, sd));
    expect([...back.keys()]).toEqual([...sd.keys()]);
    expect(back.get('h')!.dtype).toBe('F16');
    expect(back.get('bn.num_batches_tracked')!.data).toEqual(BigInt64Array.of(5n));
  });

  it('channel granularity never mixes output channels in a token; 1-D tensors are one channel', () => {
    const w = Float32Array.from({ length: 3 * 5 }, (_, i) => i + 1);
    const sd: StateDict = new Map([
      ['w', { dtype: 'F32', shape: [3, 5], data: w }],
      ['b', { dtype: 'F32', shape: [3], data: Float32Array.of(10, 20, 30) }],
    ]);
    const state = fitTokenizer([sd], { tokenSize: 4, granularity: 'channel', normalize: false });
    expect(state.layout.map((e) => [e.offset, e.tokens])).toEqual([
      [0, 6],
      [6, 1],
    ]);
    const t = [...tokenize(state, sd)];
    const N = Number.NaN;
    expect(t).toEqual([
      1,
      2,
      3,
      4,
      5,
      N,
      N,
      N,
      6,
      7,
      8,
      9,
      10,
      N,
      N,
      N,
      11,
      12,
      13,
      14,
      15,
      N,
      N,
      N,
      10,
      20,
      30,
      N,
    ]);
  });

  it('network granularity pads once at the end, and layout rows may be shared', () => {
    const sd: StateDict = new Map([
      ['a', { dtype: 'F32', shape: [3], data: Float32Array.of(1, 2, 3) }],
      ['b', { dtype: 'F32', shape: [2, 2], data: Float32Array.of(4, 5, 6, 7) }],
    ]);
    const state = fitTokenizer([sd], { tokenSize: 4, granularity: 'network', normalize: false });
    expect(state.numTokens).toBe(2);
    expect(state.layout.map((e) => [e.offset, e.tokens])).toEqual([
      [0, 1],
      [0, 2],
    ]);
    expect([...tokenize(state, sd)]).toEqual([1, 2, 3, 4, 5, 6, 7, Number.NaN]);
  });
});
