import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type ArtifactRef, ArtifactStore, applyGc, planGc } from '@rpg/core';
import { useBackend, useTempDir } from '@rpg/core/test-support';
import { trainStage } from '@rpg/diffusion-decoder';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../src/pipeline-config.js';
import { type LocalRunResult, runPipelineLocal } from '../src/run-local.js';
import { tinyConfig } from './tiny-config.js';

useBackend();
const root = useTempDir('rpg-pipeline-');

describe('the whole pipeline in-process on a tiny config', () => {
  let first: LocalRunResult;

  it('generates linear MNIST classifiers far above chance, with a full report', async () => {
    first = await runPipelineLocal(parsePipelineConfig(tinyConfig()), { storeDir: join(root(), 'a') });
    const r = first.report;
    expect(r.originals.count).toBe(10);
    expect(r.originals.avg).toBeGreaterThan(85);
    expect(r.generated.count).toBe(4);
    // Chance is 10 %; a generator that learned nothing gives noise weights.
    expect(r.generated.avg).toBeGreaterThan(50);
    expect(r.generated.best).toBeGreaterThan(70);
    expect(r.noise.map((n) => n.sigma)).toEqual([0.05]);
    expect(r.trainingLoss?.length).toBeGreaterThan(10);
    expect(Object.keys(r.stageSeconds ?? {})).toEqual(
      expect.arrayContaining(['harvest', 'collect', 'tokenize', 'train', 'generate']),
    );
    const html = await readFile(join(first.reportDir, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
  });

  it('reuses finished stages from the store instead of recomputing them', async () => {
    const again = await runPipelineLocal(parsePipelineConfig(tinyConfig()), { storeDir: join(root(), 'a') });
    expect(again.refs).toEqual(first.refs);
    expect(again.stageSeconds.train!).toBeLessThan(2);
    expect((await stat(join(root(), 'a', 'resume'))).isDirectory()).toBe(true);
  });

  it('keeps only the latest resume states, and gc frees the rest without touching what the run needs', async () => {
    const store = new ArtifactStore(join(root(), 'a'));
    const states = () => readdir(join(store.root, 'train-state'));
    // The tiny run checkpointed 3 times: all kept while training, none needed once it finished.
    expect(await states()).toHaveLength(3);
    // A longer training on the same tokens, checkpointing 6 times, holds the latest 3 only.
    const longer = { ...tinyConfig().train, steps: 60, checkpointEvery: 10 };
    const seen: number[] = [];
    const tokens = first.refs.tokens as ArtifactRef;
    await trainStage(
      { store },
      { tokens, config: longer },
      { onCheckpoint: async () => void seen.push((await states()).length) },
    );
    expect(seen).toEqual([4, 5, 6, 6, 6, 6]); // the first run's 3, then at most 3 of this one
    const plan = await planGc(store);
    expect(plan.filter((i) => i.why.includes('of a finished training'))).toHaveLength(6 + 2);
    expect(plan).toHaveLength(8);
    await applyGc(store, plan);
    expect(await states()).toEqual([]);
    // Everything a finished run needs is still there: running it again recomputes nothing.
    const again = await runPipelineLocal(parsePipelineConfig(tinyConfig()), { storeDir: join(root(), 'a') });
    expect(again.refs).toEqual(first.refs);
    expect(again.stageSeconds.train!).toBeLessThan(2);
  });

  it('names the bad field of an invalid config', () => {
    const bad = tinyConfig();
    (bad.train.prototype as { model: string }).model = 'gru';
    expect(() => parsePipelineConfig(bad)).toThrow(/train\.prototype\.model/);
  });
});
