import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBackend, Rng, type StateDict } from '@rpg/core';
import { fitTokenizer, NonFiniteError, tokenize, tokenizerFingerprint, tokenPositions } from '@rpg/tokenizer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointSink } from '../src/checkpoint-sink.js';
import { generate, nonFiniteWeights } from '../src/generate.js';
import { disposeGenerator, type TrainedGenerator, trainGenerator } from '../src/train-generator.js';
import { checkTrainedOn } from '../src/trained-on.js';

/** Checkpoints of a tiny 8-4 linear layer around `centre`. */
function checkpoints(seed: number, centre: number): StateDict[] {
  const rng = new Rng(seed);
  return Array.from({ length: 3 }, () => {
    const sd: StateDict = new Map();
    sd.set('fc.weight', { dtype: 'F32', shape: [4, 8], data: rng.normalArray(32, centre, 0.1) });
    sd.set('fc.bias', { dtype: 'F32', shape: [4], data: rng.normalArray(4, 0, 0.1) });
    return sd;
  });
}

const ckpts = checkpoints(1, 0);
const state = fitTokenizer(ckpts, { tokenSize: 8 });
let gen: TrainedGenerator;
let dir: string;

beforeAll(async () => {
  await loadBackend({ log: null });
  dir = await mkdtemp(join(tmpdir(), 'rpg-refusals-'));
  const tokens = new Float32Array(3 * state.numTokens * 8);
  for (const [i, c] of ckpts.entries()) tokens.set(tokenize(state, c), i * state.numTokens * 8);
  gen = await trainGenerator({
    tokens,
    numCheckpoints: 3,
    positions: tokenPositions(state),
    tokenizer: tokenizerFingerprint(state),
    stateOf: [0, 0, 0],
    prototype: { model: 'none', d: 8, layers: 1, position: 'learnable' },
    decoder: { tokenSize: 8, channels: [1, 4, 1], kernel: 3 },
    steps: 2,
    lr: 1e-3,
    batchSize: 2,
    diffusionBatch: 4,
    seed: 0,
  });
});
afterAll(async () => {
  disposeGenerator(gen);
  await rm(dir, { recursive: true, force: true });
});

describe('generation refuses what would give wrong models', () => {
  it('accepts the tokenizer it was trained on and refuses another fitted on other checkpoints', () => {
    expect(gen.config.tokenizer).toEqual(tokenizerFingerprint(state));
    expect(() => checkTrainedOn(gen, state, 'here')).not.toThrow();
    const other = fitTokenizer(checkpoints(2, 5), { tokenSize: 8 }); // same layout, other statistics
    expect(() => checkTrainedOn(gen, other, 'in /x')).toThrow(
      /tokenizer in \/x is not the one this generator was trained on: its normalization statistics differ/,
    );
    const wider = fitTokenizer(checkpoints(1, 0), { tokenSize: 4 });
    expect(() => checkTrainedOn(gen, wider, 'in /y')).toThrow(/lays out \d+ tokens of 4 values/);
  });

  it('refuses a generator whose weights are not finite, before generating anything', async () => {
    const weights = gen.decoder.weights();
    const broken = new Map(weights);
    const w = broken.get('convs.0.weight')!;
    broken.set('convs.0.weight', { ...w, data: (w.data as Float32Array).map(() => Number.NaN) });
    gen.decoder.loadWeights(broken);
    try {
      expect(nonFiniteWeights(gen)).toEqual(['decoder.convs.0.weight']);
      const writes: number[] = [];
      await expect(generate(gen, { count: 1, seed: 0, write: (m) => void writes.push(m) })).rejects.toThrow(
        /generator's weights are not finite \(NaN or infinite values in decoder\.convs\.0\.weight\)/,
      );
      expect(writes).toEqual([]);
    } finally {
      gen.decoder.loadWeights(weights);
    }
    expect(nonFiniteWeights(gen)).toEqual([]);
  });

  it('never writes a model file with a non-finite parameter', async () => {
    const sink = checkpointSink(state, dir, (m) => `gen-${m}.safetensors`);
    const rows = new Float32Array(state.numTokens * 8).fill(0.5);
    rows[3] = Number.POSITIVE_INFINITY; // a real (non-padding) value of fc.weight
    await expect(sink.write(0, 0, rows)).rejects.toThrow(NonFiniteError);
    await expect(sink.write(0, 0, rows)).rejects.toThrow(
      /tensor "fc.weight" would get a non-finite value \(Infinity\) at flat index 3; nothing was written/,
    );
    await sink.abort();
    expect(await readdir(dir)).toEqual([]);
  });
});
