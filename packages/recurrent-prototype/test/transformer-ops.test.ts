import { tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { gelu, layerNorm } from '../src/dense-and-norms.js';
import { attentionOp, geluOp, layerNormOp } from '../src/transformer-ops.js';
import { triangleMask } from '../src/triangle-mask.js';
import { expectClose, expectSameAsReference, maxAbsDiff, normal, valueAndGrads } from './helpers.js';

useBackend();

describe('Transformer ops with hand-written gradients', () => {
  it('LayerNorm: value and the gradients by x, gamma and beta equal the op-by-op formulation', () => {
    const inputs = [normal([2, 9, 16], 1, 0.3, 2), normal([16], 2, 1, 0.5), normal([16], 3)];
    const before = tf.memory().numTensors;
    const fast = valueAndGrads((x, g, b) => layerNormOp(x!, g as tf.Tensor1D, b as tf.Tensor1D), inputs);
    const reference = valueAndGrads((x, g, b) => layerNorm(x!, g as tf.Tensor1D, b as tf.Tensor1D), inputs);
    expect(tf.memory().numTensors).toBe(before + 8); // the kept results only
    expectClose(fast, reference, 1e-5);
    tf.dispose(inputs);
  });

  it('GELU: value and gradient equal the op-by-op formulation', () => {
    const inputs = [normal([3, 5, 32], 4, 0, 3)];
    expectSameAsReference(
      (x) => geluOp(x!),
      (x) => gelu(x!),
      inputs,
      1e-5,
    );
    tf.dispose(inputs);
  });

  it('causal multi-head attention: value and the gradient by qkv equal the op-by-op formulation', () => {
    const [batch, len, heads, dh] = [2, 13, 3, 8];
    const d = heads * dh;
    const mask = triangleMask(len, 'lower', 0, -1e9);
    const qkv = normal([batch, len, 3 * d], 5);
    const reference = (x: tf.Tensor) => {
      const [q, k, v] = tf
        .unstack(tf.transpose(tf.reshape(x, [batch, len, 3, heads, dh]), [2, 0, 3, 1, 4]))
        .map((t) => tf.reshape(t, [batch * heads, len, dh]));
      const scores = tf.add(tf.mul(tf.matMul(q!, k!, false, true), 1 / Math.sqrt(dh)), mask);
      const ctx = tf.reshape(tf.matMul(tf.softmax(scores), v!), [batch, heads, len, dh]);
      return tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [batch, len, d]);
    };
    expectSameAsReference(
      (x) => attentionOp(x as tf.Tensor3D, heads, mask),
      (x) => reference(x!),
      [qkv],
      1e-5,
    );
    // Causal: the first position's output is its own value row, whatever the later keys.
    const out = attentionOp(qkv as tf.Tensor3D, heads, mask);
    expect(
      maxAbsDiff(out.slice([0, 0, 0], [batch, 1, d]), qkv.slice([0, 0, 2 * d], [batch, 1, d])),
    ).toBeLessThan(1e-6);
    tf.dispose([out, mask, qkv]);
  });
});
