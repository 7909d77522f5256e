import { tf } from '@rpg/core';

/** `x @ W (+ b)` over the last axis of a rank-3 `[B, L, in]` tensor; `W` is `[in, out]`. */
export function dense(x: tf.Tensor3D, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor3D {
  const [batch, len, inDim] = x.shape;
  const outDim = w.shape[1];
  let y = tf.matMul(x.reshape([batch * len, inDim]), w);
  if (b) y = tf.add(y, b);
  return y.reshape([batch, len, outDim]);
}

export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/** Exact GELU, `0.5·x·(1 + erf(x/√2))` (PyTorch's default). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

/** LayerNorm over the last axis with affine `gamma`, `beta`. */
export function layerNorm<T extends tf.Tensor>(x: T, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps = 1e-5): T {
  const axis = x.rank - 1;
  const { mean, variance } = tf.moments(x, axis, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), gamma), beta) as T;
}

/** RMSNorm over the last axis with weight `gamma`. */
export function rmsNorm<T extends tf.Tensor>(x: T, gamma: tf.Tensor1D, eps = 1e-5): T {
  const ms = tf.mean(tf.square(x), x.rank - 1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), gamma) as T;
}
