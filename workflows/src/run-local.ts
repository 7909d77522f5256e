import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { collectCheckpointsStage, harvestRunStage, importSourceStage } from '@rpg/checkpoint-harvest';
import { type ArtifactRef, ArtifactStore } from '@rpg/core';
import { collectGeneratedStage, generateModelStage, trainStage } from '@rpg/diffusion-decoder';
import { type AnyReport, evaluateByCommandStage, evaluateStage } from '@rpg/evaluator';
import { tokenizeStage } from '@rpg/tokenizer';
import type { AnyPipelineConfig } from './import-config.js';
import { type LocalRunOptions, type LocalStageContext, localExecutor } from './local-executor.js';
import type { StageName } from './workflows/definitions.js';
import { type PipelineStageCalls, pipelineGraph } from './workflows/pipeline-graph.js';

export { type LocalRunOptions, stageTimer } from './local-executor.js';

export interface LocalRunResult {
  refs: Record<string, ArtifactRef | ArtifactRef[]>;
  stageSeconds: Record<string, number>;
  reportDir: string;
  /** The built-in report, or an `evaluate.command` one (without the figures the command did not provide). */
  report: AnyReport;
}

/** Generator training in this process: resumes from the store's own record of its latest checkpoint. */
export async function trainInProcess(
  ctx: LocalStageContext,
  input: Parameters<PipelineStageCalls['trainGenerator']>[0],
): ReturnType<PipelineStageCalls['trainGenerator']> {
  let resumedFrom: number | null = null;
  const generator = await trainStage(
    ctx,
    { tokens: input.tokens, config: input.config },
    {
      onResume: (step) => {
        resumedFrom = step;
      },
    },
  );
  return { generator, resumedFrom, attempt: 1 };
}

/** The plain pipeline's stage calls as direct calls to the stage functions. */
function pipelineStages(store: ArtifactStore, ctx: () => LocalStageContext): PipelineStageCalls {
  return {
    importSource: (input) => importSourceStage(ctx(), input),
    harvestRun: (input) => harvestRunStage(ctx(), input),
    collectCheckpoints: ({ runs }) => collectCheckpointsStage(ctx(), runs),
    tokenize: (input) => tokenizeStage(ctx(), input),
    trainGenerator: (input) => trainInProcess(ctx(), input),
    generateModel: (input) => generateModelStage(ctx(), input),
    collectGenerated: ({ models }) => collectGeneratedStage(ctx(), models),
    evaluate: async (input) => {
      const report = await evaluateStage(ctx(), input);
      return { report, reportDir: (await store.get(report)).dir };
    },
    evaluateByCommand: async (input) => {
      const report = await evaluateByCommandStage(ctx(), input);
      return { report, reportDir: (await store.get(report)).dir };
    },
  };
}

/**
 * Runs a whole pipeline in this process: the stage graph the Temporal workflow runs (`pipelineGraph`), with
 * direct calls to the same stage functions.
 */
export async function runPipelineLocal(
  config: AnyPipelineConfig,
  options: LocalRunOptions = {},
): Promise<LocalRunResult> {
  const store = new ArtifactStore(options.storeDir ?? '.rpg/store');
  const { executor, ctx } = localExecutor<StageName>(store, options);
  const { refs, reportDir } = await pipelineGraph(config, pipelineStages(store, ctx), executor);
  const report = JSON.parse(await readFile(join(reportDir, 'report.json'), 'utf8')) as AnyReport;
  const { models: _models, ...shown } = refs;
  return { refs: shown, stageSeconds: executor.stageSeconds, reportDir, report };
}
