/**
 * The RPG pipeline as one durable workflow: validate → harvest (one activity per run) → collect → tokenize →
 * train → generate (one activity per model) → evaluate. Activities exchange artifact refs only; every stage's
 * output is keyed by its config and inputs, so a re-run skips what is done. Deterministic: no I/O, no tfjs,
 * activities imported as types only.
 */
import {
  ActivityCancellationType,
  type ActivityOptions,
  ApplicationFailure,
  isCancellation,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { PipelineActivities } from '../activities.js';
import type { PipelineConfig } from '../pipeline-config.js';
import {
  CPU_QUEUE,
  checkpointSignal,
  GPU_QUEUE,
  type PipelineInput,
  type PipelineProgress,
  type PipelineResult,
  progressQuery,
  type Ref,
  STAGES,
  type StageName,
} from './definitions.js';

type Activities = PipelineActivities;

function activityOptions(
  input: PipelineInput,
  taskQueue: string,
  startToCloseTimeout: string,
): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout,
    heartbeatTimeout: input.heartbeatTimeout ?? '2 minutes',
    retry: {
      maximumAttempts: input.maxAttempts ?? 5,
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
    },
    // A cancelled pipeline waits until its activities have stopped (training keeps its last checkpoint).
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  };
}

export async function rpgPipeline(input: PipelineInput): Promise<PipelineResult> {
  const progress: PipelineProgress = {
    stage: 'validate',
    stages: Object.fromEntries(STAGES.map((s) => [s, { status: 'pending', done: 0, total: 1 }])) as Record<
      StageName,
      PipelineProgress['stages'][StageName]
    >,
    refs: {},
  };
  setHandler(progressQuery, () => progress);
  setHandler(checkpointSignal, (c) => {
    // Signals may arrive late or out of order; keep the furthest checkpoint.
    const train = progress.stages.train;
    if (train.status === 'done' || c.step < train.done) return;
    train.done = c.step;
    train.total = c.total;
    progress.resumeRef = c.resumeRef;
    if (c.loss !== undefined) progress.loss = c.loss;
  });

  const validate = proxyActivities<Pick<Activities, 'validatePipelineConfig'>>({
    taskQueue: CPU_QUEUE,
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 3 },
  });
  const cpu = proxyActivities<Activities>(activityOptions(input, CPU_QUEUE, '6 hours'));
  const gpu = proxyActivities<Activities>(activityOptions(input, GPU_QUEUE, '24 hours'));

  const stageSeconds: Record<string, number> = {};
  const run = async <T>(stage: StageName, total: number, fn: () => Promise<T>): Promise<T> => {
    progress.stage = stage;
    Object.assign(progress.stages[stage], { status: 'running', total });
    const started = Date.now();
    const out = await fn();
    const seconds = (Date.now() - started) / 1000;
    Object.assign(progress.stages[stage], { status: 'done', done: total, seconds });
    if (stage !== 'validate' && stage !== 'evaluate') stageSeconds[stage] = seconds;
    return out;
  };
  const count = <T>(stage: StageName, p: Promise<T>): Promise<T> =>
    p.then((v) => {
      progress.stages[stage].done++;
      return v;
    });

  try {
    const config: PipelineConfig = await run('validate', 1, () =>
      validate.validatePipelineConfig(input.config).catch((err: unknown) => {
        // Fail the run itself with the activity's message, which names every bad field.
        const cause = (err as { cause?: unknown }).cause;
        if (cause instanceof ApplicationFailure && cause.nonRetryable) {
          throw ApplicationFailure.nonRetryable(cause.message, cause.type ?? undefined);
        }
        throw err;
      }),
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
