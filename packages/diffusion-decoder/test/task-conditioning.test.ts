import { join } from 'node:path';
import type { CheckpointsMeta } from '@rpg/checkpoint-harvest';
import { Rng } from '@rpg/core';
import { useBackend, useTempDir } from '@rpg/core/test-support';
import type { TokenPosition } from '@rpg/recurrent-prototype';
import { describe, expect, it } from 'vitest';
import { generate } from '../src/generate.js';
import { loadGenerator, saveGenerator } from '../src/generator-files.js';
import { seedStates, tasksOf } from '../src/task-conditioning.js';
import {
  disposeGenerator,
  type TrainedGenerator,
  type TrainGeneratorOptions,
  trainGenerator,
} from '../src/train-generator.js';
import { rms } from './helpers.js';

/**
 * Toy tasks over 3 "classes": a task's parameters are a fixed base plus the sum of one pattern per positive
 * class (so they depend on the task smoothly, as trained heads do); 2 tokens of 16 values, 2 checkpoints per task.
 */
const k = 16;
const L = 2;
const rng = new Rng(3);
const base = rng.normalArray(L * k);
const patterns = [0, 1, 2].map(() => rng.normalArray(L * k, 0, 1.5));
const bitsOf = (mask: number) => [0, 1, 2].map((c) => (mask >> c) & 1);
const target = (mask: number) =>
  base.map((v, i) => v + bitsOf(mask).reduce((s, b, c) => s + b * patterns[c]![i]!, 0));
const TASKS = [1, 2, 3, 4, 5, 6];
const tokens = new Float32Array(TASKS.length * 2 * L * k);
TASKS.forEach((mask, t) => {
  for (let c = 0; c < 2; c++) {
    const noisy = target(mask).map((v) => v + 0.02 * rng.normal());
    tokens.set(noisy, (t * 2 + c) * L * k);
  }
});
const positions: TokenPosition[] = [
  { layerIndex: 0, indexInLayer: 0, layerTokens: 1 },
  { layerIndex: 1, indexInLayer: 0, layerTokens: 1 },
];

function options(overrides: Partial<TrainGeneratorOptions> = {}): TrainGeneratorOptions {
  return {
    tokens,
    numCheckpoints: TASKS.length * 2,
    positions,
    stateOf: TASKS.flatMap(() => [0, 0]),
    tasks: { vectors: TASKS.map(bitsOf), of: TASKS.flatMap((_, t) => [t, t]) },
    prototype: {
      model: 'transformer',
      d: 32,
      layers: 1,
      position: 'learnable',
      task: { inputDim: 3, hidden: 16 },
    },
    decoder: { tokenSize: k, channels: [1, 8, 16, 8, 1], kernel: 5, prediction: 'x0' },
    steps: 300,
    lr: 5e-3,
    batchSize: 6,
    diffusionBatch: 12,
    seed: 1,
    emaDecay: 0.95,
    ...overrides,
  };
}

async function sample(gen: TrainedGenerator, task: number[] | undefined, seed = 0): Promise<Float32Array> {
  const out = new Float32Array(L * k);
  await generate(gen, {
    count: 1,
    seed,
    steps: 20,
    eta: 0,
    ...(task ? { task } : {}),
    write: (_m, start, rows) => out.set(rows, start * k),
  });
  return out;
}

useBackend();
const dir = useTempDir('rpg-dd-task-');

describe('a task-conditioned generator (toy tasks)', () => {
  let gen: TrainedGenerator;

  it('generates each trained task’s own parameters from its vector', async () => {
    gen = await trainGenerator(options());
    for (const mask of [1, 6]) {
      const own = rms(await sample(gen, bitsOf(mask)), target(mask));
      const other = rms(await sample(gen, bitsOf(7 - mask)), target(mask));
      expect(own, `task ${mask}`).toBeLessThan(0.5 * other);
    }
  });

  it('saves and loads with its task embedding: the same tokens for the same task and seed', async () => {
    await saveGenerator(join(dir(), 'gen'), gen);
    const loaded = await loadGenerator(join(dir(), 'gen'));
    try {
      expect(loaded.prototype.taskInputDim).toBe(3);
      expect(await sample(loaded, [1, 0, 1], 4)).toEqual(await sample(gen, [1, 0, 1], 4));
    } finally {
      disposeGenerator(loaded);
    }
  });

  it('needs the task to generate, of the right width', async () => {
    await expect(sample(gen, undefined)).rejects.toThrow(/task-conditioned: give the task vector/);
    await expect(sample(gen, [1, 0])).rejects.toThrow(/task vector has 2 values, the generator takes 3/);
  });

  it('is deterministic: same options, same weights', async () => {
    const again = await trainGenerator(options({ steps: 20 }));
    const twice = await trainGenerator(options({ steps: 20 }));
    try {
      const a = again.prototype.weights();
      for (const [name, e] of twice.prototype.weights()) expect(e.data, name).toEqual(a.get(name)!.data);
    } finally {
      disposeGenerator(again);
      disposeGenerator(twice);
      disposeGenerator(gen);
    }
  });
});

describe('task options are checked', () => {
  it('refuses tasks without a task embedding, and a task embedding without tasks', async () => {
    const { task: _t, ...plain } = options().prototype;
    await expect(trainGenerator(options({ prototype: plain }))).rejects.toThrow(/prototype\.task is not set/);
    await expect(trainGenerator(options({ tasks: undefined }))).rejects.toThrow(/pass tasks/);
  });

  it('names the bad entry', async () => {
    await expect(trainGenerator(options({ tasks: { vectors: [[1, 0, 0]], of: [0] } }))).rejects.toThrow(
      /tasks\.of has 1 entries, expected one per checkpoint \(12\)/,
    );
    const of = TASKS.flatMap((_, t) => [t, t]);
    of[3] = 9;
    await expect(trainGenerator(options({ tasks: { vectors: TASKS.map(bitsOf), of } }))).rejects.toThrow(
      /tasks\.of\[3\] = 9 is not a task index in \[0, 6\)/,
    );
    const vectors = TASKS.map(bitsOf);
    vectors[2] = [1, 0];
    await expect(
      trainGenerator(options({ tasks: { vectors, of: TASKS.flatMap((_, t) => [t, t]) } })),
    ).rejects.toThrow(/tasks\.vectors\[2\] has 2 values, prototype\.task\.inputDim is 3/);
  });
});

describe('reading tasks and seeds from a checkpoints collection', () => {
  const task = (positive: number[]) => ({ kind: 'class-subset' as const, numClasses: 10, positive });
  const meta: CheckpointsMeta = {
    format: 'rpg-checkpoints',
    version: 1,
    network: null,
    dataset: null,
    runs: [{ seed: 5 }, { seed: 6 }, { seed: 5 }],
    checkpoints: [
      { file: 'a.safetensors', run: 0, index: 0, step: 1, testAccuracy: null, task: task([1]) },
      { file: 'b.safetensors', run: 1, index: 0, step: 1, testAccuracy: null, task: task([1]) },
      { file: 'c.safetensors', run: 2, index: 0, step: 1, testAccuracy: null, task: task([2, 3]) },
    ],
  };

  it('gives one vector per distinct task and each checkpoint’s index', () => {
    const t = tasksOf(meta, 10);
    expect(t.of).toEqual([0, 0, 1]);
    expect(t.vectors.map((v) => Array.from(v))).toEqual([
      [0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
      [0, 0, 1, 1, 0, 0, 0, 0, 0, 0],
    ]);
    expect(() => tasksOf(meta, 8)).toThrow(/a\.safetensors: task subset-0100000000 has 10 values/);
    const untasked = { ...meta, checkpoints: meta.checkpoints.map(({ task: _t, ...c }) => c) };
    expect(() => tasksOf(untasked, 10)).toThrow(/checkpoint a\.safetensors records no task/);
  });

  it('shares a permutation state between runs of the same seed', () => {
    expect(seedStates(meta)).toEqual([0, 1, 0]);
  });
});
