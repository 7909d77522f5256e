// AdamW on tfjs-node runs TensorFlow's fused Adam kernel with its learning rate and ε rescaled to PyTorch's update
// rule; the element-wise formulation is the reference (and what the other backends run).
import { tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { AdamW, type AdamWOptions } from '../src/optimizer.js';

useBackend();

const SHAPES = [[6, 5], [7], [2, 3, 4]];

/** `actual` equals `expected` within `tol` of the largest |expected|. */
function expectClose(actual: number[], expected: number[], tol: number, what: string): void {
  const scale = Math.max(...expected.map(Math.abs));
  const worst = Math.max(...actual.map((a, i) => Math.abs(a - expected[i]!)));
  expect(worst, what).toBeLessThanOrEqual(tol * scale);
}
let runs = 0;

/** `steps` AdamW steps from fixed weights and gradients; the weights and moments after, then all disposed. */
function train(options: AdamWOptions, steps: number, resumeAt?: number) {
  const variables = SHAPES.map((shape, i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const initial = tf.tensor(
      Array.from({ length: n }, (_, j) => Math.sin(2 + 3 * i + j)),
      shape,
    );
    const v = tf.variable(initial, true, `adamw-test-${runs++}-${i}`);
    initial.dispose();
    return v;
  });
  // ε large enough that where it enters the update shows in the weights.
  const settings = { weightDecay: 0.05, epsilon: 1e-3, ...options };
  let optimizer = new AdamW(variables, settings);
  for (let step = 0; step < steps; step++) {
    if (step === resumeAt) {
      const saved = optimizer.state();
      optimizer.dispose();
      optimizer = new AdamW(variables, settings);
      optimizer.loadState(saved);
    }
    tf.tidy(() => {
      const grads: Record<string, tf.Tensor> = {};
      variables.forEach((v, i) => {
        grads[v.name] = tf.mul(tf.cos(tf.mul(v, step + 2 + i)), 10 ** -(i + step));
      });
      optimizer.apply(grads, 0.02);
    });
  }
  const weights = variables.map((v) => Array.from(v.dataSync()));
  const moments = [...optimizer.state().moments.values()].map((e) => Array.from(e.data as Float32Array));
  optimizer.dispose();
  tf.dispose(variables);
  return { weights, moments };
}

describe('AdamW', () => {
  it('gives the element-wise formulation’s weights and moments with the fused kernel', () => {
    const reference = train({ native: false }, 5);
    const fused = train({}, 5);
    for (const [i, w] of fused.weights.entries()) expectClose(w, reference.weights[i]!, 1e-6, `weights ${i}`);
    // The kernel takes 1 − β₂ as 1 − float32(0.999) = 0.00099998713: v differs by 1.3e-5 of itself.
    for (const [i, m] of fused.moments.entries()) expectClose(m, reference.moments[i]!, 2e-5, `moments ${i}`);
    // The steps moved the weights by more than the tolerance.
    expect(Math.abs(reference.weights[0]![0]! - Math.sin(2))).toBeGreaterThan(1e-2);
  });

  it('continues bit-exactly from a saved state', () => {
    for (const native of [true, false]) {
      expect(train({ native }, 5, 3)).toEqual(train({ native }, 5));
    }
  });

  it('leaves no tensor behind', () => {
    const before = tf.memory().numTensors;
    train({}, 2, 1);
    train({ native: false }, 2, 1);
    expect(tf.memory().numTensors).toBe(before);
  });
});
