import { Rng, tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type PrototypeConfig,
  PrototypeModel,
  resolvePrototypeConfig,
  syntheticPositions,
} from '../src/index.js';
import { maxAbsDiff } from './helpers.js';

useBackend();

const D = 16;
// 4 layers: 0 (6 tokens), 1 (6 tokens), 2 (6 tokens), 3 (2 tokens): 20 tokens, the head = layers 2 and 3.
const positions = syntheticPositions(20, 6);
const HEAD_START = 12;

const models: PrototypeModel[] = [];
afterEach(() => {
  for (const m of models.splice(0)) m.dispose();
});

function build(extra: Partial<PrototypeConfig> = {}, seed = 1): PrototypeModel {
  const m = new PrototypeModel(
    { model: 'transformer', d: D, layers: 2, position: '2d', heads: 4, ...extra },
    positions,
    2,
    new Rng(seed),
  );
  models.push(m);
  return m;
}

const bits = (positive: number[]) =>
  tf.tensor2d([Array.from({ length: 10 }, (_, c) => (positive.includes(c) ? 1 : 0))], [1, 10]);

/** Per-position max |Δ| between two [1, L, d] prototype tensors. */
function perPosition(a: tf.Tensor, b: tf.Tensor): number[] {
  const x = a.dataSync();
  const y = b.dataSync();
  return positions.map((_, t) => {
    let m = 0;
    for (let c = 0; c < D; c++) m = Math.max(m, Math.abs(x[t * D + c]! - y[t * D + c]!));
    return m;
  });
}

describe('task conditioning of the prototype model', () => {
  it('leaves an unconditional model exactly as it was: same variables, same values', () => {
    const plain = build({}, 7).weights();
    const again = build({ task: undefined }, 7).weights();
    expect([...plain.keys()].some((n) => n.startsWith('task.'))).toBe(false);
    expect([...again.keys()]).toEqual([...plain.keys()]);
    for (const [name, e] of plain) expect(again.get(name)!.data).toEqual(e.data);
    // A conditioned model adds its embedding's variables after the others, without changing the others' values.
    const conditioned = build({ task: { inputDim: 10 } }, 7).weights();
    const extra = [...conditioned.keys()].filter((n) => !plain.has(n));
    expect(extra).toEqual(['task.0.weight', 'task.0.bias', 'task.2.weight', 'task.2.bias']);
    for (const [name, e] of plain) expect(conditioned.get(name)!.data).toEqual(e.data);
  });

  it('gate "all": a different task changes the prototypes at every position', () => {
    const m = build({ task: { inputDim: 10, gate: 'all' } });
    const a = bits([1, 3]);
    const b = bits([0, 2, 7]);
    const pa = m.forward([0], undefined, a);
    const pb = m.forward([0], undefined, b);
    expect(pa.shape).toEqual([1, 20, D]);
    for (const [t, diff] of perPosition(pa, pb).entries())
      expect(diff, `position ${t}`).toBeGreaterThan(1e-4);
    tf.dispose([a, b, pa, pb]);
  });

  it('gate "head": only the head layers’ inputs see the task, so earlier prototypes are the same for every task', () => {
    const m = build({ task: { inputDim: 10, gate: 'head', headLayers: 2 } });
    const a = bits([1, 3]);
    const b = bits([0, 2, 7]);
    const diffs = perPosition(m.forward([1], undefined, a), m.forward([1], undefined, b));
    // The transformer is causal: positions before the head never see a head input.
    for (let t = 0; t < HEAD_START; t++) expect(diffs[t], `position ${t}`).toBeLessThan(1e-6);
    for (let t = HEAD_START; t < 20; t++) expect(diffs[t], `position ${t}`).toBeGreaterThan(1e-4);
    const inA = m.inputs([1], undefined, a);
    const inB = m.inputs([1], undefined, b);
    expect(
      maxAbsDiff(inA.slice([0, 0, 0], [1, HEAD_START, D]), inB.slice([0, 0, 0], [1, HEAD_START, D])),
    ).toBe(0);
    tf.dispose([a, b, inA, inB]);
  });

  it('runs several (state, task) pairs in one batch, each row as if alone', () => {
    const m = build({ task: { inputDim: 10 } });
    const two = tf.concat([bits([1]), bits([4, 5])]) as tf.Tensor2D;
    const both = m.forward([0, 1], undefined, two);
    const second = bits([4, 5]);
    const alone = m.forward([1], undefined, second);
    expect(maxAbsDiff(both.slice([1, 0, 0], [1, 20, D]), alone)).toBeLessThan(1e-5);
    tf.dispose([two, both, second, alone]);
  });

  it('requires task vectors when conditioned and refuses them otherwise', () => {
    const conditioned = build({ task: { inputDim: 10 } });
    expect(() => conditioned.forward([0])).toThrow(/task-conditioned: pass one task vector per state/);
    const wrong = tf.zeros([1, 9]) as tf.Tensor2D;
    expect(() => conditioned.forward([0], undefined, wrong)).toThrow(/task vectors must be \[B, 10\]/);
    const plain = build();
    const v = bits([1]);
    expect(() => plain.forward([0], undefined, v)).toThrow(/has no task embedding/);
    expect(conditioned.taskInputDim).toBe(10);
    expect(plain.taskInputDim).toBeNull();
    tf.dispose([wrong, v]);
  });

  it('validates the task config inside the prototype config, naming the field', () => {
    expect(() => resolvePrototypeConfig({ d: 8, task: { inputDim: 0 } })).toThrow(
      /task\.inputDim: inputDim must be > 0/,
    );
    expect(resolvePrototypeConfig({ d: 8 })).not.toHaveProperty('task');
    expect(() => build({ task: { inputDim: 10, gate: 'head', headLayers: 4 } })).toThrow(
      /headLayers 4 covers all 4 tokenized layers/,
    );
  });
});
