import { numel, Rng, type StateDict, type TensorEntry, tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import {
  BN_EPS,
  BN_MOMENTUM,
  CNN_M_MNIST,
  CNN_S_MNIST,
  countParameters,
  forward,
  initStateDict,
  MLP_MNIST,
  type NetworkSpec,
  parameterLayout,
  parseNetworkSpec,
  predict,
  predictLogits,
  stateDictToTensors,
  trainableNames,
} from '../src/index.js';
import { oneConvCnn } from './fixtures.js';

useBackend();

const f32 = (shape: number[], values: number[]): TensorEntry => ({
  dtype: 'F32' as const,
  shape,
  data: Float32Array.from(values),
});

describe('parameter layout (PyTorch state-dict names and shapes)', () => {
  it('MLP 784-64-10 is nn.Sequential(Linear, ReLU, Linear)', () => {
    expect(parameterLayout(MLP_MNIST)).toEqual([
      { name: '0.weight', shape: [64, 784], dtype: 'F32' },
      { name: '0.bias', shape: [64], dtype: 'F32' },
      { name: '2.weight', shape: [10, 64], dtype: 'F32' },
      { name: '2.bias', shape: [10], dtype: 'F32' },
    ]);
    expect(countParameters(MLP_MNIST)).toBe(784 * 64 + 64 + 64 * 10 + 10);
  });

  it('CNN(s) has conv / BatchNorm names with running stats and an I64 scalar counter', () => {
    const layout = parameterLayout(CNN_S_MNIST);
    expect(layout.slice(0, 6)).toEqual([
      { name: 'conv1.weight', shape: [8, 1, 3, 3], dtype: 'F32' },
      { name: 'bn1.weight', shape: [8], dtype: 'F32' },
      { name: 'bn1.bias', shape: [8], dtype: 'F32' },
      { name: 'bn1.running_mean', shape: [8], dtype: 'F32' },
      { name: 'bn1.running_var', shape: [8], dtype: 'F32' },
      { name: 'bn1.num_batches_tracked', shape: [], dtype: 'I64' },
    ]);
    expect(layout.find((e) => e.name === 'conv2.weight')?.shape).toEqual([12, 8, 3, 3]);
    expect(layout.find((e) => e.name === 'conv3.weight')?.shape).toEqual([16, 12, 3, 3]);
    expect(layout.slice(-2)).toEqual([
      { name: 'fc.weight', shape: [10, 16], dtype: 'F32' },
      { name: 'fc.bias', shape: [10], dtype: 'F32' },
    ]);
    expect(layout.filter((e) => e.dtype === 'I64').map((e) => e.name)).toEqual([
      'bn1.num_batches_tracked',
      'bn2.num_batches_tracked',
      'bn3.num_batches_tracked',
    ]);
    // Trainable = PyTorch parameters(): no running stats, no counters.
    expect(trainableNames(CNN_S_MNIST).some((n) => n.includes('running') || n.includes('num_batches'))).toBe(
      false,
    );
  });

  it('CNN presets are near the paper’s CNN(s) 2,864 and CNN(m) 10,853 parameters', () => {
    // conv 72 + BN 16, conv 864 + BN 24, conv 1,728 + BN 32, fc 170
    expect(countParameters(CNN_S_MNIST)).toBe(2906);
    // conv 144 + BN 32, conv 3,456 + BN 48, conv 6,912 + BN 64, fc 330
    expect(countParameters(CNN_M_MNIST)).toBe(10_986);
    for (const [spec, paper] of [
      [CNN_S_MNIST, 2864],
      [CNN_M_MNIST, 10_853],
    ] as const) {
      expect(Math.abs(countParameters(spec) - paper) / paper).toBeLessThan(0.03);
      // Running stats are state, not parameters.
      const floats = parameterLayout(spec)
        .filter((e) => e.dtype === 'F32')
        .reduce((s, e) => s + numel(e.shape), 0);
      expect(floats).toBe(
        countParameters(spec) +
          2 * (spec.type === 'cnn' ? spec.conv.reduce((s, c) => s + c.out, 0) : Number.NaN),
      );
    }
  });

  it('rejects bad specs, naming the field', () => {
    expect(() => parseNetworkSpec({ type: 'mlp', sizes: [784] })).toThrow(/sizes/);
    expect(() =>
      parseNetworkSpec({
        type: 'cnn',
        inputShape: [4, 4, 1],
        conv: [
          { out: 2, kernel: 3, padding: 1, pool: true },
          { out: 2, kernel: 3, padding: 1, pool: true },
          { out: 2, kernel: 3, padding: 1, pool: true },
        ],
        numClasses: 2,
      }),
    ).toThrow(/conv\.2.*shrinks/);
    expect(() => parseNetworkSpec({ type: 'rnn' })).toThrow(/type/);
  });
});

describe('initStateDict', () => {
  it('is PyTorch’s default init, deterministic from the RNG', () => {
    const a = initStateDict(CNN_S_MNIST, new Rng(1));
    const b = initStateDict(CNN_S_MNIST, new Rng(1));
    const c = initStateDict(CNN_S_MNIST, new Rng(2));
    expect([...a.keys()]).toEqual(parameterLayout(CNN_S_MNIST).map((e) => e.name));
    expect(a.get('conv2.weight')!.data).toEqual(b.get('conv2.weight')!.data);
    expect(a.get('conv2.weight')!.data).not.toEqual(c.get('conv2.weight')!.data);
    const bound = 1 / Math.sqrt(8 * 9);
    const w = a.get('conv2.weight')!.data as Float32Array;
    expect(Math.max(...w)).toBeLessThanOrEqual(bound);
    expect(Math.min(...w)).toBeGreaterThanOrEqual(-bound);
    expect(Math.max(...w)).toBeGreaterThan(0.9 * bound);
    expect(Array.from(a.get('bn1.running_var')!.data as Float32Array)).toEqual(new Array(8).fill(1));
    expect(Array.from(a.get('bn1.weight')!.data as Float32Array)).toEqual(new Array(8).fill(1));
    expect(Array.from(a.get('bn1.running_mean')!.data as Float32Array)).toEqual(new Array(8).fill(0));
    expect(a.get('bn1.num_batches_tracked')).toEqual({ dtype: 'I64', shape: [], data: BigInt64Array.of(0n) });
  });
});

describe('forward', () => {
  it('a hand-made MLP 3-2-2 gives the hand-computed logits (Linear weights are [out, in])', () => {
    const spec: NetworkSpec = { type: 'mlp', sizes: [3, 2, 2] };
    const sd: StateDict = new Map([
      ['0.weight', f32([2, 3], [1, 2, 3, -1, 0.5, 0])],
      ['0.bias', f32([2], [0.5, -1])],
      ['2.weight', f32([2, 2], [2, -1, 0.25, 3])],
      ['2.bias', f32([2], [0, 1])],
    ]);
    const x = Float32Array.of(1, -1, 2, /* second example */ -2, 0, 0);
    // example 1: h = relu([1-2+6+0.5, -1-0.5+0-1]) = [5.5, 0]; logits = [11, 1.375+1]
    // example 2: h = relu([-2+0.5, 2-1]) = [0, 1];               logits = [-1, 3+1]
    const logits = predictLogits(spec, sd, x, 2);
    expect(Array.from(logits)).toEqual([11, 2.375, -1, 4]);
    expect(Array.from(predict(spec, sd, x, 2))).toEqual([0, 1]);
  });

  it('a hand-made CNN (conv weight [out, in, kh, kw], NHWC input, eval BatchNorm, GAP, fc) gives the hand computation', () => {
    const spec = oneConvCnn([3, 3, 2], { out: 1, kernel: 3, padding: 0 }, 2);
    const rng = new Rng(4);
    const w = Array.from(rng.uniformArray(18, -1, 1));
    const x = Array.from(rng.uniformArray(18, -1, 1));
    const [gamma, beta, mean, variance] = [1.5, 0.25, 0.1, 0.8];
    const sd: StateDict = new Map([
      ['conv1.weight', f32([1, 2, 3, 3], w)],
      ['bn1.weight', f32([1], [gamma])],
      ['bn1.bias', f32([1], [beta])],
      ['bn1.running_mean', f32([1], [mean])],
      ['bn1.running_var', f32([1], [variance])],
      ['bn1.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.of(7n) }],
      ['fc.weight', f32([2, 1], [2, -3])],
      ['fc.bias', f32([2], [0.5, 0])],
    ]);
    let conv = 0;
    for (let c = 0; c < 2; c++)
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 3; j++) conv += w[c * 9 + i * 3 + j]! * x[(i * 3 + j) * 2 + c]!;
    const h = Math.max(0, ((conv - mean) / Math.sqrt(variance + BN_EPS)) * gamma + beta);
    const logits = predictLogits(spec, sd, Float32Array.from(x), 1);
    expect(logits[0]).toBeCloseTo(2 * h + 0.5, 5);
    expect(logits[1]).toBeCloseTo(-3 * h, 5);
    expect(h).toBeGreaterThan(0); // the seed gives a case where the ReLU passes, so the check means something
  });

  it('training-mode BatchNorm normalises with batch statistics and updates running stats as PyTorch does', () => {
    const spec = oneConvCnn([2, 2, 1], { out: 1, kernel: 1, padding: 0 }, 2);
    const sd: StateDict = new Map([
      ['conv1.weight', f32([1, 1, 1, 1], [1])],
      ['bn1.weight', f32([1], [1])],
      ['bn1.bias', f32([1], [0])],
      ['bn1.running_mean', f32([1], [0.5])],
      ['bn1.running_var', f32([1], [2])],
      ['bn1.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.of(0n) }],
      ['fc.weight', f32([2, 1], [1, 0])],
      ['fc.bias', f32([2], [0, 0])],
    ]);
    const values = [1, 2, 3, 4, 0, 0, 6, 8];
    const m = values.reduce((a, b) => a + b, 0) / values.length;
    const unbiasedVar = values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1);
    const params = stateDictToTensors(spec, sd);
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => {
      const r = forward(spec, params, tf.tensor2d(values, [2, 4]), 'train');
      return {
        logits: r.logits,
        mean: r.runningStats.get('bn1.running_mean')!,
        variance: r.runningStats.get('bn1.running_var')!,
      };
    });
    expect(out.mean.dataSync()[0]).toBeCloseTo((1 - BN_MOMENTUM) * 0.5 + BN_MOMENTUM * m, 5);
    expect(out.variance.dataSync()[0]).toBeCloseTo((1 - BN_MOMENTUM) * 2 + BN_MOMENTUM * unbiasedVar, 5);
    // GAP of relu(x̂) per example; x̂ uses the biased batch variance.
    const biasedVar = (unbiasedVar * (values.length - 1)) / values.length;
    const xHat = values.map((v) => Math.max(0, (v - m) / Math.sqrt(biasedVar + BN_EPS)));
    const logits = out.logits.dataSync();
    expect(logits[0]).toBeCloseTo(xHat.slice(0, 4).reduce((a, b) => a + b, 0) / 4, 5);
    expect(logits[2]).toBeCloseTo(xHat.slice(4).reduce((a, b) => a + b, 0) / 4, 5);
    out.logits.dispose();
    out.mean.dispose();
    out.variance.dispose();
    expect(tf.memory().numTensors).toBe(before);
    for (const t of params.values()) t.dispose();
  });

  it('predict leaves no tensors behind and rejects a state dict of another network', () => {
    const sd = initStateDict(CNN_S_MNIST, new Rng(3));
    const x = new Rng(4).uniformArray(5 * 784);
    const before = tf.memory().numTensors;
    const p = predict(CNN_S_MNIST, sd, x, 5, 2);
    expect(p.length).toBe(5);
    expect(tf.memory().numTensors).toBe(before);
    // Batching does not change the answer.
    expect(predict(CNN_S_MNIST, sd, x, 5, 5)).toEqual(p);
    const wrong = initStateDict(CNN_M_MNIST, new Rng(3));
    expect(() => predict(CNN_S_MNIST, wrong, x, 5)).toThrow(
      /conv1\.weight" has shape \[16,1,3,3\], the network needs \[8,1,3,3\]/,
    );
    expect(() => predict(MLP_MNIST, initStateDict(MLP_MNIST, new Rng(1)), x, 4)).toThrow(/expected n=4/);
  });
});
