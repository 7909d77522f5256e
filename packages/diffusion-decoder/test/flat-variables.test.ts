// The optimizer and the weight EMA update the model segment by segment so their temporaries stay small at any
// model size; where the segments are cut must not change a single value.
import { tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { WeightEma } from '../src/ema.js';
import { FlatLayout } from '../src/flat-variables.js';
import { AdamW } from '../src/optimizer.js';

useBackend();

const SHAPES = [[3, 5], [4], [2, 3, 2], [1]];

/** Three AdamW steps (weight decay, one variable without a gradient at step 2) and EMA updates; all values after. */
function train(segmentValues: number | undefined) {
  const variables = SHAPES.map((shape, i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = Array.from({ length: n }, (_, j) => Math.sin(1 + i * 7 + j));
    const initial = tf.tensor(values, shape);
    const v = tf.variable(initial, true, `flat-test-${segmentValues}-${i}`);
    initial.dispose(); // the variable holds its own reference
    return v;
  });
  const optimizer = new AdamW(variables, { weightDecay: 0.01, segmentValues });
  const ema = new WeightEma(variables, 0.9, segmentValues);
  for (let step = 0; step < 3; step++) {
    tf.tidy(() => {
      const grads: Record<string, tf.Tensor> = {};
      variables.forEach((v, i) => {
        if (step === 1 && i === 2) return;
        grads[v.name] = tf.cos(tf.mul(v, step + 1 + i));
      });
      optimizer.apply(grads, 0.01);
    });
    ema.update();
  }
  const weights = variables.map((v) => Array.from(v.dataSync()));
  const moments = [...optimizer.state().moments.values()].map((e) => Array.from(e.data as Float32Array));
  const averages = [...ema.state().weights.values()].map((e) => Array.from(e.data as Float32Array));
  ema.copyToVariables();
  const copied = variables.map((v) => Array.from(v.dataSync()));
  optimizer.dispose();
  ema.dispose();
  tf.dispose(variables);
  return { weights, moments, averages, copied };
}

describe('segmented flat updates', () => {
  it('cuts variables into segments of at most the given size, in order, covering every value', () => {
    const variables = SHAPES.map((shape) => tf.variable(tf.zeros(shape), false));
    const layout = new FlatLayout(variables, 7);
    expect(layout.segments.map((s) => s.reduce((n, p) => n + p.count, 0))).toEqual([7, 7, 7, 7, 4]);
    expect(layout.segments[0]).toEqual([{ variable: 0, from: 0, count: 7 }]);
    expect(layout.segments[2]).toEqual([
      { variable: 0, from: 14, count: 1 },
      { variable: 1, from: 0, count: 4 },
      { variable: 2, from: 0, count: 2 },
    ]);
    expect(new FlatLayout(variables).segments).toHaveLength(1);
    tf.dispose(variables);
  });

  it('gives bit-identical weights, moments and averages however the segments are cut', () => {
    const whole = train(undefined);
    for (const size of [1, 5, 7, 16]) expect(train(size)).toEqual(whole);
    // The updates did something: the weights moved and the averages differ from them.
    expect(whole.weights[0]![0]).not.toBe(Math.sin(1));
    expect(whole.averages[0]![0]).not.toBe(whole.weights[0]![0]);
    expect(whole.copied).toEqual(whole.averages);
  });

  it('leaves no tensor behind', () => {
    const before = tf.memory().numTensors;
    train(undefined);
    expect(tf.memory().numTensors).toBe(before);
    train(5);
    expect(tf.memory().numTensors).toBe(before);
  });
});
