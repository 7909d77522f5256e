/**
 * Per-value normalization of generated tensors and its inverse. All arithmetic is float64 and rounds to float32
 * once, at the end.
 *
 * standard: x = (w − μ)/σ                         inverse w = x·σ + μ
 * bn-var:   x = (log(w/p + 0.05) − μ)/σ           inverse w = max(exp(x·σ + μ) − 0.05, 0.001)·p
 *
 * Bit-exactness. With `normalize: false` the tokens are the values themselves and the round trip is bit-exact. A
 * normalized token is a float32, and no affine map (w − μ)/σ can be undone exactly for every float32 w: where the
 * map squeezes the float32 grid of w (w near 0 when μ ≠ 0, or where w's mantissa is finer than x's for a σ that is
 * not a power of two) several w share one token. Tokens are rounded once from float64 (also trying the float32
 * neighbours of the rounded quotient made no further value exact on test checkpoints), so the round trip is
 * bit-exact for most values and otherwise off by at most 2^-24·(|w − μ| + |w|), about one float32 ulp of
 * max(|w|, |w − μ|). For running_var the token's rounding is magnified by the exp: off by at most about
 * 2^-24·(|v' − μ|·(var + 0.05·p) + var), v' = log(var/p + 0.05) (a few ulps for var ≪ p); and a variance below
 * 0.001·p comes back as 0.001·p (the floor of the inverse).
 */
import type { TensorStats, Transform } from './state.js';

/** Floor under exp(x) − 0.05 in the running_var inverse (times p): values of var below 0.001·p come back as 0.001·p. */
export const BN_VAR_FLOOR = 0.001;
/** Offset inside the running_var log: v' = log(var/p + 0.05). */
export const BN_VAR_SHIFT = 0.05;
/** p = BN_VAR_P_FACTOR · mean(var), averaged over checkpoints. */
export const BN_VAR_P_FACTOR = 0.95;

export interface ValueCodec {
  /** float64 token value before rounding to float32. */
  forward(w: number): number;
  /** float64 value before rounding to float32. */
  inverse(x: number): number;
}

export function codecFor(stats: TensorStats, transform: Transform): ValueCodec {
  const { mean, std } = stats;
  if (transform === 'bn-var') {
    const p = stats.p;
    if (p === undefined) throw new Error('bn-var statistics lack p');
    return {
      forward: (w) => (Math.log(w / p + BN_VAR_SHIFT) - mean) / std,
      inverse: (x) => Math.max(Math.exp(x * std + mean) - BN_VAR_SHIFT, BN_VAR_FLOOR) * p,
    };
  }
  return { forward: (w) => (w - mean) / std, inverse: (x) => x * std + mean };
}

/** True when the stats make the map the identity (normalize: false); then values are copied bit for bit. */
export function isIdentity(stats: TensorStats, transform: Transform): boolean {
  return transform === 'standard' && stats.mean === 0 && stats.std === 1;
}

/** A run of values: src[srcStart .. srcStart+length) into dst[dstStart ..), by the map of `stats` and `transform`. */
type Run = [
  src: ArrayLike<number>,
  srcStart: number,
  length: number,
  dst: Float32Array,
  dstStart: number,
  stats: TensorStats,
  transform: Transform,
];

/** Maps a run through the codec's `forward` (encode) or `inverse` (decode); the identity copies bit for bit. */
function mapRun(
  way: keyof ValueCodec,
  ...[src, srcStart, length, dst, dstStart, stats, transform]: Run
): void {
  if (isIdentity(stats, transform)) {
    if (src instanceof Float32Array) dst.set(src.subarray(srcStart, srcStart + length), dstStart);
    else for (let i = 0; i < length; i++) dst[dstStart + i] = src[srcStart + i]!;
    return;
  }
  const map = codecFor(stats, transform)[way];
  for (let i = 0; i < length; i++) dst[dstStart + i] = map(src[srcStart + i]!);
}

/** Encodes src[srcStart .. srcStart+length) into dst[dstStart ..). */
export function encodeRun(...run: Run): void {
  mapRun('forward', ...run);
}

/** Decodes src[srcStart .. srcStart+length) into dst[dstStart ..). */
export function decodeRun(...run: Run): void {
  mapRun('inverse', ...run);
}
