/**
 * The unseen-task experiment's stage graph, written once for both executors: base network → harvest, one unit
 * per task (each of its runs a call), for the seen tasks, the unseen tasks' originals and their from-scratch
 * references → collect → tokenize → train the task-conditioned generator (and the ablation without the task
 * embedding) → generate, one unit per evaluated task → evaluate per task. Pure code and types only: it is
 * bundled into the workflow sandbox.
 */
import type { PipelineActivities } from '../activities.js';
import { withoutTaskEmbedding } from './ablation-config.js';
import type { Ref, UnseenRefs, UnseenStageName } from './definitions.js';
import { CHECKPOINT_SIGNAL, type Executor, range } from './executor.js';

export type UnseenStageCalls = Pick<
  PipelineActivities,
  | 'harvestRun'
  | 'harvestTaskRun'
  | 'collectCheckpoints'
  | 'tokenize'
  | 'trainGenerator'
  | 'generate'
  | 'evaluateTasks'
>;
type Validated = Awaited<ReturnType<PipelineActivities['validateUnseenConfig']>>;
type Task = Validated['split']['seen'][number];

export interface UnseenGraphResult {
  refs: UnseenRefs;
  /** Where the per-task `report.json` and `report.html` were stored. */
  reportDir: string;
}

/** Runs the experiment of a validated config and its split; `refs` is filled in as the stages finish. */
export async function unseenGraph(
  { config, split }: Validated,
  s: UnseenStageCalls,
  x: Executor<UnseenStageName>,
  refs: UnseenRefs = {},
): Promise<UnseenGraphResult> {
  const { dataset } = config;
  const runIndices = range(config.runs);

  let base: Ref | undefined;
  if (config.base) {
    const harvest = config.base;
    base = await x.stage('base', 1, () => s.harvestRun({ dataset, harvest, run: 0 }));
    refs.base = base;
  } else x.skip('base');

  /** Every run of every task; per task, its runs (one artifact per run). */
  const harvestTasks = (
    stage: UnseenStageName,
    tasks: readonly Task[],
    harvest: Validated['config']['harvest'],
    from: Ref | undefined,
  ): Promise<Ref[][]> =>
    x.stage(stage, tasks.length, () =>
      x.each(
        stage,
        tasks,
        (task) =>
          x.all(runIndices, (r) =>
            s.harvestTaskRun({ input: { dataset, harvest, task, run: r }, ...(from ? { base: from } : {}) }),
          ),
        { oneBar: true },
      ),
    );
  /** A task's runs as one checkpoints artifact (the run itself when there is one). */
  const joined = async (runs: Ref[]): Promise<Ref> =>
    runs.length === 1 ? runs[0]! : s.collectCheckpoints({ runs });

  const seenRuns = await harvestTasks('harvest-seen', split.seen, config.harvest, base);
  refs.seenRuns = seenRuns;
  const unseenOriginals = await x.all(
    await harvestTasks('harvest-unseen', split.unseen, config.harvest, base),
    joined,
  );
  refs.unseenOriginals = unseenOriginals;
  let scratch: Ref[] | undefined;
  if (config.scratch) {
    const runs = await harvestTasks('harvest-scratch', split.unseen, config.scratch, undefined);
    scratch = await x.all(runs, joined);
  } else x.skip('harvest-scratch');

  const checkpoints = await x.stage('collect', 1, () => s.collectCheckpoints({ runs: seenRuns.flat() }));
  refs.checkpoints = checkpoints;
  const tokens = await x.stage('tokenize', 1, () => s.tokenize({ checkpoints, tokenizer: config.tokenizer }));
  refs.tokens = tokens;
  const { generator } = await x.stage('train', config.train.steps, () =>
    s.trainGenerator({ tokens, config: config.train, checkpointSignal: CHECKPOINT_SIGNAL }),
  );
  refs.generator = generator;
  let ablationGenerator: Ref | undefined;
  if (config.ablation) {
    const ablationConfig = withoutTaskEmbedding(config.train);
    const trained = await x.stage('train-ablation', 1, () =>
      s.trainGenerator({ tokens, config: ablationConfig }),
    );
    ablationGenerator = trained.generator;
    refs.ablationGenerator = ablationGenerator;
  } else x.skip('train-ablation');

  const network = config.harvest.network;
  const evaluated = [
    ...split.unseen.map((task, i) => ({ task, split: 'unseen' as const, originals: unseenOriginals[i]! })),
    ...split.seen.slice(0, config.tasks.evaluateSeen).map((task, i) => ({
      task,
      split: 'seen' as const,
      runs: seenRuns[i]!,
    })),
  ];
  const generated = await x.stage('generate', evaluated.length, () =>
    x.each(
      'generate',
      evaluated,
      (e) => s.generate({ generator, tokens, config: config.generate, network, task: e.task }),
      { oneBar: true },
    ),
  );
  // The unconditional generator makes the same models whatever the task: generated once, scored on every task.
  let ablation: Ref | undefined;
  if (ablationGenerator) {
    const from = ablationGenerator;
    ablation = await x.stage('generate-ablation', 1, () =>
      s.generate({ generator: from, tokens, config: config.generate, network }),
    );
  } else x.skip('generate-ablation');

  const groups = await x.all(evaluated, async (e, i) => ({
    task: e.task,
    split: e.split,
    originals: 'originals' in e ? e.originals : await joined(e.runs),
    generated: generated[i]!,
    ...(ablation ? { ablation } : {}),
    ...(scratch && e.split === 'unseen' ? { scratch: scratch[i]! } : {}),
  }));
  const report = await x.stage('evaluate', 1, () =>
    s.evaluateTasks({
      groups,
      config: { dataset, title: config.name },
      stageSeconds: { ...x.stageSeconds },
      pipelineConfig: config,
    }),
  );
  refs.report = report.report;
  return { refs, reportDir: report.reportDir };
}
