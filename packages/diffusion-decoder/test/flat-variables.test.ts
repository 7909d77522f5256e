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

/**
 * Three AdamW steps (weight decay, one variable without a gradient at step 2) and EMA updates; all values after.
 * `shared`: the optimizer and the average share one layout, as in training.
 */
function train(segmentValues: number | undefined, shared = false) {
  const variables = SHAPES.map((shape, i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = Array.from({ length: n }, (_, j) => Math.sin(1 + i * 7 + j));
    const initial = tf.tensor(values, shape);
    const v = tf.variable(initial, true, `flat-test-${segmentValues}-${shared}-${i}`);
    initial.dispose(); // the variable holds its own reference
    return v;
  });
  const layout = shared ? new FlatLayout(variables, segmentValues) : undefined;
  const optimizer = new AdamW(variables, { weightDecay: 0.01, segmentValues, layout });
  const ema = new WeightEma(variables, 0.9, layout ?? segmentValues);
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
    // Sharing one layout (the average then reads the values the optimizer kept) changes nothing either.
    for (const size of [undefined, 5]) expect(train(size, true)).toEqual(whole);
  });

  it('hands out the values it assigned only while no variable was assigned since', () => {
    const variables = SHAPES.map((shape, i) => tf.variable(tf.fill(shape, i), false, `flat-kept-${i}`));
    const layout = new FlatLayout(variables);
    const read = () => tf.tidy(() => Array.from(layout.valuesOf(0).dataSync()));
    layout.assignFrom(() => tf.add(layout.valuesOf(0), 10));
    const sizes = SHAPES.map((s) => s.reduce((a, b) => a * b, 1));
    const expected = sizes.flatMap((n, i) => Array(n).fill(i + 10));
    expect(read()).toEqual(expected);
    // A value handed out can be disposed without harm to the kept one.
    layout.valuesOf(0).dispose();
    expect(read()).toEqual(expected);
    // An assignment from outside (a loaded checkpoint, the average copied in) is seen at once.
    tf.tidy(() => variables[1]!.assign(tf.fill([4], -1)));
    expected.fill(-1, sizes[0]!, sizes[0]! + sizes[1]!);
    expect(read()).toEqual(expected);
    expect(() => new AdamW(variables.slice(1), { layout })).toThrow(/layout given is of other variables/);
    layout.forget();
    tf.dispose(variables);
  });

  it('leaves no tensor behind', () => {
    const before = tf.memory().numTensors;
    train(undefined);
    expect(tf.memory().numTensors).toBe(before);
    train(5);
    expect(tf.memory().numTensors).toBe(before);
    train(undefined, true);
    expect(tf.memory().numTensors).toBe(before);
  });
});
