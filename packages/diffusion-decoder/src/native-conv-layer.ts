import { type NativeBackend, tf } from '@rpg/core';
import { fusedBatchNorm, fusedBatchNormGrad } from './native-batch-norm.js';

/**
 * One training-mode decoder layer, `y = ELU(BatchNorm(conv1d((x + c)·t, W)))`, on tfjs-node as one differentiable
 * op built from TensorFlow's kernels each way (Conv2D and its two gradients, FusedBatchNormV3 and its gradient, Elu
 * and EluGrad). Recorded op by op, tfjs puts a copy of every op's inputs on the tape, a dtype cast in every
 * product's gradient and a reshape in every sum's: about 45 kernels per layer and step. This is about 20. For the
 * backward pass it keeps three full-size activations of its own per layer ((x + c)·t, the conv output and y) instead
 * of five, and its input x, which is the previous layer's y unless a skip is added to it. The kernels are those the
 * op-by-op layer runs; the results equal it within float rounding (tested).
 *
 * `x` [N, k, Cin], `c` [N, k, 1], `t` [N or 1, k, 1], `weight` [kernel, Cin, Cout], `gamma`/`beta` [Cout]. Returns
 * y [N, k, Cout] and the batch statistics (mean, biased variance; kept, without gradient).
 */
export function nativeConvLayerTrain(
  backend: NativeBackend,
  inputs: {
    x: tf.Tensor3D;
    c: tf.Tensor3D;
    t: tf.Tensor3D;
    weight: tf.Tensor3D;
    gamma: tf.Tensor;
    beta: tf.Tensor;
  },
  epsilon: number,
): { y: tf.Tensor3D; mean: tf.Tensor; variance: tf.Tensor } {
  const b = backend.binding;
  const [n, k, cin] = inputs.x.shape;
  const [kernel, , cout] = inputs.weight.shape;
  const type = { name: 'T', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT };
  const convAttrs = [
    type,
    { name: 'strides', type: b.TF_ATTR_INT, value: [1, 1, 1, 1] },
    { name: 'padding', type: b.TF_ATTR_STRING, value: 'SAME' },
    { name: 'data_format', type: b.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'use_cudnn_on_gpu', type: b.TF_ATTR_BOOL, value: true },
    { name: 'dilations', type: b.TF_ATTR_INT, value: [1, 1, 1, 1] },
  ];
  const run = (name: string, attrs: unknown[], args: unknown[], outputs = 1) =>
    backend.executeMultipleOutputs(name, attrs, args, outputs);
  let mean: tf.Tensor | undefined;
  let variance: tf.Tensor | undefined;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, c, t, weight, gamma, beta, save] = args as [
      tf.Tensor3D,
      tf.Tensor3D,
      tf.Tensor3D,
      tf.Tensor3D,
      tf.Tensor,
      tf.Tensor,
      tf.GradSaveFunc,
    ];
    const u = tf.reshape(tf.mul(tf.add(x, c), t), [n, 1, k, cin]);
    const w4 = tf.reshape(weight, [1, kernel, cin, cout]);
    const [z] = run('Conv2D', convAttrs, [u, w4]);
    const norm = fusedBatchNorm(backend, z!, gamma, beta, epsilon);
    mean = norm.mean;
    variance = norm.variance;
    const [y] = run('Elu', [type], [norm.y]);
    save([x, c, t, u, w4, z!, gamma, y!, ...norm.reserve]);
    return {
      value: tf.reshape(y!, [n, k, cout]) as tf.Tensor3D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xS, cS, tS, uS, wS, zS, gS, yS, ...reserve] = saved as tf.Tensor[];
        const [dNormed] = run('EluGrad', [type], [tf.reshape(dy, [n, 1, k, cout]), yS]);
        const [dz, dGamma, dBeta] = fusedBatchNormGrad(backend, dNormed!, zS!, gS!, reserve, epsilon);
        const [du4] = run('Conv2DBackpropInput', convAttrs, [tf.tensor1d([n, 1, k, cin], 'int32'), wS, dz]);
        const [dw] = run('Conv2DBackpropFilter', convAttrs, [
          uS,
          tf.tensor1d([1, kernel, cin, cout], 'int32'),
          dz,
        ]);
        const du = tf.reshape(du4!, [n, k, cin]);
        // u = (x + c)·t with c and t broadcast over the channels: ∂c = t·Σ_ch ∂u, ∂t = Σ_ch ∂u·x + c·Σ_ch ∂u.
        // Four passes over the activations, where ∂c = Σ_ch ∂u·t and ∂t = Σ_ch ∂u·(x + c) would take five.
        const duSum = tf.sum(du, 2, true);
        const dtRows = tf.add(tf.sum(tf.mul(du, xS!), 2, true), tf.mul(cS!, duSum));
        // t is shared by all tokens when they are at one step: its gradient sums over the tokens too.
        const shared = tS!.shape[0] === 1 && n > 1;
        return [
          tf.mul(du, tS!),
          tf.mul(duSum, tS!),
          shared ? tf.sum(dtRows, 0, true) : dtRows,
          tf.reshape(dw!, [kernel, cin, cout]),
          dGamma,
          dBeta,
        ];
      },
    };
  });
  const { x, c, t, weight, gamma, beta } = inputs;
  const y = op(x, c, t, weight, gamma, beta) as tf.Tensor3D;
  return { y, mean: mean!, variance: variance! };
}
