import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { collectCheckpointsStage, harvestRunStage, harvestTaskRunStage } from '@rpg/checkpoint-harvest';
import { type ArtifactRef, ArtifactStore, silentProgress } from '@rpg/core';
import { generateStage, trainStage } from '@rpg/diffusion-decoder';
import { evaluateTasksStage, parseTaskReport, type TaskGroupRefs, type TaskReport } from '@rpg/evaluator';
import type { ClassSubsetTask } from '@rpg/task-embedding';
import { tokenizeStage } from '@rpg/tokenizer';
import { type LocalRunOptions, stageTimer } from './run-local.js';
import { type UnseenConfig, unseenSplit } from './unseen-config.js';
import { withoutTaskEmbedding } from './workflows/ablation-config.js';

export interface UnseenRunResult {
  refs: {
    base?: ArtifactRef;
    /** Per seen task: its harvest runs. */
    seenRuns: ArtifactRef[][];
    /** Per unseen task: its trained networks (the originals generation is compared with). */
    unseenOriginals: ArtifactRef[];
    checkpoints: ArtifactRef;
    tokens: ArtifactRef;
    generator: ArtifactRef;
    ablationGenerator?: ArtifactRef;
    report: ArtifactRef;
  };
  stageSeconds: Record<string, number>;
  reportDir: string;
  report: TaskReport;
  split: { seen: ClassSubsetTask[]; unseen: ClassSubsetTask[] };
}

/**
 * Runs an unseen-task experiment in this process through the stage functions a workflow can run as activities:
 * base network → harvest per (seen task, run) → collect → tokenize → train the task-conditioned generator (and
 * the ablation without the embedding) → generate per evaluated task → evaluate per task. Every per-task stage is
 * independent of the others (the fan-out units); here they run one after another, since one process's tfjs
 * already uses every core. Finished stages in the store are reused.
 */
export async function runUnseenLocal(
  config: UnseenConfig,
  options: LocalRunOptions = {},
): Promise<UnseenRunResult> {
  const store = new ArtifactStore(options.storeDir ?? '.rpg/store');
  const progress = options.progress ?? silentProgress;
  const signal = options.signal;
  const ctx = { store, progress, ...(signal ? { signal } : {}) };
  // Per-task stages report one bar over all tasks instead of a bar per task.
  const quiet = { store };
  const { stageSeconds, timed } = stageTimer(options.onStage);
  const perTask = async <T, R>(
    stage: string,
    items: readonly T[],
    fn: (item: T) => Promise<R>,
  ): Promise<R[]> =>
    timed(stage, async () => {
      const out: R[] = [];
      for (const item of items) {
        signal?.throwIfAborted();
        out.push(await fn(item));
        progress({ stage, step: out.length, total: items.length });
      }
      return out;
    });

  const split = unseenSplit(config);
  const { dataset, harvest } = config;
  const runIndices = Array.from({ length: config.runs }, (_, r) => r);
  /** A task's runs as one checkpoints artifact (the run itself when there is one). */
  const taskRuns = async (task: ClassSubsetTask, h: typeof harvest, base: ArtifactRef | undefined) => {
    const runs: ArtifactRef[] = [];
    for (const run of runIndices) {
      runs.push(
        await harvestTaskRunStage(quiet, { dataset, harvest: h, task, run, ...(base ? { base } : {}) }),
      );
    }
    return runs;
  };
  const joined = async (runs: ArtifactRef[]) =>
    runs.length === 1 ? runs[0]! : collectCheckpointsStage(quiet, runs);

  const base = config.base
    ? await timed('base', () => harvestRunStage(ctx, { dataset, harvest: config.base!, run: 0 }))
    : undefined;
  const seenRuns = await perTask('harvest-seen', split.seen, (task) => taskRuns(task, harvest, base));
  const unseenOriginals = await perTask('harvest-unseen', split.unseen, async (task) =>
    joined(await taskRuns(task, harvest, base)),
  );
  const scratch = config.scratch
    ? await perTask('harvest-scratch', split.unseen, async (task) =>
        joined(await taskRuns(task, config.scratch!, undefined)),
      )
    : undefined;

  const checkpoints = await timed('collect', () => collectCheckpointsStage(quiet, seenRuns.flat()));
  const tokens = await timed('tokenize', () =>
    tokenizeStage(ctx, { checkpoints, tokenizer: config.tokenizer }),
  );
  const generator = await timed('train', () => trainStage(ctx, { tokens, config: config.train }));
  const ablationGenerator = config.ablation
    ? await timed('train-ablation', () =>
        trainStage(ctx, { tokens, config: withoutTaskEmbedding(config.train) }),
      )
    : undefined;

  const network = harvest.network;
  const evaluated = [
    ...split.unseen.map((task, i) => ({ task, split: 'unseen' as const, runs: [unseenOriginals[i]!] })),
    ...split.seen
      .slice(0, config.tasks.evaluateSeen)
      .map((task, i) => ({ task, split: 'seen' as const, runs: seenRuns[i]! })),
  ];
  const generated = await perTask('generate', evaluated, (e) =>
    generateStage(quiet, { generator, tokens, config: config.generate, network, task: e.task }),
  );
  // The unconditional generator makes the same models whatever the task: generate once, score on every task.
  const ablation = ablationGenerator
    ? await timed('generate-ablation', () =>
        generateStage(ctx, { generator: ablationGenerator, tokens, config: config.generate, network }),
      )
    : undefined;
  const groups: TaskGroupRefs[] = [];
  for (const [i, e] of evaluated.entries()) {
    groups.push({
      task: e.task,
      split: e.split,
      originals: await joined(e.runs),
      generated: generated[i]!,
      ...(ablation ? { ablation } : {}),
      ...(scratch && e.split === 'unseen' ? { scratch: scratch[i]! } : {}),
    });
  }
  const report = await timed('evaluate', () =>
    evaluateTasksStage(ctx, {
      groups,
      config: { dataset, title: config.name },
      stageSeconds: { ...stageSeconds },
      pipelineConfig: config,
    }),
  );
  const reportDir = (await store.get(report)).dir;
  return {
    refs: {
      ...(base ? { base } : {}),
      seenRuns,
      unseenOriginals,
      checkpoints,
      tokens,
      generator,
      ...(ablationGenerator ? { ablationGenerator } : {}),
      report,
    },
    stageSeconds,
    reportDir,
    report: parseTaskReport(JSON.parse(await readFile(join(reportDir, 'report.json'), 'utf8'))),
    split,
  };
}
