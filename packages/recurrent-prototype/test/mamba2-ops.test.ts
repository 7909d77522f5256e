import { tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, it } from 'vitest';
import { rmsNorm, silu } from '../src/dense-and-norms.js';
import { gatedRmsNormOp, siluOp } from '../src/mamba2-ops.js';
import { expectSameAsReference, normal } from './helpers.js';

useBackend();

describe('Mamba2 ops with hand-written gradients', () => {
  it('SiLU: value and gradient equal the op-by-op formulation', () => {
    const inputs = [normal([2, 7, 24], 1, 0, 3)];
    expectSameAsReference(
      (x) => siluOp(x!),
      (x) => silu(x!),
      inputs,
      1e-5,
    );
    tf.dispose(inputs);
  });

  it('gated RMSNorm: value and the gradients by y, z and gamma equal the op-by-op formulation', () => {
    const inputs = [normal([2, 7, 24], 2, 0.2, 1.5), normal([2, 7, 24], 3, 0, 2), normal([24], 4, 1, 0.5)];
    expectSameAsReference(
      (y, z, g) => gatedRmsNormOp(y!, z!, g as tf.Tensor1D),
      (y, z, g) => rmsNorm(tf.mul(y!, silu(z!)), g as tf.Tensor1D),
      inputs,
      1e-5,
    );
    tf.dispose(inputs);
  });
});
