import { tf } from '@rpg/core';

/** The part of tfjs-node's kernel backend used here: it runs any TensorFlow op by name. */
interface NativeBackend {
  binding: Record<string, number>;
  executeMultipleOutputs(name: string, attrs: unknown[], inputs: tf.Tensor[], outputs: number): tf.Tensor[];
}

/** tfjs-node's backend (CPU or GPU build), or undefined on the pure-JS backends. */
function nativeBackend(): NativeBackend | undefined {
  if (tf.getBackend() !== 'tensorflow') return undefined;
  const backend = tf.backend() as unknown as Partial<NativeBackend>;
  return typeof backend.executeMultipleOutputs === 'function' && backend.binding
    ? (backend as NativeBackend)
    : undefined;
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
  const b = backend.binding;
  const attrs = (forward: boolean) => [
    { name: 'T', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
    { name: 'U', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
    { name: 'epsilon', type: b.TF_ATTR_FLOAT, value: epsilon },
    ...(forward ? [{ name: 'exponential_avg_factor', type: b.TF_ATTR_FLOAT, value: 1 }] : []),
    { name: 'data_format', type: b.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: b.TF_ATTR_BOOL, value: true },
  ];
  const [n, w, c] = x.shape;
  const count = n * w;
  let mean: tf.Tensor | undefined;
  let variance: tf.Tensor | undefined;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, g, bt, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const x4 = tf.reshape(xIn, [n, 1, w, c]);
    const none = tf.tensor1d([]);
    const [y, batchMean, batchVar, r1, r2, r3] = backend.executeMultipleOutputs(
      'FusedBatchNormV3',
      attrs(true),
      [x4, g, bt, none, none],
      6,
    ) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    // TensorFlow reports the unbiased batch variance (for its running average); callers get the biased one.
    mean = tf.keep(batchMean);
    variance = tf.keep(tf.mul(batchVar, count > 1 ? (count - 1) / count : 1));
    save([x4, g, r1, r2, r3]);
    return {
      value: tf.reshape(y, [n, w, c]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xS, gS, s1, s2, s3] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const [dx, dGamma, dBeta] = backend.executeMultipleOutputs(
          'FusedBatchNormGradV3',
          attrs(false),
          [tf.reshape(dy, [n, 1, w, c]), xS, gS, s1, s2, s3],
          5,
        ) as tf.Tensor[];
        return [tf.reshape(dx!, [n, w, c]), dGamma!, dBeta!];
      },
    };
  });
  const y = op(x, gamma, beta) as tf.Tensor3D;
  return { y, mean: mean!, variance: variance! };
}
