import { type NativeBackend, nativeBackend, tf } from '@rpg/core';

/** The attributes of TensorFlow's training-mode FusedBatchNormV3 (`forward`) or of its gradient. */
function fusedAttrs(backend: NativeBackend, epsilon: number, forward: boolean): unknown[] {
  const b = backend.binding;
  return [
    { name: 'T', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
    { name: 'U', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
    { name: 'epsilon', type: b.TF_ATTR_FLOAT, value: epsilon },
    ...(forward ? [{ name: 'exponential_avg_factor', type: b.TF_ATTR_FLOAT, value: 1 }] : []),
    { name: 'data_format', type: b.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: b.TF_ATTR_BOOL, value: true },
  ];
}

/**
 * TensorFlow's training-mode BatchNorm over 4-D NHWC `x4`: the output, the batch mean and biased variance (kept:
 * they leave the caller's gradient scope) and the reserve tensors {@link fusedBatchNormGrad} takes.
 */
export function fusedBatchNorm(
  backend: NativeBackend,
  x4: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor; reserve: tf.Tensor[] } {
  const none = tf.tensor1d([]);
  const [y, batchMean, batchVar, ...reserve] = backend.executeMultipleOutputs(
    'FusedBatchNormV3',
    fusedAttrs(backend, epsilon, true),
    [x4, gamma, beta, none, none],
    6,
  ) as [tf.Tensor, tf.Tensor, tf.Tensor, ...tf.Tensor[]];
  // TensorFlow reports the unbiased batch variance (for its running average); callers get the biased one.
  const count = x4.size / x4.shape[3]!;
  const variance = tf.keep(tf.mul(batchVar, count > 1 ? (count - 1) / count : 1));
  return { y, mean: tf.keep(batchMean), variance, reserve };
}

/** The gradient of {@link fusedBatchNorm}: ∂x (4-D), ∂γ, ∂β from ∂y and what the forward pass kept. */
export function fusedBatchNormGrad(
  backend: NativeBackend,
  dy4: tf.Tensor,
  x4: tf.Tensor,
  gamma: tf.Tensor,
  reserve: tf.Tensor[],
  epsilon: number,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const [dx, dGamma, dBeta] = backend.executeMultipleOutputs(
    'FusedBatchNormGradV3',
    fusedAttrs(backend, epsilon, false),
    [dy4, x4, gamma, ...reserve],
    5,
  );
  return [dx!, dGamma!, dBeta!];
}

/**
 * Training-mode BatchNorm over [N, W, C] as TensorFlow's fused kernels (FusedBatchNormV3 and its gradient, oneDNN
 * on CPU, cuDNN on GPU): one pass each way instead of the ~15 element-wise passes of the op-by-op formulation,
 * which on the decoder's activations cost more than the convolutions. Returns undefined where the backend is not
 * tfjs-node; `mean` and `variance` are the batch statistics (biased variance), kept, without gradient.
 */
export function nativeBatchNormTrain(
  x: tf.Tensor3D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): { y: tf.Tensor3D; mean: tf.Tensor; variance: tf.Tensor } | undefined {
  const backend = nativeBackend();
  if (!backend) return undefined;
  const [n, w, c] = x.shape;
  let mean: tf.Tensor | undefined;
  let variance: tf.Tensor | undefined;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, g, bt, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const x4 = tf.reshape(xIn, [n, 1, w, c]);
    const out = fusedBatchNorm(backend, x4, g, bt, epsilon);
    mean = out.mean;
    variance = out.variance;
    save([x4, g, ...out.reserve]);
    return {
      value: tf.reshape(out.y, [n, w, c]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xS, gS, ...reserve] = saved as tf.Tensor[];
        const [dx, dGamma, dBeta] = fusedBatchNormGrad(
          backend,
          tf.reshape(dy, [n, 1, w, c]),
          xS!,
          gS!,
          reserve,
          epsilon,
        );
        return [tf.reshape(dx, [n, w, c]), dGamma, dBeta];
      },
    };
  });
  const y = op(x, gamma, beta) as tf.Tensor3D;
  return { y, mean: mean!, variance: variance! };
}
