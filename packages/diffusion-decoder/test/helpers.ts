import { Rng } from '@rpg/core';
import type { TokenPosition } from '@rpg/recurrent-prototype';
import type { TrainGeneratorOptions } from '../src/train-generator.js';

/**
 * A toy "network" of 300 parameters in three layers (200, 20, 80 values) with a fixed smooth structure, and
 * `count` checkpoints = structure + small per-checkpoint noise, tokenized by hand (token size k, NaN padding).
 */
export function toyCheckpoints(count: number, k: number, spread = 0.1, seed = 1) {
  const sizes = [200, 20, 80];
  const rng = new Rng(seed);
  const base: number[] = [];
  sizes.forEach((n, layer) => {
    const phase = rng.uniform() * Math.PI;
    for (let i = 0; i < n; i++) base.push(Math.sin(phase + (i * (layer + 1)) / 7) + 0.3 * rng.normal());
  });
  const positions: TokenPosition[] = [];
  const rowStart: number[] = []; // first parameter index of each token row
  const rowLength: number[] = [];
  let offset = 0;
  sizes.forEach((n, layerIndex) => {
    const layerTokens = Math.ceil(n / k);
    for (let j = 0; j < layerTokens; j++) {
      positions.push({ layerIndex, indexInLayer: j, layerTokens });
      rowStart.push(offset + j * k);
      rowLength.push(Math.min(k, n - j * k));
    }
    offset += n;
  });
  const L = positions.length;
  const params: Float32Array[] = [];
  const tokens = new Float32Array(count * L * k).fill(Number.NaN);
  for (let c = 0; c < count; c++) {
    const p = Float32Array.from(base, (v) => v + spread * rng.normal());
    params.push(p);
    for (let r = 0; r < L; r++) {
      for (let j = 0; j < rowLength[r]!; j++) tokens[(c * L + r) * k + j] = p[rowStart[r]! + j]!;
    }
  }
  /** Token rows [L, k] → the 300 parameters (padding dropped). */
  const detokenize = (rows: Float32Array): Float32Array => {
    const out = new Float32Array(300);
    for (let r = 0; r < L; r++)
      for (let j = 0; j < rowLength[r]!; j++) out[rowStart[r]! + j] = rows[r * k + j]!;
    return out;
  };
  return { tokens, positions, L, params, base: Float32Array.from(base), detokenize };
}

export function rms(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s / a.length);
}

/**
 * A few training steps on 6 toy checkpoints of tokens of 32 with a small two-layer `model` and a v-predicting
 * decoder: the step tests' shared setting; `options` adds to or overrides it.
 */
export function toyStepOptions(
  model: 'mamba2' | 'lstm' | 'transformer' | 'none',
  options: Partial<TrainGeneratorOptions> &
    Pick<TrainGeneratorOptions, 'stateOf' | 'steps' | 'diffusionBatch' | 'seed'>,
): TrainGeneratorOptions {
  const toy = toyCheckpoints(6, 32);
  return {
    tokens: toy.tokens,
    numCheckpoints: 6,
    positions: toy.positions,
    prototype: { model, d: 32, layers: 2, position: 'learnable' },
    decoder: { tokenSize: 32, channels: [1, 8, 16, 8, 1], kernel: 5, prediction: 'v' },
    lr: 2e-3,
    batchSize: 4,
    weightDecay: 0.01,
    emaDecay: 0.9,
    ...options,
  };
}
