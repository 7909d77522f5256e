/**
 * Small networks and models the tests of this package and of the packages above it share. Exported as
 * `@rpg/checkpoint-harvest/test-fixtures` (test code only).
 */
import { Rng, type StateDict } from '@rpg/core';
import { initStateDict } from '../src/layout.js';
import type { NetworkSpec } from '../src/network-spec.js';

/** A CNN of one bias-free conv (then BatchNorm, ReLU, global average pooling and the classifier). */
export function oneConvCnn(
  inputShape: [number, number, number],
  conv: { out: number; kernel: number; padding: number },
  numClasses: number,
): NetworkSpec {
  return { type: 'cnn', inputShape, conv: [{ ...conv, bias: false }], numClasses };
}

/** A CNN of two bias-free convs, the first max-pooled, at `widths`. */
export function twoConvCnn(
  inputShape: [number, number, number],
  widths: [number, number],
  numClasses: number,
): NetworkSpec {
  return {
    type: 'cnn',
    inputShape,
    conv: [
      { out: widths[0], kernel: 3, padding: 1, bias: false, pool: true },
      { out: widths[1], kernel: 3, padding: 1, bias: false },
    ],
    numClasses,
  };
}

/**
 * A two-stage ResNet on `inputShape`: a 3×3 stem to `widths[0]`, stage 1 of `firstBlocks` identity blocks at that
 * width, stage 2 of one block to `widths[1]` at stride 2 (so it has a projection shortcut).
 */
export function twoStageResnet(
  inputShape: [number, number, number],
  widths: [number, number],
  numClasses: number,
  firstBlocks = 1,
): NetworkSpec {
  return {
    type: 'resnet',
    inputShape,
    stem: { out: widths[0], kernel: 3, padding: 1 },
    stages: [
      { out: widths[0], blocks: firstBlocks },
      { out: widths[1], blocks: 1, stride: 2 },
    ],
    numClasses,
  };
}

/** Which tensors {@link randomModel} draws afresh: normal shifts (σ 0.3) and uniform scales (0.5 to 2). */
export interface Randomised {
  shift: RegExp;
  scale: RegExp;
}

/** BatchNorm running statistics and affine parameters (the default of {@link randomModel}). */
export const BATCH_NORM_STATE: Randomised = {
  shift: /running_mean$|bn1\.bias$|bn2\.bias$/,
  scale: /running_var$|bn\d\.weight$|downsample\.1\.weight$/,
};

/**
 * Random weights, and `randomised` BatchNorm tensors drawn afresh (by default its running statistics and affine
 * parameters), so eval mode is really exercised.
 */
export function randomModel(spec: NetworkSpec, seed: number, randomised = BATCH_NORM_STATE): StateDict {
  const rng = new Rng(seed);
  const sd = initStateDict(spec, rng.fork('init'));
  for (const [name, e] of sd) {
    if (randomised.shift.test(name)) e.data = rng.normalArray(e.data.length, 0, 0.3);
    if (randomised.scale.test(name)) e.data = rng.uniformArray(e.data.length, 0.5, 2);
  }
  return sd;
}
