import { tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { nativeBatchNormTrain } from '../src/native-batch-norm.js';

useBackend();

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!;

describe('nativeBatchNormTrain', () => {
  it('matches the op-by-op BatchNorm: output, batch statistics and gradients', () => {
    const x = tf.add(tf.mul(tf.randomNormal([6, 20, 5], 0, 1, 'float32', 1), 3), 2) as tf.Tensor3D;
    const gamma = tf.tensor1d([0.5, 1, 1.5, 2, -1]);
    const beta = tf.tensor1d([0, 0.1, -0.2, 0.3, 1]);
    const dy = tf.randomNormal([6, 20, 5], 0, 1, 'float32', 2);
    const reference = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(xx, [0, 1]);
      return tf.add(tf.mul(tf.mul(tf.sub(xx, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
    };
    const native = nativeBatchNormTrain(x, gamma, beta, 1e-5);
    expect(native).toBeDefined();
    const { mean, variance } = tf.moments(x, [0, 1]);
    expect(maxDiff(native!.y, reference(x, gamma, beta))).toBeLessThan(1e-5);
    expect(maxDiff(native!.mean, mean)).toBeLessThan(1e-5);
    expect(maxDiff(native!.variance, variance)).toBeLessThan(1e-4);
    const loss = (f: (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.Tensor) =>
      tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(a, b, c), dy)));
    const got = loss((a, b, c) => nativeBatchNormTrain(a as tf.Tensor3D, b, c, 1e-5)!.y)([x, gamma, beta]);
    const want = loss(reference)([x, gamma, beta]);
    got.forEach((g, i) => {
      expect(g.shape).toEqual(want[i]!.shape);
      expect(maxDiff(g, want[i]!)).toBeLessThan(1e-4);
    });
  });
});
