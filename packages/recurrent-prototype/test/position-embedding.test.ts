import { Rng, tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import {
  ParamStore,
  PositionEmbedding,
  PrototypeModel,
  StateEmbedding,
  sinusoid1d,
  sinusoid2d,
  type TokenPosition,
} from '../src/index.js';
import { positions } from './helpers.js';

useBackend();

const row = (table: Float32Array, t: number, d: number) => Array.from(table.subarray(t * d, (t + 1) * d));

describe('sinusoid2d', () => {
  it('matches hand-computed values: first half = index in layer, second half = layer index', () => {
    // d = 8 → each half has 4 channels, frequencies exp(−2i·ln(10000)/4) = 1 and 0.01, interleaved sin/cos.
    const pos: TokenPosition[] = [
      { layerIndex: 0, indexInLayer: 0, layerTokens: 3 },
      { layerIndex: 2, indexInLayer: 5, layerTokens: 9 },
    ];
    const t = sinusoid2d(pos, 8);
    expect(row(t, 0, 8)).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
    const expected = [
      Math.sin(5),
      Math.cos(5),
      Math.sin(0.05),
      Math.cos(0.05),
      Math.sin(2),
      Math.cos(2),
      Math.sin(0.02),
      Math.cos(0.02),
    ];
    row(t, 1, 8).forEach((v, i) => {
      expect(v).toBeCloseTo(expected[i]!, 6);
    });
  });

  it('uses frequencies exp(−2i·ln(10000)/(d/2)) for d = 16', () => {
    const t = sinusoid2d([{ layerIndex: 3, indexInLayer: 7, layerTokens: 10 }], 16);
    for (let i = 0; i < 4; i++) {
      const w = Math.exp((-2 * i * Math.log(10000)) / 8);
      expect(t[2 * i]).toBeCloseTo(Math.sin(7 * w), 6);
      expect(t[2 * i + 1]).toBeCloseTo(Math.cos(7 * w), 6);
      expect(t[8 + 2 * i]).toBeCloseTo(Math.sin(3 * w), 6);
      expect(t[8 + 2 * i + 1]).toBeCloseTo(Math.cos(3 * w), 6);
    }
  });

  it("a token's first half depends only on its index in layer, the second only on its layer", () => {
    const d = 32;
    const pos = positions(40, 9); // layers of 9 tokens
    const t = sinusoid2d(pos, d);
    const first = (i: number) => row(t, i, d).slice(0, d / 2);
    const second = (i: number) => row(t, i, d).slice(d / 2);
    // Same index in layer (3), different layers (0, 1, 2): first halves equal, second halves differ.
    expect(first(3)).toEqual(first(12));
    expect(first(3)).toEqual(first(21));
    expect(second(3)).not.toEqual(second(12));
    // Same layer (1), different indices: second halves equal, first halves differ.
    expect(second(9)).toEqual(second(17));
    expect(first(9)).not.toEqual(first(17));
  });
});

describe('sinusoid1d', () => {
  it('encodes the global token index with frequencies exp(−2i·ln(10000)/d)', () => {
    const d = 6;
    const t = sinusoid1d(5, d);
    for (let i = 0; i < 3; i++) {
      const w = Math.exp((-2 * i * Math.log(10000)) / d);
      expect(t[3 * d + 2 * i]).toBeCloseTo(Math.sin(3 * w), 6);
      expect(t[3 * d + 2 * i + 1]).toBeCloseTo(Math.cos(3 * w), 6);
    }
    expect(row(t, 0, d)).toEqual([0, 1, 0, 1, 0, 1]);
  });
});

describe('PositionEmbedding / StateEmbedding', () => {
  it("'2d' and '1d' are constants, 'learnable' is a registered [L, d] variable; all add a learnable constant", () => {
    const pos = positions(10, 4);
    for (const kind of ['2d', '1d', 'learnable'] as const) {
      const store = new ParamStore();
      const pe = new PositionEmbedding(kind, pos, 8, store, new Rng(1));
      const names = store.names();
      expect(names).toContain('embedding.constant');
      expect(names.includes('embedding.position')).toBe(kind === 'learnable');
      const table = kind === '2d' ? sinusoid2d(pos, 8) : kind === '1d' ? sinusoid1d(10, 8) : undefined;
      if (table) expect(Array.from(pe.values().dataSync())).toEqual(Array.from(table));
      else expect(pe.values().shape).toEqual([10, 8]);
      // Shift the constant and check it lands on every position.
      store.get('embedding.constant').assign(tf.fill([8], 0.5));
      const out = pe.forward();
      expect(out.shape).toEqual([10, 8]);
      const expected = tf.add(pe.values(), 0.5);
      expect(Array.from(out.dataSync())).toEqual(Array.from(expected.dataSync()));
      tf.dispose([out, expected]);
      pe.dispose();
      store.dispose();
    }
  });

  it('initialises every permutation-state row to 1/d and gathers rows by index', () => {
    const store = new ParamStore();
    const se = new StateEmbedding(5, 4, store);
    const table = store.get('embedding.state');
    expect(table.shape).toEqual([5, 4]);
    expect(Array.from(table.dataSync())).toEqual(new Array(20).fill(Math.fround(1 / 4)));
    table.assign(
      tf.tensor2d(
        Float32Array.from({ length: 20 }, (_, i) => i),
        [5, 4],
      ),
    );
    const g = se.forward([3, 0, 3]);
    expect(g.shape).toEqual([3, 4]);
    expect(Array.from(g.dataSync())).toEqual([12, 13, 14, 15, 0, 1, 2, 3, 12, 13, 14, 15]);
    expect(() => se.forward([5])).toThrow(/out of range/);
    expect(() => se.forward([-1])).toThrow(/out of range/);
    expect(() => se.forward([1.5])).toThrow(/out of range/);
    expect(() => se.forward([])).toThrow(/at least one/);
    g.dispose();
    store.dispose();
  });

  it('per position: one random row per state and token, added token by token; a table over the cap is refused', () => {
    const pos = positions(12, 5);
    const model = new PrototypeModel(
      { model: 'none', d: 8, layers: 1, position: '2d', stateEmbedding: 'per-position' },
      pos,
      3,
      new Rng(4),
    );
    const table = model.weights().get('embedding.state')!;
    expect(table.shape).toEqual([3, 12, 8]);
    const values = table.data as Float32Array;
    const std = Math.sqrt(values.reduce((s, v) => s + v * v, 0) / values.length);
    expect(std).toBeGreaterThan(0.5);
    expect(std).toBeLessThan(0.9);
    const x = model.inputs([2, 0]).dataSync();
    const sinus = sinusoid2d(pos, 8);
    for (const [b, state] of [2, 0].entries()) {
      for (const t of [0, 7, 11]) {
        for (let ch = 0; ch < 8; ch++) {
          const expected = sinus[t * 8 + ch]! + values[(state * 12 + t) * 8 + ch]!;
          expect(x[(b * 12 + t) * 8 + ch]).toBeCloseTo(expected, 5);
        }
      }
    }
    model.dispose();
    expect(
      () => new StateEmbedding(50, 4096, new ParamStore(), 'embedding', { tokens: 400, rng: new Rng(1) }),
    ).toThrow(
      /per-position state embedding of 50 states × 400 tokens × d 4096 is 313 MiB, over the 256 MiB cap/,
    );
  });

  it('the model input is position table + constant + state row (+ condition) at every position', () => {
    const pos = positions(12, 5);
    const model = new PrototypeModel({ model: 'none', d: 8, layers: 1, position: '2d' }, pos, 3, new Rng(4));
    const cond = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, -8], [2, 8]);
    const x = model.inputs([2, 0], cond);
    expect(x.shape).toEqual([2, 12, 8]);
    const table = sinusoid2d(pos, 8);
    const xs = x.dataSync();
    const c = cond.dataSync();
    for (let b = 0; b < 2; b++) {
      for (const t of [0, 5, 11]) {
        for (let ch = 0; ch < 8; ch++) {
          const expected = table[t * 8 + ch]! + 0 + 1 / 8 + c[b * 8 + ch]!;
          expect(xs[(b * 12 + t) * 8 + ch]).toBeCloseTo(expected, 6);
        }
      }
    }
    expect(() => model.inputs([0], cond)).toThrow(/condition must be \[1, 8\]/);
    tf.dispose([x, cond]);
    model.dispose();
  });
});
