import { tf } from '@rpg/core';

/** PyTorch BatchNorm defaults. */
export const BN_MOMENTUM = 0.1;
export const BN_EPS = 1e-5;

/**
 * The parameters of one forward pass, looked up by the spec's own tensor names; `key` gives the name the
 * checkpoint uses for it (different only where the spec maps names, see `names`).
 */
export interface ParamLookup {
  get(name: string): tf.Tensor;
  key(name: string): string;
}

export function paramLookup(params: Map<string, tf.Tensor>, names?: Record<string, string>): ParamLookup {
  const key = (name: string) => names?.[name] ?? name;
  return {
    key,
    get(name) {
      const t = params.get(key(name));
      if (!t) throw new Error(`forward: parameter "${key(name)}" is missing`);
      return t;
    },
  };
}

export function linear(h: tf.Tensor2D, p: ParamLookup, prefix: string): tf.Tensor2D {
  // PyTorch stores [out, in]; x·Wᵀ without materialising the transpose.
  const y = tf.matMul(h, p.get(`${prefix}.weight`) as tf.Tensor2D, false, true);
  return tf.add(y, p.get(`${prefix}.bias`));
}

/** Conv2d with PyTorch padding semantics (zero padding on every side, then a 'valid' conv); NHWC in and out. */
export function conv2d(h: tf.Tensor4D, kernel: tf.Tensor4D, stride: number, padding: number): tf.Tensor4D {
  const k = kernel.shape[0];
  // For stride 1 and an odd kernel with p = (k − 1)/2, TF's 'same' is exactly that padding, without a Pad op.
  if (stride === 1 && k % 2 === 1 && padding === (k - 1) / 2) return tf.conv2d(h, kernel, 1, 'same');
  if (padding > 0) {
    h = tf.pad(h, [
      [0, 0],
      [padding, padding],
      [padding, padding],
      [0, 0],
    ]);
  }
  return tf.conv2d(h, kernel, stride, 'valid');
}

/**
 * Training-mode BatchNorm over N, H, W of an NHWC tensor: `y = γ·(x − μ_B)/√(σ²_B + ε) + β` with the batch
 * mean and biased batch variance. A custom gradient (the closed form
 * `dx = γ/√(σ²_B + ε) · (dy − mean(dy) − x̂·mean(dy·x̂))`) needs far fewer full-size ops than autodiff
 * through the composite. Also returns PyTorch's running-stat update, `tf.keep`-ed (the custom op's forward
 * runs in its own tidy), without gradient: `(1 − 0.1)·running + 0.1·batch`, the variance's batch term unbiased
 * (×m/(m−1), m = N·H·W).
 */
export function batchNormTrain(
  x: tf.Tensor4D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  runningMean: tf.Tensor,
  runningVar: tf.Tensor,
): { y: tf.Tensor4D; runningMean: tf.Tensor; runningVar: tf.Tensor } {
  let newMean: tf.Tensor | undefined;
  let newVar: tf.Tensor | undefined;
  const [n, height, width] = x.shape;
  const count = n * height * width;
  const unbiased = count > 1 ? count / (count - 1) : 1;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, g, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const { mean, variance } = tf.moments(xIn, [0, 1, 2]);
    newMean = tf.keep(tf.add(tf.mul(runningMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
    newVar = tf.keep(tf.add(tf.mul(runningVar, 1 - BN_MOMENTUM), tf.mul(variance, BN_MOMENTUM * unbiased)));
    const invStd = tf.rsqrt(tf.add(variance, BN_EPS));
    const xHat = tf.mul(tf.sub(xIn, mean), invStd);
    save([xHat, invStd, g]);
    return {
      value: tf.add(tf.mul(xHat, g), b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xHatS, invStdS, gS] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dBeta = tf.sum(dy, [0, 1, 2]);
        const dGamma = tf.sum(tf.mul(dy, xHatS), [0, 1, 2]);
        const centred = tf.sub(dy, tf.div(dBeta, count));
        const dx = tf.mul(tf.sub(centred, tf.mul(xHatS, tf.div(dGamma, count))), tf.mul(gS, invStdS));
        return [dx, dGamma, dBeta];
      },
    };
  });
  const y = op(x, gamma, beta) as tf.Tensor4D;
  return { y, runningMean: newMean!, runningVar: newVar! };
}
