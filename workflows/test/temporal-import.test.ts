import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AnyReport } from '@rpg/evaluator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPipeline } from '../src/client.js';
import { parseAnyPipelineConfig } from '../src/import-config.js';
import { runPipelineLocal } from '../src/run-local.js';
import { pipelineWorkflowId } from '../src/workflow-id.js';
import { writeSyntheticZoo } from './synthetic-zoo.js';
import { startTemporalTestEnv, type TemporalTestEnv } from './temporal-env.js';

const SCORER = resolve(dirname(fileURLToPath(import.meta.url)), 'fixtures/score-mlp.mjs');

let env: TemporalTestEnv;
let stopWorkers: () => Promise<void>;
let zooDir: string;
beforeAll(async () => {
  env = await startTemporalTestEnv();
  zooDir = await mkdtemp(join(tmpdir(), 'rpg-temporal-zoo-'));
  await writeSyntheticZoo(zooDir, 2, 3);
  stopWorkers = await env.startWorkers({ storeDir: join(env.root, 'store') });
});
afterAll(async () => {
  await stopWorkers?.();
  await env?.teardown();
  if (zooDir) await rm(zooDir, { recursive: true, force: true });
});

/** The report without what legitimately differs between two runs: timings, dates, store paths. */
function comparable(r: AnyReport) {
  const { createdAt, evaluateSeconds, stageSeconds, config, ...rest } = r;
  return rest;
}

describe('a pipeline fed with outside checkpoints, through Temporal', () => {
  it('imports, trains, generates and scores by the command as the in-process run does', async () => {
    const config = parseAnyPipelineConfig({
      name: 'byo-zoo-temporal',
      source: { checkpoints: zooDir, runs: { pattern: 'seed(\\d+)' } },
      tokenizer: { tokenSize: 64, granularity: 'layer' },
      train: {
        prototype: { model: 'mamba2', d: 32, layers: 1, position: 'learnable' },
        decoder: { channels: [1, 8, 1], kernel: 5 },
        steps: 30,
        lr: 0.003,
        batchSize: 4,
        diffusionBatch: 32,
        seed: 0,
        emaDecay: 0.9,
        checkpointEvery: 15,
      },
      generate: { count: 2, seed: 0, sampler: 'ddim', steps: 5, eta: 0 },
      evaluate: {
        command: [process.execPath, SCORER, '{checkpoint}'],
        timeoutSeconds: 60,
        sigmas: [0.05],
        noisePerSigma: 1,
      },
    });
    const started = await startPipeline(env.client, pipelineWorkflowId(config), { config });
    const result = await started.handle.result();
    expect(result.refs.checkpoints).toBeDefined();
    // An imported pipeline skips harvest and collect; the import stage ran instead.
    expect(result.stageSeconds.import).toBeGreaterThanOrEqual(0);
    expect(result.stageSeconds.harvest).toBeUndefined();
    const report = JSON.parse(await readFile(join(result.reportDir, 'report.json'), 'utf8')) as AnyReport;
    expect(report.metric).toBe('accuracy');
    expect(report.originals.count).toBe(6);
    expect(report.generated.count).toBe(2);

    const local = await runPipelineLocal(config, { storeDir: join(env.root, 'local') });
    expect(comparable(report)).toEqual(comparable(local.report));
  }, 240_000);
});
