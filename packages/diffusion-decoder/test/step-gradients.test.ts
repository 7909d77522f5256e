// A step may backpropagate through the prototype model one sequence and layer at a time (to bound memory at long
// sequences); training must come out the same as the joint pass, to float summation order.
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { disposeGenerator, trainGenerator } from '../src/train-generator.js';
import { toyStepOptions } from './helpers.js';

useBackend();

async function train(model: 'mamba2' | 'lstm', recompute: boolean) {
  const gen = await trainGenerator(
    toyStepOptions(model, { stateOf: [0, 0, 1, 1, 2, 2], steps: 5, diffusionBatch: 48, seed: 5, recompute }),
  );
  const weights = [...gen.prototype.weights().values(), ...gen.decoder.weights().values()].map(
    (e) => e.data as Float32Array,
  );
  const losses = gen.lossHistory;
  disposeGenerator(gen);
  return { losses, weights };
}

describe('recomputed prototype backward', () => {
  it.each(['mamba2', 'lstm'] as const)('%s: same losses and weights as the joint pass', async (model) => {
    const joint = await train(model, false);
    const recomputed = await train(model, true);
    expect(recomputed.losses).toHaveLength(5);
    recomputed.losses.forEach((l, i) => {
      expect(Math.abs(l - joint.losses[i]!)).toBeLessThan(1e-5 * Math.abs(joint.losses[i]!));
    });
    let worst = 0;
    recomputed.weights.forEach((w, i) => {
      const ref = joint.weights[i]!;
      for (let j = 0; j < w.length; j++) worst = Math.max(worst, Math.abs(w[j]! - ref[j]!));
    });
    expect(worst).toBeLessThan(1e-5);
    // Training moved the weights: the comparison is not of two untouched inits.
    expect(joint.losses[4]).not.toBe(joint.losses[0]);
  });
});
