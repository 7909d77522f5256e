import { tf } from '@rpg/core';
import { BN_EPS, batchNormTrain, conv2d, linear, paramLookup } from './layers.js';
import type { NetworkSpec } from './network-spec.js';
import { resnetFeatures } from './resnet.js';

export { BN_EPS, BN_MOMENTUM } from './layers.js';

export interface ForwardResult {
  logits: tf.Tensor2D;
  /** 'train' mode only: new `running_mean` / `running_var` by name (PyTorch update rule); empty in 'eval'. */
  runningStats: Map<string, tf.Tensor>;
}

/**
 * The network as a pure function of its parameters (PyTorch layouts, converted here: Linear `[out, in]` is
 * used transposed, Conv2d `[out, in, kh, kw]` is transposed to tfjs's `[kh, kw, in, out]`, input NHWC).
 * `x` is `[n, ...inputShape]` or `[n, prod(inputShape)]`.
 *
 * 'train': BatchNorm normalises with the batch mean and biased batch variance, and `runningStats` holds
 * `(1 − 0.1)·running + 0.1·batch` for the mean and, for the variance, the unbiased batch variance
 * (×m/(m−1), m = N·H·W), as PyTorch does; those tensors are returned `tf.keep`-ed (they survive `tf.tidy`
 * and `tf.variableGrads`), so the caller must dispose them. 'eval': BatchNorm uses the running statistics.
 * Call it inside `tf.tidy` / `tf.variableGrads`.
 */
export function forward(
  spec: NetworkSpec,
  params: Map<string, tf.Tensor>,
  x: tf.Tensor,
  mode: 'train' | 'eval',
): ForwardResult {
  const runningStats = new Map<string, tf.Tensor>();
  const p = paramLookup(params, spec.names);
  if (spec.type === 'mlp') {
    let h = tf.reshape(x, [-1, spec.sizes[0]!]) as tf.Tensor2D;
    const layers = spec.sizes.length - 1;
    for (let i = 0; i < layers; i++) {
      h = linear(h, p, `${2 * i}`);
      if (i < layers - 1) h = tf.relu(h);
    }
    return { logits: h, runningStats };
  }
  if (spec.type === 'resnet') {
    return { logits: linear(resnetFeatures(spec, p, x, mode, runningStats), p, 'fc'), runningStats };
  }

  let h = tf.reshape(x, [-1, ...spec.inputShape]) as tf.Tensor4D;
  spec.conv.forEach((layer, i) => {
    const bn = `bn${i + 1}`;
    const gamma = p.get(`${bn}.weight`);
    const beta = p.get(`${bn}.bias`);
    const runningMean = p.get(`${bn}.running_mean`);
    const runningVar = p.get(`${bn}.running_var`);
    let kernel = tf.transpose(p.get(`conv${i + 1}.weight`), [2, 3, 1, 0]) as tf.Tensor4D;
    let bias = (layer.bias ?? true) ? p.get(`conv${i + 1}.bias`) : undefined;
    if (mode === 'eval') {
      // Fold BatchNorm into the conv: W' = W·s, b' = (b − μ)·s + β with s = γ/√(σ² + ε) (one op fewer on
      // the big activations; the same function as conv → BN up to float round-off).
      const scale = tf.mul(gamma, tf.rsqrt(tf.add(runningVar, BN_EPS)));
      kernel = tf.mul(kernel, scale);
      bias = tf.add(tf.mul(bias ? tf.sub(bias, runningMean) : tf.neg(runningMean), scale), beta);
    }
    h = conv2d(h, kernel, layer.stride ?? 1, layer.padding);
    if (bias) h = tf.add(h, bias);
    if (mode === 'train') {
      const out = batchNormTrain(h, gamma, beta, runningMean, runningVar);
      h = out.y;
      runningStats.set(p.key(`${bn}.running_mean`), out.runningMean);
      runningStats.set(p.key(`${bn}.running_var`), out.runningVar);
    }
    // ReLU and max-pool commute (ReLU is monotone), so pool first: the ReLU then touches ¼ of the values.
    if (layer.pool) h = tf.maxPool(h, 2, 2, 'valid');
    h = tf.relu(h);
  });
  const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
  return { logits: linear(pooled, p, 'fc'), runningStats };
}
