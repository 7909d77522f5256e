import { tf } from '@rpg/core';
import { leadingAxes, normBackward } from './norm-backward.js';

// The Transformer's LayerNorm, GELU and attention as single differentiable ops with hand-written gradients.
// Recorded op by op, tfjs puts a copy of every input on the tape and adds casts and reshapes to the gradients of
// broadcasting products and sums: the prototype's two layers ran about 570 kernels per training step, most of
// them tiny (the prototype sees 2 × 201 rows). These run the same arithmetic in fewer kernels; the results equal
// the op-by-op formulation within float rounding (test/transformer-ops.test.ts).

/** LayerNorm over the last axis of `x` [..., d] with affine `gamma`, `beta` [d]. */
export function layerNormOp<T extends tf.Tensor>(x: T, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps = 1e-5): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, g, b, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const axis = xIn.rank - 1;
    const centered = tf.sub(xIn, tf.mean(xIn, axis, true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), axis, true), eps));
    const xHat = tf.mul(centered, rstd);
    save([xHat, rstd, g]);
    return {
      value: tf.add(tf.mul(xHat, g), b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xHatS, rstdS, gS] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const lead = leadingAxes(xHatS.rank);
        const dx = normBackward(tf.mul(dy, gS), xHatS, rstdS, true);
        return [dx, tf.sum(tf.mul(dy, xHatS), lead), tf.sum(dy, lead)];
      },
    };
  });
  return op(x, gamma, beta) as T;
}

/** Exact GELU, `0.5·x·(1 + erf(x/√2))` (PyTorch's default). */
export function geluOp<T extends tf.Tensor>(x: T): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const cdf = tf.mul(tf.add(tf.erf(tf.mul(xIn, Math.SQRT1_2)), 1), 0.5);
    save([xIn, cdf]);
    return {
      value: tf.mul(xIn, cdf),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xS, cdfS] = saved as [tf.Tensor, tf.Tensor];
        // d/dx x·Φ(x) = Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π).
        const pdf = tf.mul(tf.exp(tf.mul(tf.square(xS), -0.5)), 1 / Math.sqrt(2 * Math.PI));
        return [tf.mul(dy, tf.add(cdfS, tf.mul(xS, pdf)))];
      },
    };
  });
  return op(x) as T;
}

/**
 * Multi-head scaled dot-product attention from the fused projection `qkv` [B, L, 3d] (q, k, v side by side,
 * each split into `heads` heads of d/heads): `softmax(q·kᵀ/√d_head + maskBias)·v` per head, the heads merged back
 * into [B, L, d]. `maskBias` [L, L] is additive and constant (it gets no gradient). The backward pass reuses the
 * saved probabilities P: dS = P ⊙ (dP − rowsum(dP ⊙ P)).
 */
export function attentionOp(qkv: tf.Tensor3D, heads: number, maskBias: tf.Tensor2D): tf.Tensor3D {
  const [batch, len, d3] = qkv.shape;
  const d = d3 / 3;
  const dh = d / heads;
  const scale = 1 / Math.sqrt(dh);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qkvIn, save] = args as [tf.Tensor3D, tf.GradSaveFunc];
    // [B, L, 3, H, dh] → [3, B·H, L, dh]: q, k and v with the heads as a batch axis.
    const split = tf.reshape(tf.transpose(tf.reshape(qkvIn, [batch, len, 3, heads, dh]), [2, 0, 3, 1, 4]), [
      3,
      batch * heads,
      len,
      dh,
    ]);
    const [q, k, v] = tf.unstack(split) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
    const probs = tf.softmax(tf.add(tf.matMul(tf.mul(q, scale), k, false, true), maskBias));
    save([q, k, v, probs]);
    const ctx = tf.reshape(tf.matMul(probs, v), [batch, heads, len, dh]);
    return {
      value: tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [batch, len, d]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [qS, kS, vS, pS] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
        const dOut = tf.reshape(tf.transpose(tf.reshape(dy, [batch, len, heads, dh]), [0, 2, 1, 3]), [
          batch * heads,
          len,
          dh,
        ]) as tf.Tensor3D;
        const dProbs = tf.matMul(dOut, vS, false, true);
        const dScores = tf.mul(pS, tf.sub(dProbs, tf.sum(tf.mul(dProbs, pS), 2, true))) as tf.Tensor3D;
        const dq = tf.mul(tf.matMul(dScores, kS), scale);
        const dk = tf.mul(tf.matMul(dScores, qS, true, false), scale);
        const dv = tf.matMul(pS, dOut, true, false);
        const stacked = tf.reshape(tf.stack([dq, dk, dv]), [3, batch, heads, len, dh]);
        return [tf.reshape(tf.transpose(stacked, [1, 3, 0, 2, 4]), [batch, len, d3])];
      },
    };
  });
  return op(qkv) as tf.Tensor3D;
}
