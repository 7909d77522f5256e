import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBackend, type StateDict } from '@rpg/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHECKPOINTS_FILE,
  checkpointFileName,
  type HarvestResult,
  harvestRun,
  type NetworkSpec,
  readCheckpointsDir,
  syntheticDataset,
  writeHarvest,
} from '../src/index.js';
import { twoConvCnn } from './fixtures.js';

const CNN = twoConvCnn([6, 6, 1], [3, 4], 3);
const data = syntheticDataset({ seed: 1, inputShape: [6, 6, 1], numClasses: 3, trainSize: 96, testSize: 30 });

let root = '';
const results: HarvestResult[] = [];
beforeAll(async () => {
  await loadBackend({ log: null });
  root = await mkdtemp(join(tmpdir(), 'rpg-harvest-dir-'));
  for (const seed of [4, 5]) {
    results.push(
      await harvestRun({ network: CNN, dataset: data, seed, epochs: 1, checkpoints: 3, batchSize: 16 }),
    );
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function bytesOf(sd: StateDict, name: string): Buffer {
  const d = sd.get(name)!.data;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

describe('writeHarvest', () => {
  it('round-trips through readCheckpointsDir bit-exactly, with accuracies, steps and run facts in the metadata', async () => {
    const dir = join(root, 'ok');
    const written = await writeHarvest(dir, { network: CNN, datasetName: data.name, results });
    const { meta, stateDicts } = await readCheckpointsDir(dir);
    expect(meta).toEqual(written);
    expect(meta.network).toEqual(CNN);
    expect(meta.dataset).toBe(data.name);
    expect(meta.checkpoints.map((c) => [c.file, c.run, c.index])).toEqual([
      ['run00-ckpt000.safetensors', 0, 0],
      ['run00-ckpt001.safetensors', 0, 1],
      ['run00-ckpt002.safetensors', 0, 2],
      ['run01-ckpt000.safetensors', 1, 0],
      ['run01-ckpt001.safetensors', 1, 1],
      ['run01-ckpt002.safetensors', 1, 2],
    ]);
    expect((await readdir(dir)).sort()).toEqual(
      [CHECKPOINTS_FILE, ...meta.checkpoints.map((c) => c.file)].sort(),
    );
    results.forEach((result, run) => {
      const facts = meta.runs[run]!;
      expect(facts.seed).toBe(run + 4);
      expect(facts.convergedAccuracy).toBe(result.convergedAccuracy);
      expect(facts.finalAccuracy).toBe(result.finalAccuracy);
      expect(facts.stepsPerEpoch).toBe(6);
      expect(facts.seconds).toBe(result.seconds);
      expect(facts.history).toHaveLength(2);
      result.checkpoints.forEach((c, index) => {
        const k = run * 3 + index;
        expect(meta.checkpoints[k]!.testAccuracy).toBe(c.testAccuracy);
        expect(meta.checkpoints[k]!.step).toBe(c.step);
        const back = stateDicts[k]!;
        expect([...back.keys()]).toEqual([...c.stateDict.keys()]);
        for (const [name, t] of c.stateDict) {
          expect(back.get(name)!.dtype).toBe(t.dtype);
          expect(back.get(name)!.shape).toEqual(t.shape);
          expect(bytesOf(back, name).equals(bytesOf(c.stateDict, name))).toBe(true);
        }
      });
    });
    expect(stateDicts[5]!.get('bn2.num_batches_tracked')!.data).toEqual(BigInt64Array.of(12n));
  });

  it('refuses a non-empty directory and leaves it (and no temporary directory) behind', async () => {
    const dir = join(root, 'busy');
    await mkdir(dir);
    await writeFile(join(dir, 'notes.txt'), 'keep me');
    await expect(writeHarvest(dir, { network: CNN, datasetName: data.name, results })).rejects.toThrow(
      /busy is not empty .*notes\.txt.*give a new or empty directory/,
    );
    expect(await readdir(dir)).toEqual(['notes.txt']);
    expect(await readFile(join(dir, 'notes.txt'), 'utf8')).toBe('keep me');
    expect((await readdir(root)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('writes into an existing empty directory', async () => {
    const dir = join(root, 'empty');
    await mkdir(dir);
    const meta = await writeHarvest(dir, { network: CNN, datasetName: 'x', results: results.slice(0, 1) });
    expect(meta.checkpoints).toHaveLength(3);
    expect(await readdir(dir)).toContain(checkpointFileName(0, 2));
  });

  it('rejects no runs and runs of another network before writing anything', async () => {
    await expect(
      writeHarvest(join(root, 'none'), { network: CNN, datasetName: 'x', results: [] }),
    ).rejects.toThrow(/no runs/);
    const other = { ...CNN, numClasses: 4 } as NetworkSpec;
    await expect(
      writeHarvest(join(root, 'other'), { network: other, datasetName: 'x', results }),
    ).rejects.toThrow(/run 0 trained a different network/);
    expect((await readdir(root)).sort()).toEqual(['busy', 'empty', 'ok']);
  });
});
