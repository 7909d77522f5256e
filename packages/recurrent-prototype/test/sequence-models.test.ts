import { Rng, type TensorEntry, tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import {
  createSequenceModel,
  ParamStore,
  type PrototypeConfig,
  resolvePrototypeConfig,
} from '../src/index.js';
import { maxAbs, maxAbsDiff } from './helpers.js';

useBackend();

const D = 16;
const L = 23;
const MODELS = ['mamba2', 'lstm', 'transformer', 'none'] as const;

function build(model: PrototypeConfig['model'], seed = 1, extra: Partial<PrototypeConfig> = {}) {
  const cfg = resolvePrototypeConfig({
    model,
    d: D,
    layers: 2,
    position: '2d',
    dState: 8,
    headDim: 8,
    chunkSize: 8,
    ...extra,
  });
  const store = new ParamStore();
  return { seq: createSequenceModel(cfg, store, new Rng(seed)), store };
}

/** Per-position max |Δ| between two [1, L, d] outputs. */
function perPositionDiff(a: tf.Tensor, b: tf.Tensor): number[] {
  const x = a.dataSync();
  const y = b.dataSync();
  return Array.from({ length: L }, (_, t) => {
    let m = 0;
    for (let c = 0; c < D; c++) m = Math.max(m, Math.abs(x[t * D + c]! - y[t * D + c]!));
    return m;
  });
}

describe('sequence models', () => {
  const t0 = 9;
  for (const model of MODELS) {
    it(`${model}: changing position ${t0} leaves earlier outputs unchanged${model === 'none' ? ' and every other output too' : ' and changes later ones'}`, () => {
      const { seq, store } = build(model);
      const x = tf.randomNormal([1, L, D], 0, 1, 'float32', 2) as tf.Tensor3D;
      const bump = tf.tidy(() => {
        const mask = tf.oneHot([t0], L).reshape([1, L, 1]);
        return tf.add(x, tf.mul(mask, tf.randomNormal([1, 1, D], 0, 1, 'float32', 3))) as tf.Tensor3D;
      });
      const y1 = seq.forward(x);
      const y2 = seq.forward(bump);
      expect(y1.shape).toEqual([1, L, D]);
      const diff = perPositionDiff(y1, y2);
      for (let t = 0; t < t0; t++) expect(diff[t], `position ${t}`).toBeLessThan(1e-6);
      expect(diff[t0]).toBeGreaterThan(1e-3);
      for (let t = t0 + 1; t < L; t++) {
        if (model === 'none') expect(diff[t], `position ${t}`).toBe(0);
        else expect(diff[t], `position ${t}`).toBeGreaterThan(1e-7);
      }
      tf.dispose([x, bump, y1, y2]);
      store.dispose();
    });
  }

  for (const model of MODELS) {
    it(`${model}: same seed → identical outputs and weights; another seed → different`, () => {
      const a = build(model, 11);
      const b = build(model, 11);
      const c = build(model, 12);
      const x = tf.randomNormal([2, L, D], 0, 1, 'float32', 4) as tf.Tensor3D;
      const [ya, yb, yc] = [a, b, c].map((m) => m.seq.forward(x));
      expect(Array.from(ya!.dataSync())).toEqual(Array.from(yb!.dataSync()));
      expect(maxAbsDiff(ya!, yc!)).toBeGreaterThan(1e-3);
      const wa = a.store.weights();
      const wb = b.store.weights();
      expect([...wa.keys()]).toEqual([...wb.keys()]);
      for (const [k, e] of wa)
        expect(Array.from(e.data as Float32Array)).toEqual(Array.from(wb.get(k)!.data as Float32Array));
      tf.dispose([x, ya!, yb!, yc!]);
      for (const m of [a, b, c]) m.store.dispose();
    });
  }

  it('batch elements are processed independently', () => {
    for (const model of MODELS) {
      const { seq, store } = build(model);
      const x = tf.randomNormal([3, L, D], 0, 1, 'float32', 5) as tf.Tensor3D;
      const yAll = seq.forward(x);
      const one = tf.slice(x, [1, 0, 0], [1, L, D]) as tf.Tensor3D;
      const yOne = seq.forward(one);
      const ySlice = tf.slice(yAll, [1, 0, 0], [1, L, D]);
      expect(maxAbsDiff(ySlice, yOne), model).toBeLessThan(1e-5);
      tf.dispose([x, yAll, one, yOne, ySlice]);
      store.dispose();
    }
  });
});

// --- Float64 reference of the pre-LN causal Transformer from its own weights ---------------------------------------

function refTransformer(
  x: number[][],
  w: Map<string, TensorEntry>,
  layers: number,
  heads: number,
): number[][] {
  const d = x[0]!.length;
  const dh = d / heads;
  const W = (name: string) => w.get(`transformer.${name}`)!.data as Float32Array;
  const linear = (v: number[], wt: Float32Array, b: Float32Array, outDim: number) =>
    Array.from({ length: outDim }, (_, j) => v.reduce((s, vi, i) => s + vi * wt[i * outDim + j]!, b[j]!));
  const ln = (v: number[], g: Float32Array, b: Float32Array) => {
    const mu = v.reduce((s, a) => s + a, 0) / v.length;
    const varc = v.reduce((s, a) => s + (a - mu) ** 2, 0) / v.length;
    return v.map((a, i) => ((a - mu) / Math.sqrt(varc + 1e-5)) * g[i]! + b[i]!);
  };
  const erf = (z: number) => {
    // Abramowitz–Stegun 7.1.26 is too coarse; use a series/continued fraction via Math functions.
    const t = 1 / (1 + 0.5 * Math.abs(z));
    const y =
      1 -
      t *
        Math.exp(
          -z * z -
            1.26551223 +
            t *
              (1.00002368 +
                t *
                  (0.37409196 +
                    t *
                      (0.09678418 +
                        t *
                          (-0.18628806 +
                            t *
                              (0.27886807 +
                                t *
                                  (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
        );
    return z >= 0 ? y : -y;
  };
  let h = x.map((r) => [...r]);
  const L = h.length;
  for (let l = 0; l < layers; l++) {
    const p = `${l}`;
    const a = h.map((r) => ln(r, W(`${p}.ln1.weight`), W(`${p}.ln1.bias`)));
    const qkv = a.map((r) => linear(r, W(`${p}.attn.qkv.weight`), W(`${p}.attn.qkv.bias`), 3 * d));
    const ctx = Array.from({ length: L }, () => new Array<number>(d).fill(0));
    for (let hd = 0; hd < heads; hd++) {
      for (let t = 0; t < L; t++) {
        const q = qkv[t]!.slice(hd * dh, (hd + 1) * dh);
        const scores = Array.from({ length: t + 1 }, (_, s) => {
          const k = qkv[s]!.slice(d + hd * dh, d + (hd + 1) * dh);
          return q.reduce((acc, qi, i) => acc + qi * k[i]!, 0) / Math.sqrt(dh);
        });
        const mx = Math.max(...scores);
        const e = scores.map((v) => Math.exp(v - mx));
        const z = e.reduce((s, v) => s + v, 0);
        for (let s = 0; s <= t; s++) {
          for (let i = 0; i < dh; i++) ctx[t]![hd * dh + i]! += (e[s]! / z) * qkv[s]![2 * d + hd * dh + i]!;
        }
      }
    }
    h = h.map((r, t) => {
      const o = linear(ctx[t]!, W(`${p}.attn.out.weight`), W(`${p}.attn.out.bias`), d);
      return r.map((v, i) => v + o[i]!);
    });
    h = h.map((r) => {
      const m = ln(r, W(`${p}.ln2.weight`), W(`${p}.ln2.bias`));
      const hid = linear(m, W(`${p}.mlp.fc1.weight`), W(`${p}.mlp.fc1.bias`), 4 * d).map(
        (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)),
      );
      const o = linear(hid, W(`${p}.mlp.fc2.weight`), W(`${p}.mlp.fc2.bias`), d);
      return r.map((v, i) => v + o[i]!);
    });
  }
  return h.map((r) => ln(r, W('ln_f.weight'), W('ln_f.bias')));
}

describe('transformer', () => {
  it('matches a float64 reference (causal mask, 1/√d_head scaling, multi-head split, GELU MLP, final LN)', () => {
    const { seq, store } = build('transformer', 7, { heads: 4 });
    // Non-trivial LayerNorm parameters, so a wrong gamma/beta use would show.
    for (const name of store.names().filter((n) => /ln|bias/.test(n))) {
      const v = store.get(name);
      v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.3, 'float32', name.length)));
    }
    const x = tf.randomNormal([1, L, D], 0, 1, 'float32', 8) as tf.Tensor3D;
    const y = seq.forward(x);
    const ref = refTransformer((x.arraySync() as number[][][])[0]!, store.weights(), 2, 4).flat();
    expect(maxAbs(Float32Array.from(ref))).toBeGreaterThan(0.5);
    expect(maxAbsDiff(y, Float32Array.from(ref))).toBeLessThan(1e-4);
    tf.dispose([x, y]);
    store.dispose();
  });
});
