import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCheckpoint, writeCheckpointsMeta } from '@rpg/checkpoint-harvest';
import { type ArtifactRef, ArtifactStore, loadBackend, Rng, type StateDict } from '@rpg/core';
import { tokenizeStage } from '@rpg/tokenizer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateStageConfigSchema, trainStage } from '../src/stage.js';
import { trainStageConfigSchema } from '../src/train-config.js';

let root: string;
let store: ArtifactStore;
let tokens: ArtifactRef;
const config = {
  prototype: { model: 'none' as const, d: 8, layers: 1, position: 'learnable' as const },
  decoder: { channels: [1, 4, 1], kernel: 3 },
  steps: 4,
  lr: 1e-3,
  batchSize: 2,
  diffusionBatch: 4,
  seed: 0,
  checkpointEvery: 2,
};

beforeAll(async () => {
  await loadBackend({ log: null });
  root = await mkdtemp(join(tmpdir(), 'rpg-stage-resume-'));
  store = new ArtifactStore(join(root, 'store'));
  const rng = new Rng(3);
  const checkpoints = await store.put(
    { kind: 'checkpoints', stage: 'test', config: {}, inputs: [] },
    async (dir) => {
      const entries = [];
      for (let i = 0; i < 3; i++) {
        const sd: StateDict = new Map([['w', { dtype: 'F32', shape: [4, 8], data: rng.normalArray(32) }]]);
        const file = `run00-ckpt00${i}.safetensors`;
        await writeCheckpoint(dir, file, sd);
        entries.push({ file, run: 0, index: i, step: null, testAccuracy: null });
      }
      await writeCheckpointsMeta(dir, {
        format: 'rpg-checkpoints',
        version: 1,
        network: null,
        dataset: null,
        runs: [{}],
        checkpoints: entries,
      });
    },
  );
  tokens = await tokenizeStage({ store }, { checkpoints, tokenizer: { tokenSize: 8 } });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('train stage resume pointer', () => {
  const pointer = (c: typeof config) =>
    join(
      store.root,
      'resume',
      `${ArtifactStore.keyFor('train', trainStageConfigSchema.parse(c), [tokens])}.json`,
    );

  it.each([
    ['not JSON', '{"uri": "store:train-', /is not valid JSON/],
    ['not a reference', '{"hello": 1}', /is not an artifact reference/],
    [
      'a reference to nothing',
      JSON.stringify({
        uri: 'store:train-state/0123456789abcdef0123456789abcdef',
        sha256: 'a'.repeat(64),
        bytes: 10,
        kind: 'train-state',
      }),
      /names store:train-state\/0123456789abcdef0123456789abcdef, which the store does not hold/,
    ],
  ])(
    'refuses a damaged pointer (%s) instead of restarting from step 0, and writes no generator',
    async (_, text, message) => {
      const ours = { ...config, seed: text.length }; // a run of its own: a finished one would not read its pointer
      await mkdir(join(store.root, 'resume'), { recursive: true });
      await writeFile(pointer(ours), text);
      const err = (await trainStage({ store }, { tokens, config: ours }).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toContain(pointer(ours));
      expect(err.message).toMatch(message);
      expect(err.message).toMatch(/Delete it to train again from step 0/);
      await rm(pointer(ours));
      const done = await trainStage({ store }, { tokens, config: ours });
      expect(done.kind).toBe('generator');
    },
  );
});

describe('stage config bounds', () => {
  it('refuses absurd steps, batches, seeds and generation settings, naming the field', () => {
    for (const [field, value] of [
      ['steps', 1e12],
      ['batchSize', 1e6],
      ['diffusionBatch', 1e7],
      ['lr', 10],
      ['seed', 2 ** 40],
    ] as const) {
      const r = trainStageConfigSchema.safeParse({ ...config, [field]: value });
      expect(r.success, field).toBe(false);
      expect(r.error?.issues[0]?.path, field).toEqual([field]);
    }
    expect(trainStageConfigSchema.safeParse(config).success).toBe(true);
    for (const [field, value] of [
      ['count', 1e9],
      ['eta', 5],
      ['chunkSize', 1e9],
      ['seed', -1],
    ] as const) {
      const r = generateStageConfigSchema.safeParse({ count: 1, seed: 0, [field]: value });
      expect(r.success, field).toBe(false);
    }
  });
});
