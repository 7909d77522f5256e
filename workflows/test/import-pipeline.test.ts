import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCheckpointsMeta } from '@rpg/checkpoint-harvest';
import { ArtifactStore, loadBackend, readSafetensorsFile } from '@rpg/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnyPipelineConfig, parseAnyPipelineConfig } from '../src/import-config.js';
import { type LocalRunResult, runPipelineLocal } from '../src/run-local.js';
import { writeSyntheticZoo } from './synthetic-zoo.js';

const SCORER = resolve(dirname(fileURLToPath(import.meta.url)), 'fixtures/score-mlp.mjs');

let root: string;
let zoo: string[];
beforeAll(async () => {
  await loadBackend({ log: null });
  root = await mkdtemp(join(tmpdir(), 'rpg-import-'));
  zoo = await writeSyntheticZoo(join(root, 'zoo'), 2, 4);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function importConfig(commandFlags: string[] = []): AnyPipelineConfig {
  return parseAnyPipelineConfig({
    name: 'byo-zoo',
    source: { checkpoints: join(root, 'zoo'), runs: { pattern: 'seed(\\d+)' } },
    tokenizer: { tokenSize: 64, granularity: 'layer' },
    train: {
      prototype: { model: 'mamba2', d: 32, layers: 1, position: 'learnable' },
      decoder: { channels: [1, 8, 8, 8, 1], kernel: 5 },
      steps: 60,
      lr: 0.003,
      batchSize: 4,
      diffusionBatch: 32,
      seed: 0,
      emaDecay: 0.9,
      checkpointEvery: 30,
    },
    generate: { count: 3, seed: 0, sampler: 'ddim', steps: 10, eta: 0 },
    evaluate: {
      command: [process.execPath, SCORER, '{checkpoint}', ...commandFlags],
      timeoutSeconds: 60,
      sigmas: [0.05],
      noisePerSigma: 2,
    },
  });
}

describe('a pipeline fed with checkpoints from outside and scored by the user command', () => {
  let first: LocalRunResult;

  it('imports the zoo as runs by file name, and reports the command figures', async () => {
    first = await runPipelineLocal(importConfig(), { storeDir: join(root, 'store') });
    const r = first.report;
    expect(r.metric).toBe('accuracy');
    expect(r.dataset).toEqual({ name: 'synthetic', testSize: 300 });
    expect(r.originals.count).toBe(8);
    // The zoo's models are the teacher plus small noise: the command scores them near 100 %.
    expect(r.originals.min).toBeGreaterThan(80);
    expect(r.generated.count).toBe(3);
    expect(r.generated.all.every((a) => a >= 0 && a <= 100)).toBe(true);
    expect(r.noise).toHaveLength(1);
    expect(r.noise[0]!.perModel).toHaveLength(2);
    expect(r.iou?.perModel).toHaveLength(3);
    expect(r.nearestOriginal.every((n) => Number.isFinite(n.distance))).toBe(true);
    expect(r.originalSpacing?.min).toBeGreaterThan(0);

    const store = new ArtifactStore(join(root, 'store'));
    const meta = await readCheckpointsMeta((await store.get(first.refs.checkpoints as never)).dir);
    expect(meta.runs.map((run) => run.sources)).toEqual([
      [
        'seed0-epoch1.safetensors',
        'seed0-epoch2.safetensors',
        'seed0-epoch3.safetensors',
        'seed0-epoch4.safetensors',
      ],
      [
        'seed1-epoch1.safetensors',
        'seed1-epoch2.safetensors',
        'seed1-epoch3.safetensors',
        'seed1-epoch4.safetensors',
      ],
    ]);
    expect(meta.network).toBeNull();
  }, 300_000);

  it('writes generated checkpoints with the exact names, dtypes and shapes of the inputs', async () => {
    const input = (await readSafetensorsFile(zoo[0]!)).tensors;
    const store = new ArtifactStore(join(root, 'store'));
    const generatedDir = (await store.get(first.refs.generated as never)).dir;
    const meta = await readCheckpointsMeta(generatedDir);
    expect(meta.checkpoints).toHaveLength(3);
    for (const entry of meta.checkpoints) {
      const out = (await readSafetensorsFile(join(generatedDir, entry.file))).tensors;
      expect([...out.keys()].sort()).toEqual([...input.keys()].sort());
      for (const [name, t] of input) {
        expect(out.get(name)!.dtype).toBe(t.dtype);
        expect(out.get(name)!.shape).toEqual(t.shape);
      }
    }
  });

  it('reuses every stage on a second run, and a changed command re-runs evaluation alone', async () => {
    const again = await runPipelineLocal(importConfig(), { storeDir: join(root, 'store') });
    expect(again.refs.report).toEqual(first.refs.report);
    const seconds: Record<string, number> = {};
    const accuracyOnly = await runPipelineLocal(importConfig(['--no-predictions']), {
      storeDir: join(root, 'store'),
      onStage: (stage, event, s) => {
        if (event === 'end') seconds[stage] = s!;
      },
    });
    expect(accuracyOnly.refs.generated).toEqual(first.refs.generated);
    expect(accuracyOnly.refs.report).not.toEqual(first.refs.report);
    // Without predictions: the same accuracies, no IoU figures, the distances still there.
    const r = accuracyOnly.report;
    expect(r.originals.all).toEqual(first.report.originals.all);
    expect(r.iou).toBeUndefined();
    expect(r.noise[0]!.maxIouToOriginal).toBeUndefined();
    expect(r.nearestOriginal).toEqual(first.report.nearestOriginal);
    expect(r.notes?.join(' ')).toContain('IoU figures are left out');
    expect(await readFile(join(accuracyOnly.reportDir, 'report.html'), 'utf8')).toContain('evaluate.command');
  }, 300_000);
});
