import { collectCheckpointsStage, harvestRunStage, importSourceStage } from '@rpg/checkpoint-harvest';
import type { ArtifactRef } from '@rpg/core';
import { collectGeneratedStage, generateModelStage, trainStage } from '@rpg/diffusion-decoder';
import { type AnyReport, evaluateByCommandStage, evaluateStage } from '@rpg/evaluator';
import { tokenizeStage } from '@rpg/tokenizer';
import type { AnyPipelineConfig } from './import-config.js';
import {
  type LocalRunOptions,
  type LocalStageContext,
  localExecutor,
  readReportJson,
} from './local-executor.js';
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
function pipelineStages({ ctx, evaluated }: ReturnType<typeof localExecutor>): PipelineStageCalls {
  return {
    importSource: (input) => importSourceStage(ctx(), input),
    harvestRun: (input) => harvestRunStage(ctx(), input),
    collectCheckpoints: ({ runs }) => collectCheckpointsStage(ctx(), runs),
    tokenize: (input) => tokenizeStage(ctx(), input),
    trainGenerator: (input) => trainInProcess(ctx(), input),
    generateModel: (input) => generateModelStage(ctx(), input),
    collectGenerated: ({ models }) => collectGeneratedStage(ctx(), models),
    evaluate: (input) => evaluated(evaluateStage(ctx(), input)),
    evaluateByCommand: (input) => evaluated(evaluateByCommandStage(ctx(), input)),
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
  const local = localExecutor<StageName>(options);
  const { executor } = local;
  const { refs, reportDir } = await pipelineGraph(config, pipelineStages(local), executor);
  const report = (await readReportJson(reportDir)) as AnyReport;
  const { models: _models, ...shown } = refs;
  return { refs: shown, stageSeconds: executor.stageSeconds, reportDir, report };
}
