/**
 * The unseen-task experiment as one durable workflow: validate (and draw the seen/unseen split) → base network →
 * harvest, one activity per (task, run), for the seen tasks, the unseen tasks' originals and their from-scratch
 * references → collect → tokenize → train the task-conditioned generator (and the ablation without the task
 * embedding) → generate, one activity per evaluated task → evaluate per task. The same stage functions as
 * `rpg local`; every output is keyed by its config and inputs, so a re-run skips what is done.
 */
import { isCancellation, proxyActivities } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities.js';
import { withoutTaskEmbedding } from './ablation-config.js';
import {
  CPU_QUEUE,
  checkpointSignal,
  GPU_QUEUE,
  type PipelineInput,
  type Ref,
  UNSEEN_STAGES,
  type UnseenPipelineResult,
  type UnseenProgress,
  type UnseenStageName,
} from './definitions.js';
import { activityOptions } from './options.js';
import { failOnInvalidConfig, pendingStages, trackStages } from './stage-tracker.js';

type Activities = PipelineActivities;
type Validated = Awaited<ReturnType<Activities['validateUnseenConfig']>>;
type Task = Validated['split']['seen'][number];

export async function rpgUnseenPipeline(input: PipelineInput): Promise<UnseenPipelineResult> {
  const progress: UnseenProgress = { stage: 'validate', stages: pendingStages(UNSEEN_STAGES), refs: {} };
  const { stageSeconds, run, count } = trackStages<UnseenStageName>(progress);

  const validate = proxyActivities<Pick<Activities, 'validateUnseenConfig'>>({
    taskQueue: CPU_QUEUE,
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 3 },
  });
  const cpu = proxyActivities<Activities>(activityOptions(input, CPU_QUEUE, '6 hours'));
  const gpu = proxyActivities<Activities>(activityOptions(input, GPU_QUEUE, '24 hours'));

  const skip = (stage: UnseenStageName) => {
    progress.stages[stage].status = 'skipped';
  };

  try {
    const { config, split } = await run('validate', 1, () =>
      validate.validateUnseenConfig(input.config).catch(failOnInvalidConfig),
    );
    const { dataset } = config;
    const runIndices = Array.from({ length: config.runs }, (_, r) => r);

    let base: Ref | undefined;
    if (config.base) {
      const harvest = config.base;
      base = await run('base', 1, () => cpu.harvestRun({ dataset, harvest, run: 0 }));
      progress.refs.base = base;
    } else skip('base');

    /** Every run of every task, side by side; per task, its runs (one artifact per run). */
    const harvestTasks = (
      stage: UnseenStageName,
      tasks: readonly Task[],
      harvest: Validated['config']['harvest'],
      from: Ref | undefined,
    ): Promise<Ref[][]> =>
      run(stage, tasks.length, () =>
        Promise.all(
          tasks.map((task) =>
            count(
              stage,
              Promise.all(
                runIndices.map((r) =>
                  cpu.harvestTaskRun({
                    input: { dataset, harvest, task, run: r },
                    ...(from ? { base: from } : {}),
                  }),
                ),
              ),
            ),
          ),
        ),
      );
    const joined = async (runs: Ref[]): Promise<Ref> =>
      runs.length === 1 ? runs[0]! : cpu.collectCheckpoints({ runs });

    const seenRuns = await harvestTasks('harvest-seen', split.seen, config.harvest, base);
    progress.refs.seenRuns = seenRuns;
    const unseenOriginals = await Promise.all(
      (await harvestTasks('harvest-unseen', split.unseen, config.harvest, base)).map(joined),
    );
    progress.refs.unseenOriginals = unseenOriginals;
    let scratch: Ref[] | undefined;
    if (config.scratch) {
      const runs = await harvestTasks('harvest-scratch', split.unseen, config.scratch, undefined);
      scratch = await Promise.all(runs.map(joined));
    } else skip('harvest-scratch');

    const checkpoints = await run('collect', 1, () => cpu.collectCheckpoints({ runs: seenRuns.flat() }));
    progress.refs.checkpoints = checkpoints;
    const tokens = await run('tokenize', 1, () => cpu.tokenize({ checkpoints, tokenizer: config.tokenizer }));
    progress.refs.tokens = tokens;
    const { generator } = await run('train', config.train.steps, () =>
      gpu.trainGenerator({ tokens, config: config.train, checkpointSignal: checkpointSignal.name }),
    );
    progress.refs.generator = generator;
    let ablationGenerator: Ref | undefined;
    if (config.ablation) {
      const ablationConfig = withoutTaskEmbedding(config.train);
      const trained = await run('train-ablation', 1, () =>
        gpu.trainGenerator({ tokens, config: ablationConfig }),
      );
      ablationGenerator = trained.generator;
      progress.refs.ablationGenerator = ablationGenerator;
    } else skip('train-ablation');

    const network = config.harvest.network;
    const evaluated = [
      ...split.unseen.map((task, i) => ({ task, split: 'unseen' as const, originals: unseenOriginals[i]! })),
      ...split.seen.slice(0, config.tasks.evaluateSeen).map((task, i) => ({
        task,
        split: 'seen' as const,
        runs: seenRuns[i]!,
      })),
    ];
    const generated = await run('generate', evaluated.length, () =>
      Promise.all(
        evaluated.map((e) =>
          count(
            'generate',
            gpu.generate({ generator, tokens, config: config.generate, network, task: e.task }),
          ),
        ),
      ),
    );
    // The unconditional generator makes the same models whatever the task: generated once, scored on every task.
    let ablation: Ref | undefined;
    if (ablationGenerator) {
      const from = ablationGenerator;
      ablation = await run('generate-ablation', 1, () =>
        gpu.generate({ generator: from, tokens, config: config.generate, network }),
      );
    } else skip('generate-ablation');

    const groups = await Promise.all(
      evaluated.map(async (e, i) => ({
        task: e.task,
        split: e.split,
        originals: 'originals' in e ? e.originals : await joined(e.runs),
        generated: generated[i]!,
        ...(ablation ? { ablation } : {}),
        ...(scratch && e.split === 'unseen' ? { scratch: scratch[i]! } : {}),
      })),
    );
    const evaluatedReport = await run('evaluate', 1, () =>
      cpu.evaluateTasks({
        groups,
        config: { dataset, title: config.name },
        stageSeconds: { ...stageSeconds },
        pipelineConfig: config,
      }),
    );
    progress.refs.report = evaluatedReport.report;
    progress.stage = 'done';
    return {
      name: config.name,
      refs: progress.refs,
      reportDir: evaluatedReport.reportDir,
      stageSeconds,
      tasks: { seen: split.seen.length, unseen: split.unseen.length },
    };
  } catch (err) {
    progress.stage = isCancellation(err) ? 'cancelled' : 'failed';
    throw err;
  }
}
