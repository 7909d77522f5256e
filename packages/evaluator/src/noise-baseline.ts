/**
 * The novelty baseline of the RPG paper: original checkpoints plus Gaussian noise of standard deviation σ
 * (0.01, 0.03, 0.05) in the NORMALIZED space the generator works in. A generated model whose accuracy and IoU to
 * the originals look like those of σ = 0.01 noise is a near copy, not a new model.
 *
 * The normalized space is given either as the tokenizer's own pair of functions (exact) or as per-tensor
 * statistics (the tokenizer's `stats` record fits, or {@link fitNoiseStats} computes them from the originals the
 * way the method normalizes), so this package does not depend on the tokenizer.
 */
import { Rng, type StateDict, type TensorEntry } from '@rpg/core';
import { isBnVar, isGeneratedTensor } from './model-tensors.js';

/** Per-tensor normalization `w' = (w − mean)/std`; with `p`, first `v = log(var/p + 0.05)` (BatchNorm running_var). */
export interface TensorStat {
  mean: number;
  /** The divisor actually used (epsilon included). */
  std: number;
  p?: number;
}

export type NormalizedSpace =
  | {
      /** State dict → normalized values (NaN entries, e.g. token padding, stay NaN and are ignored). */
      normalize: (sd: StateDict) => Float32Array;
      /** Normalized values → full state dict (copied tensors included). */
      denormalize: (flat: Float32Array) => StateDict;
    }
  | { stats: Record<string, TensorStat> };

export const DEFAULT_NOISE_SIGMAS: readonly number[] = [0.01, 0.03, 0.05];

const BN_OFFSET = 0.05;
const BN_FLOOR = 0.001;

function tensorMeanStd(values: ArrayLike<number>): { mean: number; std: number } {
  const n = values.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += values[i]!;
  const mean = s / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (values[i]! - mean) ** 2;
  return { mean, std: n > 1 ? Math.sqrt(sq / (n - 1)) : 0 };
}

function bnForward(values: ArrayLike<number>, p: number): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.log(values[i]! / p + BN_OFFSET);
  return out;
}

/**
 * Per-tensor statistics as the method normalizes: each tensor's mean and unbiased std, averaged over all
 * checkpoints, `eps` added to the std; running_var tensors get `p = 0.95·mean(var)` (averaged) and their
 * statistics are taken after the log transform.
 */
export function fitNoiseStats(originals: readonly StateDict[], eps = 1e-8): Record<string, TensorStat> {
  const first = originals[0];
  if (!first) throw new Error('fitNoiseStats needs at least one checkpoint');
  const stats: Record<string, TensorStat> = {};
  for (const [name, entry] of first) {
    if (!isGeneratedTensor(name, entry)) continue;
    const tensors = originals.map((sd, i) => {
      const e = sd.get(name);
      if (!e) throw new Error(`checkpoint ${i} lacks tensor '${name}'`);
      return e.data as Float32Array;
    });
    let p: number | undefined;
    let source: ArrayLike<number>[] = tensors;
    if (isBnVar(name)) {
      p = (0.95 * tensors.reduce((acc, t) => acc + tensorMeanStd(t).mean, 0)) / tensors.length;
      const pp = p;
      source = tensors.map((t) => bnForward(t, pp));
    }
    let meanSum = 0;
    let stdSum = 0;
    for (const t of source) {
      const ms = tensorMeanStd(t);
      meanSum += ms.mean;
      stdSum += ms.std;
    }
    stats[name] = {
      mean: meanSum / source.length,
      std: stdSum / source.length + eps,
      ...(p === undefined ? {} : { p }),
    };
  }
  return stats;
}

/**
 * A copy of `original` with N(0, σ²) added to every generated value in normalized space. With per-tensor stats
 * a tensor without a stat is copied unchanged. Deterministic in `rng`.
 */
export function addNormalizedNoise(
  original: StateDict,
  sigma: number,
  rng: Rng,
  space: NormalizedSpace,
): StateDict {
  if (!(sigma >= 0) || !Number.isFinite(sigma))
    throw new Error(`noise sigma must be a finite number ≥ 0, got ${sigma}`);
  if ('normalize' in space) {
    const flat = Float32Array.from(space.normalize(original));
    for (let i = 0; i < flat.length; i++) flat[i] = flat[i]! + sigma * rng.normal();
    return space.denormalize(flat);
  }
  const out: StateDict = new Map();
  for (const [name, entry] of original) {
    const stat = space.stats[name];
    if (!stat || !isGeneratedTensor(name, entry)) {
      out.set(name, entry);
      continue;
    }
    const src = entry.data as Float32Array;
    const data = new Float32Array(src.length);
    if (stat.p === undefined) {
      // (w − μ)/s + σε, mapped back: w + s·σ·ε.
      const scale = stat.std * sigma;
      for (let i = 0; i < src.length; i++) data[i] = src[i]! + scale * rng.normal();
    } else {
      const p = stat.p;
      for (let i = 0; i < src.length; i++) {
        const z = Math.log(src[i]! / p + BN_OFFSET) + stat.std * sigma * rng.normal();
        data[i] = Math.max(Math.exp(z) - BN_OFFSET, BN_FLOOR) * p;
      }
    }
    const noisy: TensorEntry = { dtype: entry.dtype, shape: [...entry.shape], data };
    out.set(name, noisy);
  }
  return out;
}

/** Which original the `i`-th of `count` noise models perturbs: spread evenly over the originals. */
export function noiseSource(i: number, count: number, numOriginals: number): number {
  return Math.min(numOriginals - 1, Math.floor((i * numOriginals) / count));
}

/**
 * The `i`-th noise model for `sigma`: its own RNG stream forked from `seed` by (σ, i), so each model is the same
 * whatever order or subset is computed.
 */
export function noiseModel(opts: {
  originals: readonly StateDict[];
  sigma: number;
  index: number;
  count: number;
  seed: number;
  space: NormalizedSpace;
}): { model: StateDict; source: number } {
  const { originals, sigma, index, count, seed, space } = opts;
  const source = noiseSource(index, count, originals.length);
  const rng = new Rng(seed).fork(`noise-baseline:${sigma}:${index}`);
  return { model: addNormalizedNoise(originals[source]!, sigma, rng, space), source };
}
