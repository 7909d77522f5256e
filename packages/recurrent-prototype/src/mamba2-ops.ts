import { tf } from '@rpg/core';
import { leadingAxes, normBackward, siluDerivative } from './norm-backward.js';

// Mamba2's SiLU and gated RMSNorm as single differentiable ops with hand-written gradients, for the same reason
// as transformer-ops.ts: fewer, larger kernels than tfjs's op-by-op tape (test/mamba2-ops.test.ts checks them
// against the op-by-op formulation).

/** SiLU, `x·σ(x)`. */
export function siluOp<T extends tf.Tensor>(x: T): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const sig = tf.sigmoid(xIn);
    save([xIn, sig]);
    return {
      value: tf.mul(xIn, sig),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xS, sigS] = saved as [tf.Tensor, tf.Tensor];
        return [tf.mul(dy, siluDerivative(xS, sigS))];
      },
    };
  });
  return op(x) as T;
}

/**
 * Gated RMSNorm over the last axis: `v = y·SiLU(z)`, `out = v / √(mean(v²) + eps) · gamma`, for y and z
 * [..., d] and gamma [d].
 */
export function gatedRmsNormOp<T extends tf.Tensor>(y: T, z: T, gamma: tf.Tensor1D, eps = 1e-5): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [yIn, zIn, g, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor1D, tf.GradSaveFunc];
    const axis = yIn.rank - 1;
    const sig = tf.sigmoid(zIn);
    const gate = tf.mul(zIn, sig);
    const v = tf.mul(yIn, gate);
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(v), axis, true), eps));
    const vHat = tf.mul(v, rstd);
    save([yIn, zIn, sig, gate, vHat, rstd, g]);
    return {
      value: tf.mul(vHat, g),
      gradFunc: (dOut: tf.Tensor, saved: tf.Tensor[]) => {
        const [yS, zS, sigS, gateS, vHatS, rstdS, gS] = saved as tf.Tensor[];
        const dv = normBackward(tf.mul(dOut, gS!), vHatS!, rstdS!, false);
        const dz = tf.mul(tf.mul(dv, yS!), siluDerivative(zS!, sigS!));
        return [tf.mul(dv, gateS!), dz, tf.sum(tf.mul(dOut, vHatS!), leadingAxes(vHatS!.rank))];
      },
    };
  });
  return op(y, z, gamma) as T;
}
