/**
 * Small networks and models the tests of this package and of the packages above it share. Exported as
 * `@rpg/checkpoint-harvest/test-fixtures` (test code only).
 */
import { Rng, type StateDict } from '@rpg/core';
import { initStateDict } from '../src/layout.js';
import type { NetworkSpec } from '../src/network-spec.js';

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

/** Random weights and random BatchNorm statistics and affine parameters, so eval mode is really exercised. */
export function randomModel(spec: NetworkSpec, seed: number): StateDict {
  const rng = new Rng(seed);
  const sd = initStateDict(spec, rng.fork('init'));
  for (const [name, e] of sd) {
    if (name.endsWith('running_mean') || name.endsWith('bn1.bias') || name.endsWith('bn2.bias'))
      e.data = rng.normalArray(e.data.length, 0, 0.3);
    if (name.endsWith('running_var') || /bn\d\.weight$|downsample\.1\.weight$/.test(name))
      e.data = rng.uniformArray(e.data.length, 0.5, 2);
  }
  return sd;
}
