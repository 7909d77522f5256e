/**
 * The RPG pipeline as one durable workflow: validate → harvest (one activity per run) → collect → tokenize →
 * train → generate (one activity per model) → evaluate. Activities exchange artifact refs only; every stage's
 * output is keyed by its config and inputs, so a re-run skips what is done. Deterministic: no I/O, no tfjs,
 * activities imported as types only.
 */
import { isCancellation, proxyActivities } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities.js';
import type { PipelineConfig } from '../pipeline-config.js';
import {
  CPU_QUEUE,
  checkpointSignal,
  GPU_QUEUE,
  type PipelineInput,
  type PipelineProgress,
  type PipelineResult,
  type Ref,
  STAGES,
  type StageName,
} from './definitions.js';
import { activityOptions } from './options.js';
import { failOnInvalidConfig, pendingStages, trackStages } from './stage-tracker.js';

type Activities = PipelineActivities;

export async function rpgPipeline(input: PipelineInput): Promise<PipelineResult> {
  const progress: PipelineProgress = { stage: 'validate', stages: pendingStages(STAGES), refs: {} };
  const { stageSeconds, run, count } = trackStages<StageName>(progress);

  const validate = proxyActivities<Pick<Activities, 'validatePipelineConfig'>>({
    taskQueue: CPU_QUEUE,
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 3 },
  });
  const cpu = proxyActivities<Activities>(activityOptions(input, CPU_QUEUE, '6 hours'));
  const gpu = proxyActivities<Activities>(activityOptions(input, GPU_QUEUE, '24 hours'));

  try {
    const config: PipelineConfig = await run('validate', 1, () =>
      validate.validatePipelineConfig(input.config).catch(failOnInvalidConfig),
    );

    const runs = await run('harvest', config.runs, () =>
      Promise.all(
        Array.from({ length: config.runs }, (_, r) =>
          count('harvest', cpu.harvestRun({ dataset: config.dataset, harvest: config.harvest, run: r })),
        ),
      ),
    );
    progress.refs.runs = runs;
    const checkpoints = await run('collect', 1, () => cpu.collectCheckpoints({ runs }));
    progress.refs.checkpoints = checkpoints;
    const tokens = await run('tokenize', 1, () => cpu.tokenize({ checkpoints, tokenizer: config.tokenizer }));
    progress.refs.tokens = tokens;
    const trained = await run('train', config.train.steps, () =>
      gpu.trainGenerator({ tokens, config: config.train, checkpointSignal: checkpointSignal.name }),
    );
    const { generator } = trained;
    progress.refs.generator = generator;

    const { count: models } = config.generate;
    const generatedModels: Ref[] = [];
    const generated = await run('generate', models, async () => {
      const each = await Promise.all(
        Array.from({ length: models }, (_, m) =>
          count(
            'generate',
            gpu.generateModel({
              generator,
              tokens,
              config: config.generate,
              network: config.harvest.network,
              model: m,
            }),
          ),
        ),
      );
      generatedModels.push(...each);
      progress.refs.models = each;
      return cpu.collectGenerated({ models: each });
    });
    progress.refs.generated = generated;

    const evaluated = await run('evaluate', 1, () =>
      cpu.evaluate({
        originals: checkpoints,
        generated,
        generator,
        config: { ...config.evaluate, dataset: config.dataset, title: config.name },
        stageSeconds: { ...stageSeconds },
        pipelineConfig: config,
      }),
    );
    progress.refs.report = evaluated.report;
    progress.stage = 'done';
    return {
      name: config.name,
      refs: {
        runs,
        checkpoints,
        tokens,
        generator,
        models: generatedModels,
        generated,
        report: evaluated.report,
      },
      reportDir: evaluated.reportDir,
      stageSeconds,
      train: { attempt: trained.attempt, resumedFrom: trained.resumedFrom },
    };
  } catch (err) {
    progress.stage = isCancellation(err) ? 'cancelled' : 'failed';
    throw err;
  }
}
