/**
 * Malformed experiment configs, read from files as `rpg run/start/local` read them: each is refused with a
 * ConfigError naming the file, the field and what is wrong, before anything is written. The same functions back
 * every command (the CLI runs are in malformed-cli.test.ts).
 */
import { mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExperiment } from '../src/experiment.js';
import { ConfigError } from '../src/pipeline-config.js';
import { tinyConfig } from './tiny-config.js';
import { tinyUnseenConfig } from './tiny-unseen-config.js';

let root = '';
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rpg-malformed-config-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A copy of `base` with `path` (dotted) set to `value` (undefined deletes it). */
function edit(base: object, path: string, value: unknown): unknown {
  const copy = structuredClone(base) as Record<string, unknown>;
  const keys = path.split('.');
  let at = copy;
  for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>;
  if (value === undefined) delete at[keys.at(-1)!];
  else at[keys.at(-1)!] = value;
  return copy;
}

/** Writes the config, loads it expecting a ConfigError; checks that only the config file is in the folder. */
async function refused(config: unknown | string): Promise<{ file: string; message: string }> {
  const file = join(root, `config-${n++}.json`);
  await writeFile(file, typeof config === 'string' ? config : JSON.stringify(config));
  const before = await readdir(root);
  const err = await loadExperiment(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `${file} was accepted`).toBeInstanceOf(ConfigError);
  expect(await readdir(root)).toEqual(before);
  const message = (err as Error).message;
  expect(message).toContain(file);
  return { file, message };
}

const pipeline = tinyConfig();
const unseen = tinyUnseenConfig();

describe('pipeline config: bounds and bad values', () => {
  it.each([
    ['name', 'x'.repeat(65), 'name: at most 64 characters'],
    ['name', 'Has Spaces', 'name: lowercase letters, digits and dashes'],
    ['runs', 0, 'runs: Too small'],
    ['runs', 5000, 'runs: Too big: expected number to be <=1000'],
    ['runs', 1.5, 'runs: Invalid input: expected int'],
    ['harvest.epochs', 1e9, 'harvest.epochs: Too big: expected number to be <=10000'],
    ['harvest.batchSize', 1e9, 'harvest.batchSize: Too big: expected number to be <=65536'],
    ['harvest.checkpoints', 1e12, 'harvest.checkpoints: Too big: expected number to be <=100000'],
    ['harvest.lr', 1000, 'harvest.lr: Too big: expected number to be <=10'],
    ['harvest.seed', 2 ** 32, 'harvest.seed: Too big: expected number to be <=4294967295'],
    ['harvest.seed', -1, 'harvest.seed: Too small'],
    ['harvest.evalBatchSize', 1e7, 'harvest.evalBatchSize: Too big'],
    ['harvest.frozen', Array.from({ length: 10_001 }, () => 'x'), 'harvest.frozen: Too big'],
    [
      'harvest.network',
      { type: 'mlp', sizes: [784, 20_000, 10_000] },
      'harvest.network: mlp 784-20000-10000 has 215710000 parameters, more than the 100000000 a harvest takes',
    ],
    ['dataset.testSize', 10_000, 'dataset.testSize: at most 9999'],
    ['dataset.seed', 1e20, 'dataset.seed: Too big'],
    ['dataset.kind', 'cifar', 'dataset.kind: Invalid input: expected "mnist"'],
    ['evaluate.sigmas', Array.from({ length: 21 }, () => 0.01), 'evaluate.sigmas: Too big'],
    ['evaluate.sigmas', [0.01, 100], 'evaluate.sigmas.1: Too big: expected number to be <=10'],
    ['evaluate.noisePerSigma', 1e9, 'evaluate.noisePerSigma: Too big'],
    ['evaluate.title', 't'.repeat(201), 'evaluate.title: Too big'],
    ['evaluate.seed', 'zero', 'evaluate.seed: Invalid input: expected number, received string'],
    ['train.prototype.model', 'gru', 'train.prototype.model: Invalid option'],
    ['surprise', 1, 'Unrecognized key: "surprise"'],
    ['harvest', undefined, 'harvest: Invalid input: expected object, received undefined'],
  ])('%s = %j', async (path, value, why) => {
    const { message } = await refused(edit(pipeline, path, value));
    expect(message).toContain('is not a valid pipeline config');
    expect(message).toContain(why);
  });
});

describe('unseen-task config: bounds', () => {
  it.each([
    ['tasks.unseen', 5000, 'tasks.unseen: Too big: expected number to be <=1022'],
    ['tasks.seen', 1e9, 'tasks.seen: Too big'],
    ['tasks.seed', 2 ** 40, 'tasks.seed: Too big'],
    ['runs', 1e6, 'runs: Too big'],
    ['name', 'n'.repeat(100), 'name: at most 64 characters'],
    ['train.prototype.task.hidden', 1e6, 'train.prototype.task.hidden: hidden must be at most 4096'],
    ['train.prototype.task.inputDim', 3, 'inputDim must be 10'],
  ])('%s = %j', async (path, value, why) => {
    const { message } = await refused(edit(unseen, path, value));
    expect(message).toContain('is not a valid unseen-task config');
    expect(message).toContain(why);
  });
});

describe('config files', () => {
  it('not JSON', async () => {
    const { file, message } = await refused('{"name": "x",');
    expect(message).toMatch(new RegExp(`^config ${file} is not JSON: `));
  });

  it('a missing file', async () => {
    const file = join(root, 'nope.json');
    await expect(loadExperiment(file)).rejects.toThrow(`cannot read config ${file}: no such file`);
  });

  it('a 50 MB config is refused by its size, with no heap blow-up', async () => {
    const file = join(root, 'huge.json');
    await writeFile(file, '');
    await truncate(file, 50 * 1024 * 1024);
    await expect(loadExperiment(file)).rejects.toThrow(
      `config ${file} is 50.0 MB; a config file may be at most 1.0 MB (is it the right file?)`,
    );
  });

  it('a config of 10,000 bad values lists 20 and counts the rest', async () => {
    const { message } = await refused(
      edit(
        pipeline,
        'harvest.frozen',
        Array.from({ length: 9999 }, () => 1),
      ),
    );
    const lines = message.split('\n');
    expect(lines).toHaveLength(22); // the heading, 20 issues, the count
    expect(lines[1]).toBe('  harvest.frozen.0: Invalid input: expected string, received number');
    expect(lines[21]).toBe('  … and 9979 more issues');
  });

  it('a huge name inside a small-enough file is clipped in the message', async () => {
    const { message } = await refused(edit(pipeline, 'name', 'N'.repeat(500_000)));
    expect(message.length).toBeLessThan(2000);
    expect(message).toContain('name: at most 64 characters');
  });
});
