import { Rng, type StateDict, tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import {
  BN_EPS,
  countParameters,
  forward,
  harvestRun,
  parameterLayout,
  parseNetworkSpec,
  predictLogits,
  stateDictToTensors,
  syntheticDataset,
  trainableNames,
} from '../src/index.js';
import { randomModel, twoStageResnet } from './fixtures.js';

useBackend();

/** 5×5×2 input; stem 3×3 → 3; stage 1: two identity blocks at 3; stage 2: one block to 4, stride 2 (projection). */
const TINY = twoStageResnet([5, 5, 2], [3, 4], 3, 2);

// A direct reference in PyTorch's own layout (CHW feature maps, [out, in, kh, kw] kernels), written from the
// definitions, sharing nothing with the implementation under test.
type Map3 = number[][][];
const get = (sd: StateDict, name: string) => Array.from(sd.get(name)!.data as Float32Array);

function convRef(x: Map3, w: number[], cout: number, k: number, stride: number, pad: number): Map3 {
  const cin = x.length;
  const h = x[0]!.length;
  const wd = x[0]![0]!.length;
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((wd + 2 * pad - k) / stride) + 1;
  const out: Map3 = [];
  for (let o = 0; o < cout; o++) {
    out.push([]);
    for (let i = 0; i < oh; i++) {
      out[o]!.push([]);
      for (let j = 0; j < ow; j++) {
        let s = 0;
        for (let c = 0; c < cin; c++)
          for (let a = 0; a < k; a++)
            for (let b = 0; b < k; b++) {
              const y = i * stride + a - pad;
              const xx = j * stride + b - pad;
              if (y >= 0 && y < h && xx >= 0 && xx < wd)
                s += w[((o * cin + c) * k + a) * k + b]! * x[c]![y]![xx]!;
            }
        out[o]![i]!.push(s);
      }
    }
  }
  return out;
}

function bnRef(x: Map3, sd: StateDict, name: string): Map3 {
  const [g, b, m, v] = ['weight', 'bias', 'running_mean', 'running_var'].map((f) => get(sd, `${name}.${f}`));
  return x.map((ch, c) =>
    ch.map((row) => row.map((val) => ((val - m![c]!) / Math.sqrt(v![c]! + BN_EPS)) * g![c]! + b![c]!)),
  );
}

const reluRef = (x: Map3): Map3 => x.map((ch) => ch.map((row) => row.map((v) => Math.max(0, v))));
const addRef = (a: Map3, b: Map3): Map3 =>
  a.map((ch, c) => ch.map((row, i) => row.map((v, j) => v + b[c]![i]![j]!)));

function resnetRef(sd: StateDict, xNhwc: number[]): number[] {
  let h: Map3 = [0, 1].map((c) =>
    [0, 1, 2, 3, 4].map((i) => [0, 1, 2, 3, 4].map((j) => xNhwc[(i * 5 + j) * 2 + c]!)),
  );
  h = reluRef(bnRef(convRef(h, get(sd, 'conv1.weight'), 3, 3, 1, 1), sd, 'bn1'));
  const block = (x: Map3, p: string, cout: number, stride: number, project: boolean): Map3 => {
    const y = reluRef(bnRef(convRef(x, get(sd, `${p}.conv1.weight`), cout, 3, stride, 1), sd, `${p}.bn1`));
    const z = bnRef(convRef(y, get(sd, `${p}.conv2.weight`), cout, 3, 1, 1), sd, `${p}.bn2`);
    const short = project
      ? bnRef(convRef(x, get(sd, `${p}.downsample.0.weight`), cout, 1, stride, 0), sd, `${p}.downsample.1`)
      : x;
    return reluRef(addRef(z, short));
  };
  h = block(h, 'layer1.0', 3, 1, false);
  h = block(h, 'layer1.1', 3, 1, false);
  h = block(h, 'layer2.0', 4, 2, true);
  const pooled = h.map((ch) => ch.flat().reduce((a, b) => a + b, 0) / ch.flat().length);
  const w = get(sd, 'fc.weight');
  const b = get(sd, 'fc.bias');
  return [0, 1, 2].map((o) => b[o]! + pooled.reduce((s, v, c) => s + w[o * 4 + c]! * v, 0));
}

describe('resnet', () => {
  it('has torchvision state-dict names, in state_dict() order, and counts parameters as PyTorch does', () => {
    const names = parameterLayout(TINY).map((e) => e.name);
    const bn = (p: string) =>
      ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((f) => `${p}.${f}`);
    const block = (p: string, project: boolean) => [
      `${p}.conv1.weight`,
      ...bn(`${p}.bn1`),
      `${p}.conv2.weight`,
      ...bn(`${p}.bn2`),
      ...(project ? [`${p}.downsample.0.weight`, ...bn(`${p}.downsample.1`)] : []),
    ];
    expect(names).toEqual([
      'conv1.weight',
      ...bn('bn1'),
      ...block('layer1.0', false),
      ...block('layer1.1', false),
      ...block('layer2.0', true),
      'fc.weight',
      'fc.bias',
    ]);
    const shape = (n: string) => parameterLayout(TINY).find((e) => e.name === n)!.shape;
    expect(shape('conv1.weight')).toEqual([3, 2, 3, 3]);
    expect(shape('layer2.0.conv1.weight')).toEqual([4, 3, 3, 3]);
    expect(shape('layer2.0.downsample.0.weight')).toEqual([4, 3, 1, 1]);
    expect(shape('fc.weight')).toEqual([3, 4]);
    // conv 54 + bn 6; two blocks of 2·(81 + 6); block 2: 108 + 8 + 144 + 8 + 12 + 8; fc 15
    expect(countParameters(TINY)).toBe(54 + 6 + 2 * 2 * 87 + 108 + 8 + 144 + 8 + 12 + 8 + 15);
    expect(trainableNames(TINY)).not.toContain('layer2.0.downsample.1.running_var');
  });

  it('eval forward equals a direct computation from the definitions (identity and projection shortcuts)', () => {
    const sd = randomModel(TINY, 3);
    const x = Array.from(new Rng(9).uniformArray(2 * 50, -1, 1));
    const got = predictLogits(TINY, sd, Float32Array.from(x), 2);
    for (let n = 0; n < 2; n++) {
      const want = resnetRef(sd, x.slice(n * 50, (n + 1) * 50));
      for (let o = 0; o < 3; o++) expect(got[n * 3 + o]).toBeCloseTo(want[o]!, 4);
    }
    expect(new Set(Array.from(got).map((v) => v.toFixed(3))).size).toBe(6); // a degenerate case would tell nothing
  });

  it('train mode returns a running-stat update for every BatchNorm, the projection shortcut included', () => {
    const sd = randomModel(TINY, 4);
    const tensors = stateDictToTensors(TINY, sd);
    // The running-stat tensors are kept: they outlive the tidy, as the harvest loop needs.
    let stats = new Map<string, tf.Tensor>();
    tf.tidy(() => {
      stats = forward(TINY, tensors, tf.randomNormal([4, 50], 0, 1, 'float32', 1), 'train').runningStats;
    });
    const bnCount = parameterLayout(TINY).filter((e) => e.name.endsWith('running_mean')).length;
    expect(stats.size).toBe(2 * bnCount);
    expect(stats.has('layer2.0.downsample.1.running_var')).toBe(true);
    for (const t of [...stats.values(), ...tensors.values()]) t.dispose();
  });

  it('trains far above chance (33 %) on a synthetic task', async () => {
    const data = syntheticDataset({
      seed: 2,
      inputShape: [5, 5, 2],
      numClasses: 3,
      trainSize: 300,
      testSize: 150,
      noise: 0.5,
    });
    const r = await harvestRun({
      network: TINY,
      dataset: data,
      seed: 0,
      epochs: 6,
      lr: 0.01,
      checkpoints: 3,
    });
    expect(r.finalAccuracy).toBeGreaterThan(90);
    expect(r.checkpoints[0]!.stateDict.get('layer2.0.downsample.1.num_batches_tracked')!.data[0]).toBe(
      BigInt(r.checkpoints[0]!.step),
    );
  });

  it('rejects a spec whose feature map vanishes, naming the stage', () => {
    expect(() =>
      parseNetworkSpec({
        ...TINY,
        stages: [
          { out: 3, blocks: 1, stride: 8 },
          { out: 3, blocks: 1, stride: 8 },
        ],
      }),
    ).not.toThrow(); // strides that reach 1×1 are fine
    expect(() => parseNetworkSpec({ ...TINY, stem: { out: 3, kernel: 7, padding: 0 } })).toThrow(
      /"stem".*shrinks/,
    );
    expect(() => parseNetworkSpec({ ...TINY, stem: { out: 3, kernel: 3 } })).toThrow(/stem\.padding/);
  });
});
