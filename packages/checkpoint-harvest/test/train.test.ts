import { loadBackend, type StateDict, tf } from '@rpg/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  accuracy,
  arrayDataset,
  CNN_S_MNIST,
  checkpointSteps,
  type Dataset,
  HarvestError,
  type HarvestResult,
  harvestRun,
  learningRateAt,
  loadMnist,
  MLP_MNIST,
  parameterLayout,
} from '../src/index.js';

let mnist: Dataset;
beforeAll(async () => {
  await loadBackend({ log: null });
  mnist = loadMnist();
});

function sameBits(a: StateDict, b: StateDict): boolean {
  if ([...a.keys()].join() !== [...b.keys()].join()) return false;
  for (const [name, t] of a) {
    const u = b.get(name)!;
    if (t.dtype !== u.dtype || t.shape.join() !== u.shape.join()) return false;
    if (
      !Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(
        Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength),
      )
    )
      return false;
  }
  return true;
}

function maxAbsDiff(a: StateDict, b: StateDict, name: string): number {
  const x = a.get(name)!.data as Float32Array;
  const y = b.get(name)!.data as Float32Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

describe('schedule helpers', () => {
  it('spaces checkpoints evenly, the last at the end of the epoch', () => {
    expect(checkpointSteps(125, 10)).toEqual([12, 25, 37, 50, 62, 75, 87, 100, 112, 125]);
    expect(checkpointSteps(5, 5)).toEqual([1, 2, 3, 4, 5]);
  });
  it('decays the LR by cosine to the final LR, which the collection epoch keeps', () => {
    const c = { lr: 1e-3, finalLr: 1e-4, schedule: 'cosine' as const };
    expect(learningRateAt(c, 0, 100)).toBeCloseTo(1e-3, 12);
    expect(learningRateAt(c, 50, 100)).toBeCloseTo(5.5e-4, 12);
    expect(learningRateAt(c, 100, 100)).toBe(1e-4);
    expect(learningRateAt(c, 150, 100)).toBe(1e-4);
    expect(learningRateAt({ lr: 1e-3, schedule: 'cosine' }, 200, 100)).toBeCloseTo(1e-4, 12);
  });
});

describe('harvestRun on the MNIST MLP 784-64-10', () => {
  let result: HarvestResult;
  const config = {
    network: MLP_MNIST,
    seed: 7,
    epochs: 1,
    lr: 1e-3,
    finalLr: 1e-3,
    checkpoints: 10,
  } as const;

  it('reaches > 85% test accuracy with one training epoch and saves the requested checkpoints', async () => {
    const before = tf.memory().numTensors;
    result = await harvestRun({ ...config, dataset: mnist });
    expect(tf.memory().numTensors).toBe(before); // no leaked tensors or variables
    expect(result.stepsPerEpoch).toBe(125); // 8,000 / 64
    expect(result.checkpoints).toHaveLength(10);
    expect(result.checkpoints.map((c) => c.step)).toEqual(checkpointSteps(125, 10).map((s) => 125 + s));
    for (const c of result.checkpoints) {
      expect(c.testAccuracy).toBeGreaterThan(85);
      expect([...c.stateDict.keys()]).toEqual(parameterLayout(MLP_MNIST).map((e) => e.name));
    }
    expect(result.convergedAccuracy).toBeGreaterThan(80);
    expect(result.finalAccuracy).toBe(result.checkpoints[9]!.testAccuracy);
    expect(result.history.map((h) => h.epoch)).toEqual([1, 2]);
    expect(result.history[1]!.loss).toBeLessThan(result.history[0]!.loss);
    expect(result.config.batchSize).toBe(64);
  });

  it('records accuracies that an independent evaluation reproduces', () => {
    for (const c of [result.checkpoints[0]!, result.checkpoints[9]!]) {
      expect(accuracy(MLP_MNIST, c.stateDict, mnist.test)).toBe(c.testAccuracy);
    }
  });

  it('saves distinct snapshots that stay close to each other', () => {
    const [a, b] = [result.checkpoints[0]!.stateDict, result.checkpoints[1]!.stateDict];
    const d = maxAbsDiff(a, b, '0.weight');
    expect(d).toBeGreaterThan(0);
    expect(d).toBeLessThan(0.1);
  });

  it('is deterministic: same seed → bit-identical checkpoints; another seed → others', async () => {
    const again = await harvestRun({ ...config, dataset: mnist });
    expect(again.checkpoints.map((c) => c.testAccuracy)).toEqual(
      result.checkpoints.map((c) => c.testAccuracy),
    );
    for (const i of [0, 9])
      expect(sameBits(again.checkpoints[i]!.stateDict, result.checkpoints[i]!.stateDict)).toBe(true);
    const other = await harvestRun({ ...config, seed: 8, epochs: 0, checkpoints: 1, dataset: mnist });
    expect(
      maxAbsDiff(other.checkpoints[0]!.stateDict, result.checkpoints[0]!.stateDict, '2.bias'),
    ).toBeGreaterThan(0);
  });

  it('refuses more checkpoints than steps and a network that does not fit the data', async () => {
    await expect(harvestRun({ ...config, checkpoints: 126, dataset: mnist })).rejects.toThrow(
      /126 checkpoints do not fit in one epoch of 125 steps/,
    );
    await expect(
      harvestRun({ ...config, network: { type: 'mlp', sizes: [100, 10] }, dataset: mnist }),
    ).rejects.toThrow(HarvestError);
    await expect(harvestRun({ ...config, lr: -1, dataset: mnist })).rejects.toThrow(/"lr"/);
  });
});

describe('harvestRun on CNN(s)', () => {
  it('trains BatchNorm: running stats move, num_batches_tracked counts the steps, deterministic', async () => {
    const n = 512;
    const small = arrayDataset({
      name: 'mnist-subset',
      inputShape: [28, 28, 1],
      numClasses: 10,
      train: { x: mnist.train.x.subarray(0, n * 784), y: mnist.train.y.subarray(0, n) },
      test: { x: mnist.test.x.subarray(0, 200 * 784), y: mnist.test.y.subarray(0, 200) },
    });
    const options = {
      network: CNN_S_MNIST,
      dataset: small,
      seed: 3,
      epochs: 1,
      checkpoints: 4,
      lr: 3e-3,
    } as const;
    const before = tf.memory().numTensors;
    const result = await harvestRun(options);
    expect(tf.memory().numTensors).toBe(before);
    expect(result.stepsPerEpoch).toBe(8);
    expect(result.checkpoints.map((c) => c.step)).toEqual([10, 12, 14, 16]);
    for (const c of result.checkpoints) {
      for (let layer = 1; layer <= 3; layer++) {
        expect(c.stateDict.get(`bn${layer}.num_batches_tracked`)).toEqual({
          dtype: 'I64',
          shape: [],
          data: BigInt64Array.of(BigInt(c.step)),
        });
      }
      const mean = c.stateDict.get('bn2.running_mean')!.data as Float32Array;
      const variance = c.stateDict.get('bn2.running_var')!.data as Float32Array;
      expect(mean.some((v) => Math.abs(v) > 1e-3)).toBe(true); // init 0
      expect(variance.some((v) => Math.abs(v - 1) > 1e-3)).toBe(true); // init 1
      expect(variance.every((v) => v > 0)).toBe(true);
      expect(c.testAccuracy).toBeGreaterThanOrEqual(0);
    }
    const [first, last] = [result.checkpoints[0]!.stateDict, result.checkpoints[3]!.stateDict];
    expect(maxAbsDiff(first, last, 'bn1.running_mean')).toBeGreaterThan(0);
    expect(maxAbsDiff(first, last, 'conv1.weight')).toBeGreaterThan(0);
    const again = await harvestRun(options);
    expect(sameBits(again.checkpoints[3]!.stateDict, last)).toBe(true);
  });
});
