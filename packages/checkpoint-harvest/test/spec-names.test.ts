import { readFileSync } from 'node:fs';
import { Rng, type StateDict } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import {
  CNN_S_MNIST,
  harvestRun,
  initStateDict,
  type NetworkSpec,
  parameterLayout,
  parseNetworkSpec,
  predictLogits,
  syntheticDataset,
  trainableNames,
} from '../src/index.js';
import { oneConvCnn } from './fixtures.js';

useBackend();

const CNN = oneConvCnn([6, 6, 1], { out: 3, kernel: 3, padding: 1 }, 4);

/**
 * `nn.Sequential(Conv2d(1, 3, 3, padding=1, bias=False), BatchNorm2d(3), ReLU(), AdaptiveAvgPool2d(1),
 * Flatten(), Linear(3, 4))`: its state dict says `0.weight`, `1.*`, `5.*`.
 */
const SEQUENTIAL: NetworkSpec = {
  ...CNN,
  names: {
    'conv1.weight': '0.weight',
    'bn1.weight': '1.weight',
    'bn1.bias': '1.bias',
    'bn1.running_mean': '1.running_mean',
    'bn1.running_var': '1.running_var',
    'bn1.num_batches_tracked': '1.num_batches_tracked',
    'fc.weight': '5.weight',
    'fc.bias': '5.bias',
  },
} as NetworkSpec;

function renamed(sd: StateDict, names: Record<string, string>): StateDict {
  return new Map([...sd].map(([k, v]) => [names[k] ?? k, v]));
}

describe('network spec defaults', () => {
  it('requires conv padding, naming the field and what to give', () => {
    expect(() => parseNetworkSpec({ ...CNN, conv: [{ out: 3, kernel: 3 }] })).toThrow(
      /conv\.0\.padding.*padding is required/,
    );
  });

  it("gives a conv a bias unless told otherwise, as PyTorch's Conv2d does", () => {
    const withBias = parseNetworkSpec({ ...CNN, conv: [{ out: 3, kernel: 3, padding: 1 }] });
    expect(parameterLayout(withBias).map((e) => e.name)).toContain('conv1.bias');
    expect(parameterLayout(CNN).map((e) => e.name)).not.toContain('conv1.bias');
  });

  it('the CNN example states the values it always used (padding 1, no conv bias): same layout as the preset', () => {
    const example = JSON.parse(
      readFileSync(new URL('../../../examples/mnist-cnn.json', import.meta.url), 'utf8'),
    );
    const spec = parseNetworkSpec(example.harvest.network);
    expect(parameterLayout(spec)).toEqual(parameterLayout(CNN_S_MNIST));
    expect(spec.type === 'cnn' && spec.conv.every((c) => c.padding === 1 && c.bias === false)).toBe(true);
  });
});

describe('network spec names', () => {
  it("maps the spec's tensor names to the checkpoint's keys, in the same order", () => {
    const spec = parseNetworkSpec(SEQUENTIAL);
    expect(parameterLayout(spec).map((e) => e.name)).toEqual([
      '0.weight',
      '1.weight',
      '1.bias',
      '1.running_mean',
      '1.running_var',
      '1.num_batches_tracked',
      '5.weight',
      '5.bias',
    ]);
    expect(trainableNames(spec)).toEqual(['0.weight', '1.weight', '1.bias', '5.weight', '5.bias']);
  });

  it('evaluates a checkpoint under the mapped keys as the same function', () => {
    const rng = new Rng(5);
    const sd = initStateDict(CNN, rng.fork('init'));
    sd.get('bn1.running_mean')!.data = rng.normalArray(3, 0, 0.5);
    sd.get('bn1.running_var')!.data = rng.uniformArray(3, 0.5, 2);
    const x = rng.uniformArray(3 * 36, -1, 1);
    const want = predictLogits(CNN, sd, x, 3);
    const got = predictLogits(SEQUENTIAL, renamed(sd, SEQUENTIAL.names!), x, 3);
    expect(Array.from(got)).toEqual(Array.from(want));
    expect(() => predictLogits(SEQUENTIAL, sd, x, 3)).toThrow(/missing "0\.weight"/);
  });

  it('trains under the mapped keys: checkpoints carry them, running stats included', async () => {
    const data = syntheticDataset({
      seed: 1,
      inputShape: [6, 6, 1],
      numClasses: 4,
      trainSize: 64,
      testSize: 32,
    });
    const opts = { dataset: data, seed: 0, epochs: 1, checkpoints: 2, batchSize: 16 };
    const plain = await harvestRun({ network: CNN, ...opts });
    const mapped = await harvestRun({ network: SEQUENTIAL, ...opts });
    const last = mapped.checkpoints[1]!.stateDict;
    expect([...last.keys()]).toEqual(parameterLayout(SEQUENTIAL).map((e) => e.name));
    expect(last.get('1.running_var')!.data).toEqual(
      plain.checkpoints[1]!.stateDict.get('bn1.running_var')!.data,
    );
    expect(Array.from(last.get('1.running_var')!.data as Float32Array)).not.toEqual([1, 1, 1]);
  });

  it('refuses names that are not tensors of the network, or two tensors under one key', () => {
    expect(() => parseNetworkSpec({ ...CNN, names: { 'conv9.weight': 'x' } })).toThrow(
      /names\.conv9\.weight.*not a tensor of this network/,
    );
    expect(() => parseNetworkSpec({ ...CNN, names: { 'bn1.weight': 'fc.bias' } })).toThrow(
      /would both be stored as "fc\.bias"/,
    );
  });
});
