import { join } from 'node:path';
import { ArtifactStore } from '@rpg/core';
import { useBackend, useTempDir } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import {
  collectCheckpointsStage,
  harvestRun,
  harvestRunStage,
  harvestTaskRunStage,
  loadMnist,
  majorityAccuracy,
  readCheckpointsDir,
  syntheticDataset,
  taskDataset,
} from '../src/index.js';

useBackend();
const root = useTempDir('rpg-harvest-tasks-');

const subset = (positive: number[]) => ({ kind: 'class-subset' as const, numClasses: 10, positive });

describe('binary task data', () => {
  const mnist = loadMnist({ testSize: 1000 });

  it('relabels every example by its class, keeping the examples and their order', () => {
    const d = taskDataset(mnist, subset([0, 7]));
    expect(d.numClasses).toBe(2);
    expect(d.name).toBe('mnist-10k-seed0-test1000-subset-1000000100');
    expect(d.train.x).toBe(mnist.train.x);
    for (let i = 0; i < 500; i++) {
      const c = mnist.test.y[i]!;
      expect(d.test.y[i]).toBe(c === 0 || c === 7 ? 1 : 0);
    }
  });

  it('measures the majority label share', () => {
    const d = taskDataset(mnist, subset([3]));
    const positives = Array.from(d.test.y).filter((y) => y === 1).length;
    expect(majorityAccuracy(d.test)).toBeCloseTo((100 * (1000 - positives)) / 1000, 10);
    expect(majorityAccuracy({ y: Int32Array.from([1, 1, 0, 1]), n: 4 })).toBe(75);
  });

  it('refuses a task over another class count, or a kind with no labels', () => {
    expect(() => taskDataset(mnist, { kind: 'class-subset', numClasses: 4, positive: [1] })).toThrow(
      /task subset-0100 is over 4 classes but data set .* has 10/,
    );
    expect(() => taskDataset(mnist, { kind: 'vector', name: 'v', values: [1] })).toThrow(
      /only class-subset tasks relabel a data set/,
    );
  });

  it('pools MNIST into smaller images with the same split', () => {
    const pooled = loadMnist({ testSize: 1000, pool: 2 });
    expect(pooled.inputShape).toEqual([14, 14, 1]);
    expect(pooled.name).toBe('mnist-10k-seed0-test1000-pool2');
    expect(pooled.test.y).toEqual(mnist.test.y);
    // Pixel (0, 0) of the pooled image is the mean of the 2×2 block at the corner.
    const x = mnist.test.x;
    expect(pooled.test.x[14 * 7 + 3]).toBeCloseTo(
      (x[28 * 14 + 6]! + x[28 * 14 + 7]! + x[28 * 15 + 6]! + x[28 * 15 + 7]!) / 4,
      6,
    );
    expect(() => loadMnist({ pool: 3 })).toThrow(/pool must be 1, 2, 4 or 7/);
  });
});

describe('fine-tuning options of a harvest run', () => {
  const data = syntheticDataset({ seed: 1, inputDim: 6, numClasses: 2, trainSize: 128, testSize: 64 });
  const network = { type: 'mlp' as const, sizes: [6, 5, 2] };

  it('starts from the given tensors and keeps frozen ones unchanged', async () => {
    const donor = await harvestRun({ network, seed: 9, epochs: 1, checkpoints: 1, dataset: data });
    const start = new Map([...donor.checkpoints[0]!.stateDict].filter(([name]) => name.startsWith('0.')));
    const r = await harvestRun({
      network,
      seed: 0,
      epochs: 1,
      checkpoints: 2,
      dataset: data,
      init: start,
      frozen: ['0.weight', '0.bias'],
    });
    for (const c of r.checkpoints) {
      expect(c.stateDict.get('0.weight')!.data).toEqual(start.get('0.weight')!.data);
      expect(c.stateDict.get('0.bias')!.data).toEqual(start.get('0.bias')!.data);
    }
    // The head still learns.
    expect(r.checkpoints[0]!.stateDict.get('2.weight')!.data).not.toEqual(
      r.checkpoints[1]!.stateDict.get('2.weight')!.data,
    );
  });

  it('names a frozen tensor the network does not train, and an init tensor of the wrong shape', async () => {
    await expect(
      harvestRun({ network, seed: 0, epochs: 0, checkpoints: 1, dataset: data, frozen: ['1.weight'] }),
    ).rejects.toThrow(/frozen: "1\.weight" is not a trainable tensor/);
    const bad = new Map([['0.weight', { dtype: 'F32' as const, shape: [5, 7], data: new Float32Array(35) }]]);
    await expect(
      harvestRun({ network, seed: 0, epochs: 0, checkpoints: 1, dataset: data, init: bad }),
    ).rejects.toThrow(/init: "0\.weight" is F32 \[5,7\] but .* needs F32 \[5,6\]/);
  });
});

describe('per-task harvest stage', () => {
  const dataset = { kind: 'mnist' as const, seed: 0, testSize: 500, pool: 4 as const };
  const harvest = {
    network: { type: 'mlp' as const, sizes: [49, 8, 2] },
    seed: 3,
    epochs: 0,
    batchSize: 256,
    checkpoints: 2,
  };

  it('records the task on every checkpoint; run r of every task starts from the same seed', async () => {
    const store = new ArtifactStore(join(root(), 'a'));
    const a = await harvestTaskRunStage({ store }, { dataset, harvest, task: subset([1, 2]), run: 1 });
    const b = await harvestTaskRunStage({ store }, { dataset, harvest, task: subset([5]), run: 1 });
    const { meta: ma } = await readCheckpointsDir((await store.get(a)).dir);
    const { meta: mb } = await readCheckpointsDir((await store.get(b)).dir);
    expect(ma.checkpoints.map((c) => c.task)).toEqual([subset([1, 2]), subset([1, 2])]);
    expect(ma.runs[0]).toMatchObject({ seed: 4, task: 'subset-0110000000' });
    expect(mb.runs[0]).toMatchObject({ seed: 4, task: 'subset-0000010000' });
    expect(ma.dataset).toBe('mnist-10k-seed0-test500-pool4-subset-0110000000');

    const all = await collectCheckpointsStage({ store }, [a, b]);
    const { meta } = await readCheckpointsDir((await store.get(all)).dir);
    expect(meta.checkpoints.map((c) => c.task)).toEqual([
      subset([1, 2]),
      subset([1, 2]),
      subset([5]),
      subset([5]),
    ]);
  });

  it('fine-tunes from a base network: its backbone, a fresh head', async () => {
    const store = new ArtifactStore(join(root(), 'b'));
    const base = await harvestRunStage(
      { store },
      { dataset, harvest: { ...harvest, network: { type: 'mlp', sizes: [49, 8, 10] }, epochs: 1 }, run: 0 },
    );
    const ref = await harvestTaskRunStage(
      { store },
      { dataset, harvest: { ...harvest, frozen: ['0.weight'] }, task: subset([0]), run: 0, base },
    );
    const baseSd = (await readCheckpointsDir((await store.get(base)).dir)).stateDicts.at(-1)!;
    const { stateDicts } = await readCheckpointsDir((await store.get(ref)).dir);
    expect(stateDicts[0]!.get('0.weight')!.data).toEqual(baseSd.get('0.weight')!.data);
    expect(stateDicts[0]!.get('2.weight')!.shape).toEqual([2, 8]);
  });

  it('names a network that is not binary', async () => {
    const store = new ArtifactStore(join(root(), 'c'));
    await expect(
      harvestTaskRunStage(
        { store },
        {
          dataset,
          harvest: { ...harvest, network: { type: 'mlp', sizes: [49, 10] } },
          task: subset([1]),
          run: 0,
        },
      ),
    ).rejects.toThrow(/harvest\.network: mlp .* has 10 outputs; a binary task needs 2/);
  });
});
