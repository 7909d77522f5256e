import { Rng, type TensorEntry, tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import {
  chunkedScan,
  chunkedScanCarry,
  createSequenceModel,
  type Mamba2Stack,
  ParamStore,
  resolvePrototypeConfig,
  type ScanInputs,
  sequentialScan,
} from '../src/index.js';
import { wasmScanFits, wasmScanOp } from '../src/ssd-scan-wasm.js';
import { maxAbs, maxAbsDiff } from './helpers.js';

useBackend();

function randomInputs(
  seed: number,
  B: number,
  L: number,
  H: number,
  P: number,
  N: number,
  dtMax = 0.5,
): ScanInputs {
  const rng = new Rng(seed);
  return {
    x: tf.tensor4d(rng.normalArray(B * L * H * P), [B, L, H, P]),
    dt: tf.tensor3d(rng.uniformArray(B * L * H, 0.001, dtMax), [B, L, H]),
    a: tf.tensor1d(rng.uniformArray(H, -16, -0.5)),
    bMat: tf.tensor3d(rng.normalArray(B * L * N), [B, L, N]),
    cMat: tf.tensor3d(rng.normalArray(B * L * N), [B, L, N]),
  };
}

const keys = ['x', 'dt', 'a', 'bMat', 'cMat'] as const;

/** The gradients of Σ scan(inputs) ∘ probe with respect to each input, in the order of `keys`. */
function scanGradients(
  scan: (i: ScanInputs) => tf.Tensor,
  inputs: ScanInputs,
  probe: tf.Tensor,
): tf.Tensor[] {
  return tf.grads((x, dt, a, bMat, cMat) =>
    tf.sum(
      tf.mul(
        scan({
          x: x as tf.Tensor4D,
          dt: dt as tf.Tensor3D,
          a: a as tf.Tensor1D,
          bMat: bMat as tf.Tensor3D,
          cMat: cMat as tf.Tensor3D,
        }),
        probe,
      ),
    ),
  )(keys.map((k) => inputs[k]));
}

describe('SSD scan in WebAssembly', () => {
  // N a multiple of 4 (the kernel's vectors); L around and across the 16-step checkpoints; strong decay.
  const cases = [
    { seed: 21, B: 2, L: 37, H: 3, P: 5, N: 8, dtMax: 0.5 },
    { seed: 22, B: 1, L: 16, H: 2, P: 4, N: 4, dtMax: 0.5 },
    { seed: 23, B: 1, L: 300, H: 2, P: 4, N: 8, dtMax: 3 },
  ];

  it('is what chunkedScan runs here when N is a multiple of 4, and not otherwise', () => {
    const fits = randomInputs(1, 1, 5, 2, 3, 4);
    const odd = randomInputs(1, 1, 5, 2, 3, 5);
    expect(wasmScanFits(fits)).toBe(true);
    expect(wasmScanFits(odd)).toBe(false);
    tf.dispose([...Object.values(fits), ...Object.values(odd)]);
  });

  for (const { seed, B, L, H, P, N, dtMax } of cases) {
    it(`equals the sequential scan, outputs and every gradient (B ${B}, L ${L}, N ${N}, Δ ≤ ${dtMax})`, () => {
      const inputs = randomInputs(seed, B, L, H, P, N, dtMax);
      const ref = sequentialScan(inputs);
      const y = wasmScanOp(inputs);
      expect(maxAbsDiff(y, ref) / maxAbs(ref)).toBeLessThan(2e-5);
      const probe = tf.randomNormal([B, L, H, P], 0, 1, 'float32', seed);
      const gRef = scanGradients(sequentialScan, inputs, probe);
      const g = scanGradients(wasmScanOp, inputs, probe);
      g.forEach((gi, k) => {
        expect(gi.shape).toEqual(gRef[k]!.shape);
        const scale = maxAbs(gRef[k]!);
        expect(scale, keys[k]).toBeGreaterThan(0);
        expect(maxAbsDiff(gi, gRef[k]!) / scale, `d/d${keys[k]}`).toBeLessThan(2e-5);
      });
      tf.dispose([ref, y, probe, ...g, ...gRef, ...Object.values(inputs)]);
    });
  }

  it('gives the same numbers run to run and leaves no tensor behind', () => {
    const inputs = randomInputs(24, 2, 40, 2, 4, 8);
    const probe = tf.randomNormal([2, 40, 2, 4], 0, 1, 'float32', 3);
    const before = tf.memory().numTensors;
    const [a, b] = [0, 1].map(() => scanGradients(wasmScanOp, inputs, probe));
    expect(tf.memory().numTensors).toBe(before + a!.length + b!.length);
    for (const [k, ga] of a!.entries())
      expect(Array.from(ga.dataSync())).toEqual(Array.from(b![k]!.dataSync()));
    tf.dispose([...a!, ...b!, probe, ...Object.values(inputs)]);
  });
});

describe('chunked SSD scan', () => {
  it('equals the sequential scan (several chunk sizes, L not a multiple of the chunk, both inter-chunk modes)', () => {
    const inputs = randomInputs(1, 2, 37, 3, 5, 4);
    const ref = sequentialScan(inputs);
    expect(ref.shape).toEqual([2, 37, 3, 5]);
    expect(maxAbs(ref)).toBeGreaterThan(0.5);
    for (const chunkSize of [1, 5, 8, 16, 37, 64]) {
      for (const interChunk of ['matrix', 'loop'] as const) {
        const y = chunkedScan(inputs, { chunkSize, interChunk, kernel: 'tensorflow' });
        expect(y.shape).toEqual(ref.shape);
        expect(maxAbsDiff(y, ref), `Q=${chunkSize} ${interChunk}`).toBeLessThan(1e-4);
        y.dispose();
      }
    }
    tf.dispose([ref, ...Object.values(inputs)]);
  });

  it('continues from a carried state: blocks scanned one after another give the whole sequence', () => {
    const inputs = randomInputs(3, 2, 45, 3, 4, 5);
    const whole = chunkedScan(inputs, { chunkSize: 8, kernel: 'tensorflow' });
    const cut = (t: tf.Tensor, from: number, size: number) =>
      tf.slice(t, [0, from], [t.shape[0], size]) as never;
    for (const [sizes, interChunk] of [
      [[16, 29], 'matrix'],
      [[8, 5, 32], 'loop'],
      [[45], 'matrix'],
    ] as const) {
      let state: tf.Tensor4D | undefined;
      let from = 0;
      const parts: tf.Tensor[] = [];
      for (const size of sizes) {
        const part: ScanInputs = {
          x: cut(inputs.x, from, size),
          dt: cut(inputs.dt, from, size),
          a: inputs.a,
          bMat: cut(inputs.bMat, from, size),
          cMat: cut(inputs.cMat, from, size),
        };
        const out = chunkedScanCarry(part, { chunkSize: 8, interChunk }, state);
        parts.push(out.y);
        state?.dispose();
        state = out.state;
        from += size;
      }
      expect(state!.shape).toEqual([2, 3, 4, 5]);
      const joined = tf.concat(parts, 1);
      expect(maxAbsDiff(joined, whole), sizes.join('+')).toBeLessThan(1e-5);
      tf.dispose([joined, state!, ...parts]);
    }
    // Without an initial state it is chunkedScan exactly.
    const alone = chunkedScanCarry(inputs, { chunkSize: 8 });
    expect(maxAbsDiff(alone.y, whole)).toBe(0);
    tf.dispose([whole, alone.y, alone.state, ...Object.values(inputs)]);
  });

  it('stays finite and exact with long sequences and strong decay (no overflow in masked entries)', () => {
    const inputs = randomInputs(2, 1, 300, 2, 4, 8, 3);
    const ref = sequentialScan(inputs);
    const y = chunkedScan(inputs, { chunkSize: 64, kernel: 'tensorflow' });
    const values = y.dataSync();
    expect(values.every(Number.isFinite)).toBe(true);
    expect(maxAbsDiff(y, ref)).toBeLessThan(1e-4);
    tf.dispose([ref, y, ...Object.values(inputs)]);
  });

  it('keeps precision when strong early decay is followed by weak decay (segment sums, not differences)', () => {
    const B = 1;
    const L = 400;
    const H = 2;
    const inputs = randomInputs(5, B, L, H, 4, 8);
    const rng = new Rng(6);
    const dt = Float32Array.from({ length: B * L * H }, (_, i) =>
      i < (L * H) / 2 ? 3 : 0.001 + 0.01 * rng.uniform(),
    );
    inputs.dt.dispose();
    inputs.dt = tf.tensor3d(dt, [B, L, H]);
    inputs.a.dispose();
    inputs.a = tf.tensor1d([-16, -8]);
    const ref = sequentialScan(inputs);
    for (const interChunk of ['matrix', 'loop'] as const) {
      const y = chunkedScan(inputs, { chunkSize: 16, interChunk, kernel: 'tensorflow' });
      expect(maxAbsDiff(y, ref) / maxAbs(ref), interChunk).toBeLessThan(2e-5);
      y.dispose();
    }
    tf.dispose([ref, ...Object.values(inputs)]);
  });

  it('has the same gradients as the sequential scan for every input', () => {
    const inputs = randomInputs(3, 2, 21, 2, 3, 4);
    const probe = tf.randomNormal([2, 21, 2, 3], 0, 1, 'float32', 9);
    const grads = (scan: (i: ScanInputs) => tf.Tensor) => scanGradients(scan, inputs, probe);
    const gRef = grads(sequentialScan);
    for (const interChunk of ['matrix', 'loop'] as const) {
      const g = grads((i) => chunkedScan(i, { chunkSize: 8, interChunk, kernel: 'tensorflow' }));
      g.forEach((gi, k) => {
        const scale = Math.max(1, maxAbs(gRef[k]!));
        expect(maxAbsDiff(gi, gRef[k]!) / scale, `d/d${keys[k]} ${interChunk}`).toBeLessThan(1e-4);
      });
      tf.dispose(g);
    }
    tf.dispose([...gRef, probe, ...Object.values(inputs)]);
  });

  it('has hand-written gradients equal to those recorded op by op (one chunk, padded chunks, strong decay)', () => {
    const cases = [
      { seed: 11, B: 2, L: 16, q: 16, dtMax: 0.5 },
      { seed: 12, B: 2, L: 45, q: 8, dtMax: 0.5 },
      { seed: 13, B: 1, L: 130, q: 32, dtMax: 3 },
    ];
    for (const { seed, B, L, q, dtMax } of cases) {
      const inputs = randomInputs(seed, B, L, 3, 4, 5, dtMax);
      const probe = tf.randomNormal([B, L, 3, 4], 0, 1, 'float32', seed);
      const grads = (scan: (i: ScanInputs) => tf.Tensor) => scanGradients(scan, inputs, probe);
      const options = { chunkSize: q, interChunk: 'matrix', kernel: 'tensorflow' } as const;
      // chunkedScanCarry runs the same forward under the tape.
      const gTaped = grads((i) => chunkedScanCarry(i, options).y);
      const gHand = grads((i) => chunkedScan(i, options));
      gHand.forEach((g, k) => {
        expect(g.shape).toEqual(gTaped[k]!.shape);
        const scale = maxAbs(gTaped[k]!);
        expect(scale, keys[k]).toBeGreaterThan(0);
        expect(maxAbsDiff(g, gTaped[k]!) / scale, `d/d${keys[k]} L=${L} Q=${q}`).toBeLessThan(1e-5);
      });
      tf.dispose([...gTaped, ...gHand, probe, ...Object.values(inputs)]);
    }
  });

  it('rejects inputs whose shapes disagree', () => {
    const inputs = randomInputs(4, 1, 5, 2, 3, 4);
    const bad = { ...inputs, a: tf.tensor1d([-1, -1, -1]) };
    expect(() => chunkedScan(bad)).toThrow(/shapes do not agree/);
    tf.dispose([bad.a, ...Object.values(inputs)]);
  });
});

// --- A plain float64 reference of the Mamba2 block, computed from the block's own weights. ---------------------

const softplus = (v: number) => (v > 20 ? v : Math.log1p(Math.exp(v)));
const siluF = (v: number) => v / (1 + Math.exp(-v));

function referenceMamba2(
  u: number[][],
  w: Map<string, TensorEntry>,
  prefix: string,
  cfg: { d: number; n: number; k: number; p: number; expand: number },
): number[][] {
  const { d, n, k, p } = cfg;
  const dInner = cfg.expand * d;
  const H = dInner / p;
  const convDim = dInner + 2 * n;
  const dIn = 2 * dInner + 2 * n + H;
  const get = (name: string) => w.get(`${prefix}.${name}`)!.data as Float32Array;
  const [inW, convW, convB, dtBias, aLog, D, normW, outW] = [
    'in_proj.weight',
    'conv1d.weight',
    'conv1d.bias',
    'dt_bias',
    'A_log',
    'D',
    'norm.weight',
    'out_proj.weight',
  ].map(get) as Float32Array[];
  const L = u.length;
  const proj = u.map((row) =>
    Array.from({ length: dIn }, (_, j) => row.reduce((s, v, i) => s + v * inW![i * dIn + j]!, 0)),
  );
  const conv = proj.map((_, t) =>
    Array.from({ length: convDim }, (_, c) => {
      let s = convB![c]!;
      for (let j = 0; j < k; j++) {
        const src = t - (k - 1) + j;
        if (src >= 0) s += convW![j * convDim + c]! * proj[src]![dInner + c]!;
      }
      return siluF(s);
    }),
  );
  const S = Array.from({ length: H }, () => Array.from({ length: p }, () => new Array<number>(n).fill(0)));
  const out: number[][] = [];
  for (let t = 0; t < L; t++) {
    const x = conv[t]!.slice(0, dInner);
    const B = conv[t]!.slice(dInner, dInner + n);
    const C = conv[t]!.slice(dInner + n);
    const y = new Array<number>(dInner).fill(0);
    for (let h = 0; h < H; h++) {
      const dt = softplus(proj[t]![2 * dInner + 2 * n + h]! + dtBias![h]!);
      const decay = Math.exp(dt * -Math.exp(aLog![h]!));
      for (let q = 0; q < p; q++) {
        const xv = x[h * p + q]!;
        let acc = 0;
        for (let m = 0; m < n; m++) {
          S[h]![q]![m] = decay * S[h]![q]![m]! + dt * xv * B[m]!;
          acc += S[h]![q]![m]! * C[m]!;
        }
        y[h * p + q] = acc + D![h]! * xv;
      }
    }
    const g = y.map((v, i) => v * siluF(proj[t]![i]!));
    const rms = 1 / Math.sqrt(g.reduce((s, v) => s + v * v, 0) / dInner + 1e-5);
    const normed = g.map((v, i) => v * rms * normW![i]!);
    out.push(Array.from({ length: d }, (_, j) => normed.reduce((s, v, i) => s + v * outW![i * d + j]!, 0)));
  }
  return out;
}

describe('Mamba2 stack', () => {
  it('matches a float64 reference of two stacked blocks (no residual), with chunked and sequential scans', () => {
    const cfg = resolvePrototypeConfig({
      model: 'mamba2',
      d: 8,
      layers: 2,
      position: '2d',
      dState: 4,
      headDim: 4,
      chunkSize: 4,
    });
    const store = new ParamStore();
    const model = createSequenceModel(cfg, store, new Rng(5)) as Mamba2Stack;
    const L = 11;
    const u = tf.randomNormal([1, L, 8], 0, 1, 'float32', 3) as tf.Tensor3D;
    const w = store.weights();
    const shape = { d: 8, n: 4, k: 4, p: 4, expand: 2 };
    const uRows = (u.arraySync() as number[][][])[0]!;
    const ref = referenceMamba2(referenceMamba2(uRows, w, 'mamba.0', shape), w, 'mamba.1', shape).flat();
    expect(maxAbs(Float32Array.from(ref))).toBeGreaterThan(0.05);
    for (const scan of ['chunked', 'sequential'] as const) {
      model.setScan(scan);
      const y = model.forward(u);
      expect(y.shape).toEqual([1, L, 8]);
      expect(maxAbsDiff(y, Float32Array.from(ref)), scan).toBeLessThan(1e-4);
      y.dispose();
    }
    u.dispose();
    store.dispose();
  });
});
