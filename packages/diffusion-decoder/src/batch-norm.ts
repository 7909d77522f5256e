import { tf } from '@rpg/core';
import { nativeBatchNormTrain } from './native-batch-norm.js';

/** PyTorch's BatchNorm defaults. */
export const BN_EPSILON = 1e-5;
export const BN_MOMENTUM = 0.1;

/**
 * Training-mode BatchNorm over [N, W, C] with its gradient written out
 * (`dx = γ·invStd·(dy − mean(dy) − x̂·mean(dy·x̂))`): tfjs differentiates its batchNorm through many full-size
 * ops, which made BatchNorm cost more than the convolutions. Returns the batch statistics (kept, no gradient).
 */
export function batchNormTrain(
  x: tf.Tensor3D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
): { y: tf.Tensor3D; mean: tf.Tensor; variance: tf.Tensor } {
  const native = nativeBatchNormTrain(x, gamma, beta, BN_EPSILON);
  if (native) return native;
  let mean: tf.Tensor | undefined;
  let variance: tf.Tensor | undefined;
  const count = x.shape[0] * x.shape[1];
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, g, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    // tf.moments' own steps, keeping x − mean for x̂ instead of computing it twice (the same values).
    const m = tf.mean(xIn, [0, 1]);
    const centred = tf.sub(xIn, m);
    const v = tf.mean(tf.square(centred), [0, 1]);
    mean = tf.keep(m);
    variance = tf.keep(v);
    const invStd = tf.rsqrt(tf.add(v, BN_EPSILON));
    const xHat = tf.mul(centred, invStd);
    save([xHat, invStd, g]);
    return {
      value: tf.add(tf.mul(xHat, g), b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xHatS, invStdS, gS] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dBeta = tf.sum(dy, [0, 1]);
        const dGamma = tf.sum(tf.mul(dy, xHatS), [0, 1]);
        const centred = tf.sub(dy, tf.div(dBeta, count));
        const dx = tf.mul(tf.sub(centred, tf.mul(xHatS, tf.div(dGamma, count))), tf.mul(gS, invStdS));
        return [dx, dGamma, dBeta];
      },
    };
  });
  const y = op(x, gamma, beta) as tf.Tensor3D;
  return { y, mean: mean!, variance: variance! };
}
