/**
 * L2 distances in parameter space (the generated tensors only, raw values) from models to their nearest original.
 *
 * The reference is {@link stateDictSquaredL2}: float64 sums of float32 differences, one pass per pair, which is
 * slow in JS for many pairs (1-3 ns per value here). {@link NearestOriginalIndex} gives the same answers fast:
 * one float32 Gram matmul in tfjs screens all pairs, with a proven error bound, and only the originals the bound
 * cannot rule out get the exact float64 sum (usually one per model).
 */
import { type StateDict, tf } from '@rpg/core';
import { argNearest } from './metrics.js';
import { isFiniteModel, isGeneratedTensor } from './model-tensors.js';

/** Squared L2 distance between the generated tensors of two state dicts of the same layout (float64 sum). */
export function stateDictSquaredL2(a: StateDict, b: StateDict): number {
  let sum = 0;
  for (const [name, ea] of a) {
    if (!isGeneratedTensor(name, ea)) continue;
    const eb = b.get(name);
    if (!eb || eb.data.length !== ea.data.length)
      throw new Error(`tensor '${name}' differs in size between models`);
    sum += squaredDistance(ea.data as Float32Array, eb.data as Float32Array);
  }
  return sum;
}

/**
 * Σ (x − y)² in float64 with four interleaved accumulators (a fixed order, so always the same result; about twice
 * as fast as one accumulator, whose additions wait for each other).
 */
function squaredDistance(x: Float32Array, y: Float32Array): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const n = x.length;
  const end = n - (n % 4);
  for (let i = 0; i < end; i += 4) {
    const d0 = x[i]! - y[i]!;
    const d1 = x[i + 1]! - y[i + 1]!;
    const d2 = x[i + 2]! - y[i + 2]!;
    const d3 = x[i + 3]! - y[i + 3]!;
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (let i = end; i < n; i++) {
    const d = x[i]! - y[i]!;
    s0 += d * d;
  }
  return s0 + s1 + (s2 + s3);
}

/** The original nearest (L2 over generated tensors) to `model`, skipping index `exclude`; first on ties. */
export function nearestOriginalStateDict(
  model: StateDict,
  originals: readonly StateDict[],
  exclude = -1,
): { index: number; distance: number } {
  const { index, distance: best } = argNearest(originals.length, exclude, (i) =>
    stateDictSquaredL2(model, originals[i]!),
  );
  if (index < 0) {
    throw new Error(
      originals.length > (exclude >= 0 && exclude < originals.length ? 1 : 0)
        ? 'nearestOriginalStateDict: a model has non-finite values (NaN or Inf), so no distance is defined'
        : 'nearestOriginalStateDict needs at least one other original',
    );
  }
  return { index, distance: Math.sqrt(best) };
}

/**
 * Whether tfjs float32 matmuls here are IEEE float32 (the error bound below assumes it): the CPU, wasm and
 * CPU-only TensorFlow backends are; GPUs may use TF32 or float16, and oneDNN can be told to use bfloat16.
 */
export function float32MatmulIsExact(): boolean {
  const fpmath = process.env.ONEDNN_DEFAULT_FPMATH_MODE ?? process.env.TF_SET_ONEDNN_FPMATH_MODE;
  if (fpmath && !/^(strict|f32|fp32)$/i.test(fpmath)) return false;
  const name = tf.getBackend();
  if (name === 'cpu' || name === 'wasm') return true;
  if (name === 'tensorflow')
    return (tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice !== true;
  return false;
}

/** Query values per Gram matmul (×4 bytes). */
const BLOCK_FLOATS = 8 * 1024 * 1024;
const U = 2 ** -24;

/**
 * Nearest-original search with exactly the results of {@link nearestOriginalStateDict}, fast for many models.
 *
 * 1. Gram screen, all pairs at once. Vectors are centred on the originals' mean (so norms measure the spread
 *    of the models, not their magnitude) and rounded to float32; `d² ≈ |x|² + |y|² − 2·x·y` with the dot products
 *    from one tfjs matmul. The error is at most `c·(|x|² + |y|²)`, `c = γ_P + 5u` (u = 2⁻²⁴, P values;
 *    γ_P = P·u/(1 − P·u) bounds a float32 dot product in any summation order, 5u the rounding of the centred
 *    values; twice that is used). An original whose lower bound exceeds the best upper bound cannot be the
 *    nearest.
 * 2. Exact float64 sums ({@link stateDictSquaredL2}) for the originals left; the smallest, first on ties, wins,
 *    as in the reference.
 *
 * How many are left depends on the data: originals from different runs separate at once, while checkpoints of
 * one run are often equidistant to within the bound (measured for 3 runs × 20 MNIST MLP checkpoints: ~20 exact
 * sums per model, the checkpoints of one run, against 60 for the brute force). The bound assumes IEEE float32
 * arithmetic; where {@link float32MatmulIsExact} says no, every pair gets the exact sum.
 */
export class NearestOriginalIndex {
  /** Exact float64 distances computed so far (for diagnostics: ideally about one per query). */
  exactEvaluations = 0;
  private readonly names: string[];
  private readonly size: number;
  private readonly mean: Float64Array;
  private readonly norms: Float64Array;
  /** Error bound of the Gram estimate, relative to |x|² + |y|². */
  private readonly gramError: number;
  /** Whether the Gram screen runs (else every pair is computed exactly). */
  private readonly screen: boolean;
  private centredMatrix: tf.Tensor2D | null = null;
  private disposed = false;

  constructor(private readonly originals: readonly StateDict[]) {
    const first = originals[0];
    if (!first) throw new Error('NearestOriginalIndex needs at least one original');
    originals.forEach((sd, i) => {
      if (!isFiniteModel(sd)) throw new Error(`original ${i} has non-finite values (NaN or Inf)`);
    });
    this.names = [...first].filter(([name, e]) => isGeneratedTensor(name, e)).map(([name]) => name);
    const p = this.names.reduce((s, name) => s + first.get(name)!.data.length, 0);
    this.size = p;
    const gamma = (p * U) / (1 - p * U);
    this.gramError = 2 * (gamma + 5 * U);
    this.mean = new Float64Array(p);
    for (const sd of originals) {
      let offset = 0;
      for (const data of this.tensorsOf(sd)) {
        for (let i = 0; i < data.length; i++) this.mean[offset + i]! += data[i]!;
        offset += data.length;
      }
    }
    for (let i = 0; i < p; i++) this.mean[i]! /= originals.length;
    const { centred, norms } = this.rows(originals);
    this.norms = norms;
    // With P·u near 1 the bound rules nothing out; skip the screen then too.
    this.screen = p > 0 && this.gramError < 0.5 && float32MatmulIsExact();
    if (this.screen) this.centredMatrix = tf.tensor2d(centred, [originals.length, p]);
  }

  /**
   * For each model, the nearest original (excluding `exclude(i)` for model i, e.g. itself) and the L2 distance;
   * null for a model with non-finite values (NaN or ±Inf: no distance is defined).
   */
  nearest(
    models: readonly StateDict[],
    exclude: (model: number) => number = () => -1,
  ): ({ index: number; distance: number } | null)[] {
    if (this.disposed) throw new Error('NearestOriginalIndex was disposed');
    const n = this.originals.length;
    const out: ({ index: number; distance: number } | null)[] = [];
    const block = Math.max(1, Math.floor(BLOCK_FLOATS / Math.max(1, this.size)));
    for (let start = 0; start < models.length; start += block) {
      const group = models.slice(start, start + block);
      const skip = group.map((_, k) => exclude(start + k));
      let candidates: number[][];
      if (this.screen) {
        const { centred, norms } = this.rows(group);
        candidates = this.gramScreen(centred, norms, skip);
      } else {
        candidates = skip.map((e) => Array.from({ length: n }, (_, j) => j).filter((j) => j !== e));
      }
      group.forEach((model, k) => {
        if (!isFiniteModel(model)) {
          out.push(null);
          return;
        }
        let index = -1;
        let best = Number.POSITIVE_INFINITY;
        for (const j of candidates[k]!) {
          this.exactEvaluations++;
          const d = stateDictSquaredL2(model, this.originals[j]!);
          if (d < best) {
            best = d;
            index = j;
          }
        }
        if (index < 0) throw new Error('NearestOriginalIndex.nearest needs at least one other original');
        out.push({ index, distance: Math.sqrt(best) });
      });
    }
    return out;
  }

  dispose(): void {
    this.centredMatrix?.dispose();
    this.centredMatrix = null;
    this.disposed = true;
  }

  /** Stage 1: per query, the originals (ascending) that the Gram estimate cannot rule out. */
  private gramScreen(centred: Float32Array, norms: Float64Array, skip: number[]): number[][] {
    const n = this.originals.length;
    const q = tf.tensor2d(centred, [skip.length, this.size]);
    const g = tf.matMul(q, this.centredMatrix!, false, true);
    const dots = g.dataSync() as Float32Array;
    tf.dispose([q, g]);
    return skip.map((exclude, k) => {
      const lower = new Float64Array(n);
      let bestUpper = Number.POSITIVE_INFINITY;
      for (let j = 0; j < n; j++) {
        if (j === exclude) continue;
        const estimate = norms[k]! + this.norms[j]! - 2 * dots[k * n + j]!;
        const err = this.gramError * (norms[k]! + this.norms[j]!);
        lower[j] = estimate - err;
        bestUpper = Math.min(bestUpper, estimate + err);
      }
      const keep: number[] = [];
      for (let j = 0; j < n; j++) if (j !== exclude && lower[j]! <= bestUpper) keep.push(j);
      return keep;
    });
  }

  /** The generated tensors of `sd`, in the originals' layout order, checked for size. */
  private tensorsOf(sd: StateDict): Float32Array[] {
    return this.names.map((name) => {
      const e = sd.get(name);
      if (!e) throw new Error(`model lacks tensor '${name}'`);
      if (e.data.length !== this.originals[0]!.get(name)!.data.length) {
        throw new Error(`tensor '${name}' differs in size between models`);
      }
      return e.data as Float32Array;
    });
  }

  /** Centred float32 rows and their squared norms (float64 sums of the float32 values). */
  private rows(models: readonly StateDict[]): { centred: Float32Array; norms: Float64Array } {
    const p = this.size;
    const centred = new Float32Array(models.length * p);
    const norms = new Float64Array(models.length);
    models.forEach((sd, m) => {
      const row = centred.subarray(m * p, (m + 1) * p);
      let offset = 0;
      for (const data of this.tensorsOf(sd)) {
        for (let i = 0; i < data.length; i++) row[offset + i] = data[i]! - this.mean[offset + i]!;
        offset += data.length;
      }
      let s = 0;
      for (let i = 0; i < p; i++) s += row[i]! * row[i]!;
      norms[m] = s;
    });
    return { centred, norms };
  }
}
