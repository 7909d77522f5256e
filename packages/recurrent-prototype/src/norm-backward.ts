import { tf } from '@rpg/core';

/**
 * The gradient through a normalisation over the last axis, `x̂ = (x − [mean x]) · rstd`, from dx̂: rstd ·
 * (dx̂ − [mean(dx̂)] − x̂ · mean(dx̂ ⊙ x̂)), the bracketed term only when the input was `centered` (LayerNorm; not
 * RMSNorm).
 */
export function normBackward(
  dxHat: tf.Tensor,
  xHat: tf.Tensor,
  rstd: tf.Tensor,
  centered: boolean,
): tf.Tensor {
  const axis = xHat.rank - 1;
  const base = centered ? tf.sub(dxHat, tf.mean(dxHat, axis, true)) : dxHat;
  return tf.mul(tf.sub(base, tf.mul(xHat, tf.mean(tf.mul(dxHat, xHat), axis, true))), rstd);
}

/** The axes before the last: what a per-feature parameter's gradient sums over. */
export function leadingAxes(rank: number): number[] {
  return [...Array(rank - 1).keys()];
}

/** d/dx SiLU(x) = σ(x)·(1 + x·(1 − σ(x))), from x and σ(x). */
export function siluDerivative(x: tf.Tensor, sig: tf.Tensor): tf.Tensor {
  return tf.mul(sig, tf.add(tf.mul(x, tf.sub(1, sig)), 1));
}
