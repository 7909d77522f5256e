import { nativeBackend, tf } from '@rpg/core';
import { BN_EPSILON, BN_MOMENTUM, batchNormTrain } from './batch-norm.js';
import { nativeConvLayerTrain } from './native-conv-layer.js';

/** One conv of the token decoder, its BatchNorm (all but the last conv) or its bias (the last). */
export interface ConvLayer {
  weight: tf.Variable; // [kernel, cin, cout] (tfjs conv1d layout)
  /** Only the last conv has a bias: the others feed BatchNorm, which removes any bias. */
  bias?: tf.Variable;
  bn?: { gamma: tf.Variable; beta: tf.Variable; runningMean: tf.Variable; runningVar: tf.Variable };
}

/**
 * One decoder layer: `conv((x + c)·t)`, then BatchNorm (batch statistics in training, which also move the running
 * ones; running statistics otherwise) and ELU, or the bias for the last conv. `x` [N, k, Cin], `c` [N, k, 1],
 * `t` [N or 1, k, 1] → [N, k, Cout]. A training BatchNorm layer on tfjs-node runs as one native op
 * ({@link nativeConvLayerTrain}); everything else op by op.
 */
export function convLayerForward(
  layer: ConvLayer,
  x: tf.Tensor3D,
  c: tf.Tensor3D,
  t: tf.Tensor3D,
  training: boolean,
): tf.Tensor3D {
  const weight = layer.weight as tf.Tensor3D;
  const [n, k] = x.shape;
  const native = training && layer.bn ? nativeBackend() : undefined;
  if (native && layer.bn) {
    const { gamma, beta } = layer.bn;
    const out = nativeConvLayerTrain(native, { x, c, t, weight, gamma, beta }, BN_EPSILON);
    updateRunningStats(layer.bn, out.mean, out.variance, n * k);
    return out.y;
  }
  const y = tf.conv1d(tf.mul(tf.add(x, c), t) as tf.Tensor3D, weight, 1, 'same');
  if (layer.bn) {
    const bn = layer.bn;
    if (!training) {
      return tf.elu(
        tf.batchNorm(y, bn.runningMean, bn.runningVar, bn.beta, bn.gamma, BN_EPSILON),
      ) as tf.Tensor3D;
    }
    const { y: normed, mean, variance } = batchNormTrain(y, bn.gamma, bn.beta);
    updateRunningStats(bn, mean, variance, n * k);
    return tf.elu(normed);
  }
  return layer.bias ? (tf.add(y, layer.bias) as tf.Tensor3D) : y;
}

/**
 * Moves the running statistics towards a batch's `mean` and biased `variance` over `count` values (momentum,
 * unbiased variance, as PyTorch), then disposes them. Not on the gradient tape (assign is not recorded).
 */
function updateRunningStats(
  bn: NonNullable<ConvLayer['bn']>,
  mean: tf.Tensor,
  variance: tf.Tensor,
  count: number,
): void {
  const unbiased = count > 1 ? count / (count - 1) : 1;
  tf.tidy(() => {
    bn.runningMean.assign(tf.add(tf.mul(bn.runningMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
    bn.runningVar.assign(
      tf.add(tf.mul(bn.runningVar, 1 - BN_MOMENTUM), tf.mul(variance, BN_MOMENTUM * unbiased)),
    );
  });
  tf.dispose([mean, variance]);
}
