// The training step's numbers, pinned: a few steps of every sequence model (v-prediction, AdamW with weight
// decay, weight EMA, per-layer conditioning) against loss histories and weight sums recorded from the
// step-by-step formulation. A faster step must keep them (the fixture was recorded on the CPU backend without
// oneDNN; the tolerance, 5e-5 relative, absorbs another CPU's or oneDNN's kernel rounding — 1e-5 to 2e-5 on these
// losses — not a changed formula, which moves them by 1e-3 and more).
// RECORD_STEP_FIXTURE=1 rewrites the fixture.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { disposeGenerator, trainGenerator } from '../src/train-generator.js';
import { toyStepOptions } from './helpers.js';

const MODELS = ['lstm', 'transformer', 'mamba2', 'none'] as const;
const fixturePath = join(import.meta.dirname, 'fixtures', 'step-losses.json');
const record = process.env.RECORD_STEP_FIXTURE === '1';

interface Pinned {
  losses: number[];
  /** Sum and sum of squares of every final weight, by model part. */
  sums: Record<string, [number, number]>;
}

async function run(model: (typeof MODELS)[number]): Promise<Pinned> {
  const gen = await trainGenerator(
    toyStepOptions(model, { stateOf: [0, 0, 0, 1, 1, 1], steps: 6, diffusionBatch: 24, seed: 3 }),
  );
  const sums: Record<string, [number, number]> = {};
  for (const [part, weights] of [
    ['prototype', gen.prototype.weights()],
    ['decoder', gen.decoder.weights()],
  ] as const) {
    let s = 0;
    let s2 = 0;
    for (const entry of weights.values()) {
      for (const v of entry.data as Float32Array) {
        s += v;
        s2 += v * v;
      }
    }
    sums[part] = [s, s2];
  }
  const losses = gen.lossHistory;
  disposeGenerator(gen);
  return { losses, sums };
}

useBackend();

describe('training step numbers', () => {
  it.each(MODELS)('%s matches the recorded losses and weights', async (model) => {
    const got = await run(model);
    const fixture = JSON.parse(readFileSync(fixturePath, 'utf8')) as Record<string, Pinned>;
    if (record) {
      fixture[model] = got;
      writeFileSync(fixturePath, `${JSON.stringify(fixture, null, 2)}\n`);
      return;
    }
    const want = fixture[model]!;
    expect(got.losses).toHaveLength(want.losses.length);
    for (const [i, l] of got.losses.entries()) {
      expect(Math.abs(l - want.losses[i]!)).toBeLessThan(5e-5 * Math.abs(want.losses[i]!));
    }
    for (const part of ['prototype', 'decoder']) {
      const [s, s2] = got.sums[part]!;
      const [ws, ws2] = want.sums[part]!;
      expect(Math.abs(s - ws)).toBeLessThan(1e-4 * (1 + Math.abs(ws)));
      expect(Math.abs(s2 - ws2)).toBeLessThan(1e-5 * (1 + ws2));
    }
  });
});
