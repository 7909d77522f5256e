import { join } from 'node:path';
import { tf } from '@rpg/core';
import { useBackend, useTempDir } from '@rpg/core/test-support';
import { TokenRowsFile, writeTokens } from '@rpg/tokenizer';
import { describe, expect, it } from 'vitest';
import { generate } from '../src/generate.js';
import { loadGenerator, loadTrainState, saveGenerator, saveTrainState } from '../src/generator-files.js';
import { MAX_DEFAULT_STEP_HIDDEN } from '../src/token-decoder.js';
import {
  cosineLr,
  disposeGenerator,
  type TrainedGenerator,
  type TrainGeneratorOptions,
  type TrainState,
  trainGenerator,
} from '../src/train-generator.js';
import { rms, toyCheckpoints } from './helpers.js';

const k = 32;
const toy = toyCheckpoints(8, k);
useBackend();
const dir = useTempDir('rpg-dd-');

function options(overrides: Partial<TrainGeneratorOptions> = {}): TrainGeneratorOptions {
  return {
    tokens: toy.tokens,
    numCheckpoints: 8,
    positions: toy.positions,
    stateOf: [0, 1, 2, 3, 4, 5, 6, 7],
    prototype: { model: 'mamba2', d: 32, layers: 2, position: 'learnable' },
    decoder: { tokenSize: k, channels: [1, 16, 32, 16, 1], kernel: 7 },
    steps: 400,
    lr: 3e-3,
    batchSize: 8,
    diffusionBatch: 128,
    seed: 7,
    emaDecay: 0.99,
    ...overrides,
  };
}

async function generateAll(gen: TrainedGenerator, count: number, seed: number, chunkSize = 4) {
  const models = Array.from({ length: count }, () => new Float32Array(toy.L * k));
  const starts: number[] = [];
  const { states } = await generate(gen, {
    count,
    seed,
    sampler: 'ddim',
    steps: 40,
    chunkSize,
    write: (m, start, rows) => {
      if (m === 0) starts.push(start);
      models[m]!.set(rows, start * k);
    },
  });
  return { models, starts, states };
}

describe('trainGenerator + generate (toy network, 8 checkpoints, 300 parameters, token 32)', () => {
  let gen: TrainedGenerator;

  it('trains: the loss falls clearly', async () => {
    const before = tf.memory().numTensors;
    const events: number[] = [];
    gen = await trainGenerator(options({ progress: (e) => events.push(e.step) }));
    expect(events.length).toBe(400);
    expect(events.at(-1)).toBe(400);
    const h = gen.lossHistory;
    expect(h.length).toBe(400);
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    const first = mean(h.slice(0, 20));
    const last = mean(h.slice(-50));
    expect(last).toBeLessThan(0.35 * first);
    // Only the models' own variables stay alive.
    const own = gen.prototype.trainableVariables().length + gen.decoder.weights().size;
    expect(tf.memory().numTensors - before).toBeLessThanOrEqual(own + 4);
  });

  it('trains the per-token model with per-position states and one shared conditioning', async () => {
    const g = await trainGenerator(
      options({
        prototype: { model: 'none', d: 32, layers: 1, position: 'learnable', stateEmbedding: 'per-position' },
        decoder: { tokenSize: k, channels: [1, 16, 32, 16, 1], kernel: 7, conditioning: 'shared' },
        steps: 200,
      }),
    );
    const h = g.lossHistory;
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(h.slice(-50))).toBeLessThan(0.5 * mean(h.slice(0, 20)));
    // One state table row per (state, token): 8 states × 11 tokens × d 32.
    expect(g.prototype.weights().get('embedding.state')?.shape).toEqual([8, toy.L, 32]);
    disposeGenerator(g);
  });

  it('generates parameters close to the training checkpoints, chunk by chunk', async () => {
    const { models, starts, states } = await generateAll(gen, 3, 11);
    expect(starts).toEqual([0, 4, 8]); // L = 11 rows in chunks of 4
    expect(states.every((s) => Number.isInteger(s) && s >= 0 && s < 8)).toBe(true);
    for (const rows of models) {
      const params = toy.detokenize(rows);
      const nearest = Math.min(...toy.params.map((p) => rms(params, p)));
      // The data's own scale: parameters have RMS ≈ 0.75 and checkpoints differ by RMS ≈ 0.14.
      expect(nearest).toBeLessThan(0.25);
    }
    // A decoder that ignored its training data would be far off: pure noise is at RMS ≈ 1.2.
    const noiseLike = Float32Array.from({ length: 300 }, (_, i) => Math.sin(i * 12.9898) * 1.7);
    expect(Math.min(...toy.params.map((p) => rms(noiseLike, p)))).toBeGreaterThan(0.8);
  });

  it('generates deterministically from a seed, and saves/loads bit-exactly', async () => {
    const a = await generateAll(gen, 2, 5, 11);
    const b = await generateAll(gen, 2, 5, 11);
    expect(b.models).toEqual(a.models);
    const c = await generateAll(gen, 2, 6, 11);
    expect(c.models[0]).not.toEqual(a.models[0]);
    await saveGenerator(join(dir(), 'gen'), gen);
    const loaded = await loadGenerator(join(dir(), 'gen'));
    expect(loaded.config).toEqual(gen.config);
    expect(loaded.lossHistory).toEqual(gen.lossHistory);
    const d = await generateAll(loaded, 2, 5, 11);
    expect(d.models).toEqual(a.models);
    disposeGenerator(loaded);
  });

  it('gives tokens over 1,024 values a step MLP 1,024 wide unless told, recorded in the saved config', async () => {
    expect(gen.config.decoder.stepHidden).toBeUndefined(); // k = 32: the method's width, k
    const big = 2048;
    const wide = toyCheckpoints(2, big);
    const train = (stepHidden?: number) =>
      trainGenerator({
        ...options(),
        tokens: wide.tokens,
        numCheckpoints: 2,
        positions: wide.positions,
        stateOf: [0, 1],
        prototype: { model: 'none', d: 8, layers: 1, position: 'learnable' },
        decoder: { tokenSize: big, channels: [1, 2, 1], kernel: 3, ...(stepHidden ? { stepHidden } : {}) },
        steps: 1,
        batchSize: 2,
        diffusionBatch: 4,
      });
    const capped = await train();
    expect(capped.config.decoder.stepHidden).toBe(MAX_DEFAULT_STEP_HIDDEN);
    await saveGenerator(join(dir(), 'wide'), capped);
    const loaded = await loadGenerator(join(dir(), 'wide'));
    expect(loaded.config.decoder.stepHidden).toBe(MAX_DEFAULT_STEP_HIDDEN);
    expect(loaded.decoder.parameterCount()).toBe(capped.decoder.parameterCount());
    const asked = await train(big);
    expect(asked.decoder.parameterCount() - capped.decoder.parameterCount()).toBe(
      2 * ((256 + big) * (big - MAX_DEFAULT_STEP_HIDDEN) + (big - MAX_DEFAULT_STEP_HIDDEN)),
    );
    for (const g of [capped, loaded, asked]) disposeGenerator(g);
  });

  it('DDPM sampling works too', async () => {
    let rows = 0;
    await generate(gen, {
      count: 1,
      seed: 1,
      sampler: 'ddpm',
      chunkSize: 64,
      write: (_m, _s, t) => {
        rows += t.length / k;
      },
    });
    expect(rows).toBe(toy.L);
    disposeGenerator(gen);
  });
});

describe('resume', () => {
  it('2N steps straight = N steps, checkpoint, resume, N steps (bit-identical weights)', async () => {
    const small = { steps: 12, checkpointEvery: 6, diffusionBatch: 64 };
    const saved: TrainState[] = [];
    const straight = await trainGenerator(
      options({ ...small, onCheckpoint: async (s) => void saved.push(s) }),
    );
    expect(saved.map((s) => s.step)).toEqual([6, 12]);
    // Through the files, as a restarted process would see it.
    await saveTrainState(join(dir(), 'ckpt'), saved[0]!);
    const restored = await loadTrainState(join(dir(), 'ckpt'));
    expect(restored.optimizer.step).toBe(6);
    const resumed = await trainGenerator(options({ ...small, resume: restored }));
    expect(resumed.lossHistory).toEqual(straight.lossHistory);
    expect(resumed.decoder.weights()).toEqual(straight.decoder.weights());
    expect(resumed.prototype.weights()).toEqual(straight.prototype.weights());
    // And a different seed does give different weights (the comparison can fail).
    const other = await trainGenerator(options({ ...small, seed: 8 }));
    expect(other.decoder.weights()).not.toEqual(straight.decoder.weights());
    for (const g of [straight, resumed, other]) disposeGenerator(g);
  });

  it('reads token rows from a tokens file (out of core) with the same result as rows in memory', async () => {
    const path = join(dir(), 'toy-tokens.safetensors');
    const rows = Array.from({ length: 8 }, (_, c) => toy.tokens.subarray(c * toy.L * k, (c + 1) * toy.L * k));
    const config = { tokenSize: k, granularity: 'layer' as const, eps: 1e-8, normalize: true };
    await writeTokens(path, rows, { numTokens: toy.L, config });
    const file = await TokenRowsFile.open(path);
    const small = { steps: 6, diffusionBatch: 64 };
    const fromFile = await trainGenerator(options({ ...small, tokens: file })).finally(() => file.close());
    const inMemory = await trainGenerator(options(small));
    expect(fromFile.lossHistory).toEqual(inMemory.lossHistory);
    expect(fromFile.decoder.weights()).toEqual(inMemory.decoder.weights());
    expect(fromFile.prototype.weights()).toEqual(inMemory.prototype.weights());
    for (const g of [fromFile, inMemory]) disposeGenerator(g);
    const wrongShape = await TokenRowsFile.open(path);
    await expect(
      trainGenerator(options({ ...small, numCheckpoints: 4, stateOf: [0, 1, 2, 3], tokens: wrongShape })),
    ).rejects.toThrow(/tokens are \[8, \d+, 32\], expected \[numCheckpoints, L, k\] = \[4, /);
    wrongShape.close();
  });

  it('stops between steps when aborted, and rejects bad inputs with clear messages', async () => {
    const controller = new AbortController();
    let steps = 0;
    const run = trainGenerator(
      options({
        steps: 50,
        progress: (e) => {
          steps = e.step;
          if (e.step === 3) controller.abort(new Error('cancelled by test'));
        },
        signal: controller.signal,
      }),
    );
    await expect(run).rejects.toThrow(/cancelled by test/);
    expect(steps).toBe(3);
    await expect(trainGenerator(options({ stateOf: [0, 1] }))).rejects.toThrow(/stateOf has 2 entries/);
    await expect(trainGenerator(options({ tokens: new Float32Array(10) }))).rejects.toThrow(
      /tokens has 10 values/,
    );
    await expect(trainGenerator(options({ decoder: { tokenSize: k, d: 16 } }))).rejects.toThrow(/decoder.d/);
  });

  it('cosine learning rate: lr at step 0, lr/2 halfway, → 0 at the end', () => {
    expect(cosineLr(1e-3, 0, 100)).toBe(1e-3);
    expect(cosineLr(1e-3, 50, 100)).toBeCloseTo(5e-4, 12);
    expect(cosineLr(1e-3, 99, 100)).toBeLessThan(1e-6);
  });
});
