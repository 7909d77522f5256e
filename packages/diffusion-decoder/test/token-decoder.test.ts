import { Rng, tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { cleanTokens, diffusionLoss, maskedMse } from '../src/loss.js';
import { decoderConfigSchema, TokenDecoder, timestepEmbedding } from '../src/token-decoder.js';

useBackend();

const small = { tokenSize: 16, d: 8, channels: [1, 4, 8, 16, 8, 4, 1], kernel: 7 };

function inputs(seed: number, n: number, k: number, d: number) {
  const rng = new Rng(seed);
  return {
    xt: tf.tensor2d(rng.normalArray(n * k), [n, k]),
    proto: tf.tensor2d(rng.normalArray(n * d), [n, d]),
    t: Array.from({ length: n }, () => rng.int(1000)),
  };
}

describe('TokenDecoder', () => {
  it('maps [N, k] noisy tokens to [N, k] noise predictions without leaking tensors', () => {
    const dec = new TokenDecoder(small, new Rng(1));
    const { xt, proto, t } = inputs(2, 5, 16, 8);
    const before = tf.memory().numTensors;
    for (const training of [true, false]) {
      const out = dec.predictNoise(xt, t, proto, training);
      expect(out.shape).toEqual([5, 16]);
      expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
      out.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([xt, proto]);
    dec.dispose();
  });

  it('computes the step MLP once when every token shares its step, and a precomputed condition, with the same outputs', () => {
    for (const conditioning of ['per-layer', 'shared'] as const) {
      for (const prediction of ['epsilon', 'v'] as const) {
        const dec = new TokenDecoder({ ...small, conditioning, prediction }, new Rng(5));
        const { xt, proto } = inputs(6, 7, 16, 8);
        // Reference: the per-token path, taken when the batch mixes steps (rows are independent in eval mode).
        const extra = inputs(7, 1, 16, 8);
        const mixed = dec.predictNoise(
          tf.concat([xt, extra.xt]) as tf.Tensor2D,
          [...new Array(7).fill(321), 5],
          tf.concat([proto, extra.proto]) as tf.Tensor2D,
          false,
        );
        const perToken = Array.from(mixed.dataSync().slice(0, 7 * 16));
        const shared = dec.predictNoise(xt, new Array(7).fill(321), proto, false);
        const condition = dec.condition(proto);
        const cached = dec.predictNoise(xt, new Array(7).fill(321), condition, false);
        const a = Array.from(shared.dataSync());
        for (let i = 0; i < a.length; i++) expect(a[i]!).toBeCloseTo(perToken[i]!, 5);
        expect(Array.from(cached.dataSync())).toEqual(a);
        // Step MLP outputs kept by step: the same values, on first use and from the cache.
        const times = dec.stepTimes();
        const beforeTimes = tf.memory().numTensors;
        const timed = dec.condition(proto, times);
        for (let r = 0; r < 2; r++) {
          const out = dec.predictNoise(xt, new Array(7).fill(321), timed, false);
          expect(Array.from(out.dataSync())).toEqual(a);
          out.dispose();
        }
        const other = dec.predictNoise(xt, new Array(7).fill(5), timed, false);
        const otherRef = dec.predictNoise(xt, new Array(7).fill(5), proto, false);
        expect(Array.from(other.dataSync())).toEqual(Array.from(otherRef.dataSync()));
        tf.dispose([other, otherRef]);
        timed.dispose();
        times.dispose();
        expect(tf.memory().numTensors).toBe(beforeTimes);
        expect(() => dec.predictNoise(tf.slice(xt, 0, 3), [1, 1, 1], condition, false)).toThrow(
          /proto is \[7,8\], expected \[3, 8\]/,
        );
        condition.dispose();
        tf.dispose([mixed, shared, cached, xt, proto, extra.xt, extra.proto]);
        dec.dispose();
      }
    }
  });

  it('accepts the steps as an int tensor too', () => {
    const dec = new TokenDecoder(small, new Rng(1));
    const { xt, proto, t } = inputs(2, 3, 16, 8);
    const a = dec.predictNoise(xt, t, proto, false);
    const tt = tf.tensor1d(t, 'int32');
    const b = dec.predictNoise(xt, tt, proto, false);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([a, b, tt, xt, proto]);
    dec.dispose();
  });

  it('depends on the prototype (additive condition) and on the step (multiplicative time)', () => {
    for (const conditioning of ['per-layer', 'shared'] as const) {
      const dec = new TokenDecoder({ ...small, conditioning }, new Rng(3));
      const { xt, proto, t } = inputs(4, 4, 16, 8);
      const other = tf.add(proto, 1) as tf.Tensor2D;
      const base = dec.predictNoise(xt, t, proto, false).dataSync();
      const withOther = dec.predictNoise(xt, t, other, false).dataSync();
      const laterT = dec
        .predictNoise(
          xt,
          t.map((s) => (s + 500) % 1000),
          proto,
          false,
        )
        .dataSync();
      const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
        Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));
      expect(maxDiff(base, withOther)).toBeGreaterThan(1e-3);
      expect(maxDiff(base, laterT)).toBeGreaterThan(1e-3);
      tf.dispose([xt, proto, other]);
      dec.dispose();
    }
  });

  it('has per-layer condition and time projections: G·(d·k + k + 256·k + k + k·k + k) + convs', () => {
    const dec = new TokenDecoder(small, new Rng(5));
    const k = 16;
    const d = 8;
    const G = 6;
    const proj = G * (d * k + k + 256 * k + k + k * k + k);
    const ch = small.channels;
    let convs = 0;
    for (let i = 0; i < 6; i++) convs += 7 * ch[i]! * ch[i + 1]! + (i === 5 ? 1 : 2 * ch[i + 1]!);
    expect(dec.parameterCount()).toBe(proj + convs);
    const shared = new TokenDecoder({ ...small, conditioning: 'shared' }, new Rng(5));
    expect(shared.parameterCount()).toBe(proj / G + convs);
    // A narrower step MLP: Linear(256→h), SiLU, Linear(h→k), and still a working network.
    const h = 5;
    const narrow = new TokenDecoder({ ...small, stepHidden: h }, new Rng(5));
    expect(narrow.parameterCount()).toBe(G * (d * k + k + 256 * h + h + h * k + k) + convs);
    const { xt, proto, t } = inputs(2, 3, 16, 8);
    const out = narrow.predictNoise(xt, t, proto, false);
    expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([out, xt, proto]);
    dec.dispose();
    shared.dispose();
    narrow.dispose();
  });

  it('sends a gradient to every trainable variable (skips, condition and time paths are wired)', () => {
    const dec = new TokenDecoder(small, new Rng(6));
    const { xt, proto, t } = inputs(7, 6, 16, 8);
    const target = tf.randomNormal([6, 16], 0, 1, 'float32', 1);
    const { value, grads } = tf.variableGrads(
      () => tf.losses.meanSquaredError(target, dec.predictNoise(xt, t, proto, true)) as tf.Scalar,
      dec.trainableVariables(),
    );
    for (const v of dec.trainableVariables()) {
      const g = grads[v.name]!;
      expect(g, v.name).toBeDefined();
      expect(tf.max(tf.abs(g)).dataSync()[0]!, v.name).toBeGreaterThan(0);
    }
    tf.dispose([value, target, xt, proto, ...Object.values(grads)]);
    dec.dispose();
  });

  it('uses batch statistics in training, updates the running ones, and uses them in eval', () => {
    const dec = new TokenDecoder(small, new Rng(8));
    const { xt, proto, t } = inputs(9, 8, 16, 8);
    const w0 = dec.weights();
    const evalBefore = dec.predictNoise(xt, t, proto, false).dataSync().slice();
    dec.predictNoise(xt, t, proto, true).dispose();
    const w1 = dec.weights();
    expect(w1.get('convs.0.bn.running_mean')!.data).not.toEqual(w0.get('convs.0.bn.running_mean')!.data);
    expect(w1.get('convs.0.bn.running_var')!.data).not.toEqual(w0.get('convs.0.bn.running_var')!.data);
    // Trainable weights are untouched by a forward pass.
    expect(w1.get('convs.0.weight')!.data).toEqual(w0.get('convs.0.weight')!.data);
    const evalAfter = dec.predictNoise(xt, t, proto, false).dataSync();
    expect(Array.from(evalAfter)).not.toEqual(Array.from(evalBefore));
    tf.dispose([xt, proto]);
    dec.dispose();
  });

  it('round-trips its weights bit-exactly, running statistics included', () => {
    const a = new TokenDecoder(small, new Rng(10));
    const { xt, proto, t } = inputs(11, 4, 16, 8);
    a.predictNoise(xt, t, proto, true).dispose(); // move the running statistics off their init
    const b = new TokenDecoder(small, new Rng(99));
    const outA = a.predictNoise(xt, t, proto, false).dataSync();
    expect(Array.from(b.predictNoise(xt, t, proto, false).dataSync())).not.toEqual(Array.from(outA));
    b.loadWeights(a.weights());
    expect(Array.from(b.predictNoise(xt, t, proto, false).dataSync())).toEqual(Array.from(outA));
    for (const [name, entry] of a.weights()) expect(b.weights().get(name), name).toEqual(entry);
    expect(() => b.loadWeights(new Map())).toThrow(/missing "cond.weight"/);
    tf.dispose([xt, proto]);
    a.dispose();
    b.dispose();
  });

  it('validates its configuration', () => {
    expect(decoderConfigSchema.parse({ tokenSize: 256, d: 256 })).toMatchObject({
      channels: [1, 32, 64, 128, 64, 32, 1],
      kernel: 7,
      conditioning: 'per-layer',
    });
    expect(() => decoderConfigSchema.parse({ ...small, channels: [1, 4, 8, 4, 2] })).toThrow(/symmetric|odd/);
    expect(() => decoderConfigSchema.parse({ ...small, channels: [2, 4, 2] })).toThrow(
      /start and end with 1/,
    );
    expect(() => decoderConfigSchema.parse({ ...small, kernel: 4 })).toThrow(/odd/);
  });

  it('embeds steps as [cos, sin] sinusoids of 256 values', () => {
    const e = timestepEmbedding([0, 10]);
    expect(e.length).toBe(512);
    expect(e[0]).toBe(1); // cos(0)
    expect(e[128]).toBe(0); // sin(0)
    expect(e[256]).toBeCloseTo(Math.cos(10), 6);
    expect(e[256 + 128]).toBeCloseTo(Math.sin(10), 6);
    expect(e[256 + 1]).toBeCloseTo(Math.cos(10 * Math.exp(-Math.log(10000) / 128)), 6);
  });
});

describe('masked diffusion loss', () => {
  it('ignores whatever the padding holds: NaN, zeros or garbage give the same loss', () => {
    const dec = new TokenDecoder(small, new Rng(12));
    const rng = new Rng(13);
    const n = 6;
    const k = 16;
    const rows = rng.normalArray(n * k);
    // The last 5 values of every row are padding.
    for (let r = 0; r < n; r++) for (let j = 11; j < k; j++) rows[r * k + j] = Number.NaN;
    const { values, mask } = cleanTokens(rows);
    const garbage = values.slice();
    for (let i = 0; i < garbage.length; i++) if (mask[i] === 0) garbage[i] = 1e6 * (i % 3) - 5e5;
    const noise = tf.tensor2d(rng.normalArray(n * k), [n, k]);
    const proto = tf.tensor2d(rng.normalArray(n * 8), [n, 8]);
    const t = Array.from({ length: n }, () => rng.int(1000));
    const maskT = tf.tensor2d(mask, [n, k]);
    const lossOf = (x0: Float32Array) => {
      const x = tf.tensor2d(x0, [n, k]);
      const l = diffusionLoss(dec, { x0: x, mask: maskT, t, noise, proto, training: false });
      const v = l.dataSync()[0]!;
      tf.dispose([x, l]);
      return v;
    };
    const withNan = lossOf(rows);
    expect(Number.isFinite(withNan)).toBe(true);
    expect(lossOf(values)).toBe(withNan);
    expect(lossOf(garbage)).toBe(withNan);
    // Changing a real value does change the loss.
    const changed = values.slice();
    changed[0] = changed[0]! + 3;
    expect(lossOf(changed)).not.toBe(withNan);
    tf.dispose([noise, proto, maskT]);
    dec.dispose();
  });

  it('maskedMse averages over the real positions only', () => {
    const pred = tf.tensor2d([1, Number.NaN, 3, 1e9], [2, 2]);
    const target = tf.tensor2d([0, 5, 1, 0], [2, 2]);
    const mask = tf.tensor2d([1, 0, 1, 0], [2, 2]);
    expect(maskedMse(pred, target, mask).dataSync()[0]).toBe((1 + 4) / 2);
    tf.dispose([pred, target, mask]);
  });
});
