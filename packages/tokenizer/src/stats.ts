import type { TensorStats } from './state.js';
import { BN_VAR_P_FACTOR, BN_VAR_SHIFT } from './transform.js';

/** Mean and unbiased (n − 1) standard deviation in float64, two-pass with the rounding correction of the second pass. */
export function meanStd(values: ArrayLike<number>): { mean: number; std: number } {
  const n = values.length;
  if (n < 2) throw new Error(`meanStd needs at least 2 values, got ${n}`);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i]!;
  const mean = sum / n;
  let sq = 0;
  let dev = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i]! - mean;
    sq += d * d;
    dev += d;
  }
  const variance = Math.max(0, (sq - (dev * dev) / n) / (n - 1));
  return { mean, std: Math.sqrt(variance) };
}

export function meanOf(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return sum / values.length;
}

/** Standard statistics of one tensor across checkpoints: μ and σ per checkpoint, each averaged; σ += eps. */
export function standardStats(perCheckpoint: readonly ArrayLike<number>[], eps: number): TensorStats {
  let mean = 0;
  let std = 0;
  for (const values of perCheckpoint) {
    const s = meanStd(values);
    mean += s.mean;
    std += s.std;
  }
  return { mean: mean / perCheckpoint.length, std: std / perCheckpoint.length + eps };
}

/** BatchNorm running_var: p from the averaged mean, then standard statistics of log(var/p + 0.05). */
export function bnVarStats(perCheckpoint: readonly ArrayLike<number>[], eps: number): TensorStats {
  let meanVar = 0;
  for (const values of perCheckpoint) meanVar += meanOf(values);
  const p = (BN_VAR_P_FACTOR * meanVar) / perCheckpoint.length;
  const logged = perCheckpoint.map((values) => {
    const out = new Float64Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = Math.log(values[i]! / p + BN_VAR_SHIFT);
    return out;
  });
  return { ...standardStats(logged, eps), p };
}
