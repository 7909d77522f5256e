import { Rng, tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { PrototypeModel } from '../src/index.js';
import { maxAbsDiff, positions } from './helpers.js';

useBackend();

describe('PrototypeModel.rows', () => {
  // `none` computes only the picked rows; the others compute the whole sequence and pick. Both must equal the
  // rows of forward(), and the gradients of the position table must agree too.
  for (const model of ['none', 'mamba2'] as const) {
    it(`${model}: equals the picked rows of forward(), values and gradients`, () => {
      const pos = positions(30, 6);
      const cfg = {
        model,
        d: 16,
        layers: 2,
        position: 'learnable',
        headDim: 8,
        dState: 8,
        chunkSize: 8,
      } as const;
      const proto = new PrototypeModel(cfg, pos, 2, new Rng(3));
      const states = [1, 0];
      const picked = [0, 29, 31, 59, 5, 5, 44];
      const rows = tf.tensor1d(picked, 'int32');
      const viaForward = () =>
        tf.gather(tf.reshape(proto.forward(states), [states.length * 30, 16]), rows) as tf.Tensor2D;
      const a = proto.rows(states, rows);
      const b = viaForward();
      expect(a.shape).toEqual([picked.length, 16]);
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
      const vars = proto.trainableVariables();
      const weight = tf.randomNormal([picked.length, 16], 0, 1, 'float32', 9);
      const ga = tf.variableGrads(() => tf.sum(tf.mul(proto.rows(states, rows), weight)), vars).grads;
      const gb = tf.variableGrads(() => tf.sum(tf.mul(viaForward(), weight)), vars).grads;
      for (const v of vars) expect(maxAbsDiff(ga[v.name]!, gb[v.name]!), v.name).toBeLessThan(1e-5);
      tf.dispose([a, b, rows, weight, ...Object.values(ga), ...Object.values(gb)]);
      proto.dispose();
    });
  }
});
