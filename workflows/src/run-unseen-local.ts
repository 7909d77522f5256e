import { collectCheckpointsStage, harvestRunStage, harvestTaskRunStage } from '@rpg/checkpoint-harvest';
import type { ArtifactRef } from '@rpg/core';
import { generateStage } from '@rpg/diffusion-decoder';
import { evaluateTasksStage, parseTaskReport, type TaskReport } from '@rpg/evaluator';
import type { ClassSubsetTask } from '@rpg/task-embedding';
import { tokenizeStage } from '@rpg/tokenizer';
import { type LocalRunOptions, localExecutor, readReportJson } from './local-executor.js';
import { trainInProcess } from './run-local.js';
import { type UnseenConfig, unseenSplit } from './unseen-config.js';
import type { UnseenStageName } from './workflows/definitions.js';
import { type UnseenStageCalls, unseenGraph } from './workflows/unseen-graph.js';

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
 * Runs an unseen-task experiment in this process: the stage graph the Temporal workflow runs (`unseenGraph`),
 * with direct calls to the same stage functions. Per-task units run one after another and report one bar over
 * all tasks. Finished stages in the store are reused.
 */
export async function runUnseenLocal(
  config: UnseenConfig,
  options: LocalRunOptions = {},
): Promise<UnseenRunResult> {
  const { executor, ctx, evaluated } = localExecutor<UnseenStageName>(options);
  const stages: UnseenStageCalls = {
    harvestRun: (input) => harvestRunStage(ctx(), input),
    harvestTaskRun: ({ input, base }) => harvestTaskRunStage(ctx(), { ...input, ...(base ? { base } : {}) }),
    collectCheckpoints: ({ runs }) => collectCheckpointsStage(ctx(), runs),
    tokenize: (input) => tokenizeStage(ctx(), input),
    trainGenerator: (input) => trainInProcess(ctx(), input),
    generate: (input) => generateStage(ctx(), input),
    evaluateTasks: (input) => evaluated(evaluateTasksStage(ctx(), input)),
  };
  const split = unseenSplit(config);
  const { refs, reportDir } = await unseenGraph({ config, split }, stages, executor);
  return {
    refs: refs as UnseenRunResult['refs'],
    stageSeconds: executor.stageSeconds,
    reportDir,
    report: parseTaskReport(await readReportJson(reportDir)),
    split,
  };
}
