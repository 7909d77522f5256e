import { Rng, tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { PrototypeModel } from '../src/index.js';
import { BLOCK_TOKENS } from '../src/stage-recompute.js';
import { maxAbs, maxAbsDiff, positions } from './helpers.js';

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

describe('PrototypeModel.rowsPass', () => {
  // One sequence and one layer at a time, recomputing the forward pass: the same gradients as backpropagating
  // through rows(), for recurrent, attention and per-position-state models, rows repeated and a sequence unpicked.
  // Mamba2 over 4,500 tokens runs in blocks of BLOCK_TOKENS, carrying its state from block to block.
  const cases = [
    { model: 'mamba2', stateEmbedding: 'shared', tokens: 30 },
    { model: 'mamba2', stateEmbedding: 'shared', tokens: 4500 },
    { model: 'lstm', stateEmbedding: 'shared', tokens: 30 },
    { model: 'transformer', stateEmbedding: 'per-position', tokens: 30 },
    { model: 'mamba2', stateEmbedding: 'shared', tokens: 30, task: true },
  ] as const;
  for (const c of cases) {
    const { model, stateEmbedding, tokens } = c;
    const task = 'task' in c;
    it(`${model} (${stateEmbedding} states, ${tokens} tokens${task ? ', task-conditioned' : ''}): equals rows() and its gradients`, () => {
      expect(BLOCK_TOKENS).toBeLessThan(4500 / 2);
      const pos = positions(tokens, 6);
      const cfg = {
        model,
        d: 16,
        layers: 2,
        position: 'learnable',
        stateEmbedding,
        heads: 2,
        headDim: 8,
        dState: 8,
        chunkSize: 8,
        ...(task ? { task: { inputDim: 5 } } : {}),
      } as const;
      const proto = new PrototypeModel(cfg, pos, 3, new Rng(4));
      const tasks = task ? (tf.randomNormal([3, 5], 0, 1, 'float32', 2) as tf.Tensor2D) : undefined;
      const states = [2, 0, 1];
      // Rows of the first two sequences only, one repeated; at 4,500 tokens some in every block.
      const picked = Int32Array.from(
        [0, 29, 31, 59, 5, 5, 44].map((r) =>
          r < 30 ? r * (tokens / 30) : tokens + (r - 30) * (tokens / 30),
        ),
      );
      const rows = tf.tensor1d(picked, 'int32');
      const vars = proto.trainableVariables();
      const weight = tf.randomNormal([picked.length, 16], 0, 1, 'float32', 9) as tf.Tensor2D;
      const pass = proto.rowsPass(states, picked, tasks);
      const direct = proto.rows(states, rows, tasks);
      expect(maxAbsDiff(pass.rows, direct)).toBeLessThan(1e-5);
      expect(maxAbs(pass.rows)).toBeGreaterThan(0.01);
      direct.dispose();
      const want = tf.variableGrads(
        () => tf.sum(tf.mul(proto.rows(states, rows, tasks), weight)),
        vars,
      ).grads;
      const before = tf.memory().numTensors;
      const got = pass.gradients(weight);
      expect(tf.memory().numTensors - before).toBe(got.filter((g) => g).length);
      vars.forEach((v, i) => {
        const g = got[i];
        expect(g, v.name).toBeTruthy();
        expect(maxAbsDiff(g!, want[v.name]!), v.name).toBeLessThan(1e-5);
      });
      pass.dispose();
      tasks?.dispose();
      tf.dispose([rows, weight, ...Object.values(want), ...got.filter((g) => g !== null)]);
      proto.dispose();
    });
  }
});
