import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { collectCheckpointsStage, harvestRunStage } from '@rpg/checkpoint-harvest';
import { type ArtifactRef, ArtifactStore, type ProgressSink, silentProgress } from '@rpg/core';
import { collectGeneratedStage, generateModelStage, trainStage } from '@rpg/diffusion-decoder';
import { evaluateStage, type Report } from '@rpg/evaluator';
import { tokenizeStage } from '@rpg/tokenizer';
import type { PipelineConfig } from './pipeline-config.js';

export interface LocalRunOptions {
  /** Artifact store root (default `.rpg/store`). Finished stages found there are reused, not recomputed. */
  storeDir?: string;
  /** Progress of each stage (the stage name is in the event). */
  progress?: ProgressSink;
  /** Called when a stage starts and ends. */
  onStage?: (stage: string, event: 'start' | 'end', seconds?: number) => void;
  signal?: AbortSignal;
}

export interface LocalRunResult {
  refs: Record<string, ArtifactRef | ArtifactRef[]>;
  stageSeconds: Record<string, number>;
  reportDir: string;
  report: Report;
}

/** Times stages (a stage run twice adds up) and reports their start and end to `onStage`. */
export function stageTimer(onStage?: LocalRunOptions['onStage']) {
  const stageSeconds: Record<string, number> = {};
  const timed = async <T>(stage: string, fn: () => Promise<T>): Promise<T> => {
    onStage?.(stage, 'start');
    const started = performance.now();
    const out = await fn();
    const seconds = (performance.now() - started) / 1000;
    stageSeconds[stage] = (stageSeconds[stage] ?? 0) + seconds;
    onStage?.(stage, 'end', seconds);
    return out;
  };
  return { stageSeconds, timed };
}

/**
 * Runs a whole pipeline in this process, stage by stage, through the same stage functions the Temporal workflow
 * uses: harvest (per run) → collect → tokenize → train → generate (per model) → evaluate.
 */
export async function runPipelineLocal(
  config: PipelineConfig,
  options: LocalRunOptions = {},
): Promise<LocalRunResult> {
  const store = new ArtifactStore(options.storeDir ?? '.rpg/store');
  const progress = options.progress ?? silentProgress;
  const ctx = { store, progress, ...(options.signal ? { signal: options.signal } : {}) };
  const { stageSeconds, timed } = stageTimer(options.onStage);

  const runs: ArtifactRef[] = [];
  for (let run = 0; run < config.runs; run++) {
    options.signal?.throwIfAborted();
    runs.push(
      await timed('harvest', () =>
        harvestRunStage(ctx, { dataset: config.dataset, harvest: config.harvest, run }),
      ),
    );
  }
  const checkpoints = await timed('collect', () => collectCheckpointsStage(ctx, runs));
  const tokens = await timed('tokenize', () =>
    tokenizeStage(ctx, { checkpoints, tokenizer: config.tokenizer }),
  );
  const generator = await timed('train', () => trainStage(ctx, { tokens, config: config.train }));
  const generated = await timed('generate', async () => {
    const models: ArtifactRef[] = [];
    for (let model = 0; model < config.generate.count; model++) {
      const input = { generator, tokens, config: config.generate, network: config.harvest.network, model };
      models.push(await generateModelStage(ctx, input));
    }
    return collectGeneratedStage(ctx, models);
  });
  const report = await timed('evaluate', () =>
    evaluateStage(ctx, {
      originals: checkpoints,
      generated,
      generator,
      config: { ...config.evaluate, dataset: config.dataset, title: config.name },
      stageSeconds: { ...stageSeconds },
      pipelineConfig: config,
    }),
  );
  const reportDir = (await store.get(report)).dir;
  const reportJson = JSON.parse(await readFile(join(reportDir, 'report.json'), 'utf8')) as Report;
  return {
    refs: { runs, checkpoints, tokens, generator, generated, report },
    stageSeconds,
    reportDir,
    report: reportJson,
  };
}
