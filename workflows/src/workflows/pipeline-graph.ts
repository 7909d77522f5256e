/**
 * The RPG pipeline's stage graph, written once for both executors: harvest (one unit per run) → collect, or import
 * the checkpoints of a `source` → tokenize → train → generate (one unit per model) → evaluate (built in, or by
 * the user's `evaluate.command`). The Temporal workflow runs it with proxied
 * activities, `rpg local` with direct calls to the stage functions. Pure code and types only: it is bundled
 * into the workflow sandbox.
 */
import type { PipelineActivities } from '../activities.js';
import type { AnyPipelineConfig } from '../import-config.js';
import type { PipelineRefs, Ref, StageName } from './definitions.js';
import { CHECKPOINT_SIGNAL, type Executor, range } from './executor.js';

/** The stage calls the graph makes (the activities' signatures; `rpg local` calls the stage functions). */
export type PipelineStageCalls = Pick<
  PipelineActivities,
  | 'importSource'
  | 'harvestRun'
  | 'collectCheckpoints'
  | 'tokenize'
  | 'trainGenerator'
  | 'generateModel'
  | 'collectGenerated'
  | 'evaluate'
  | 'evaluateByCommand'
>;

export interface PipelineGraphResult {
  refs: Required<PipelineRefs>;
  /** Where `report.json` and `report.html` were stored. */
  reportDir: string;
  /** The attempt of training that finished and the step it continued from (null: from 0, or found done). */
  train: { attempt: number; resumedFrom: number | null };
}

/** Runs the pipeline of a validated config; `refs` is filled in as the stages finish (the progress query shows it). */
export async function pipelineGraph(
  config: AnyPipelineConfig,
  s: PipelineStageCalls,
  x: Executor<StageName>,
  refs: PipelineRefs = {},
): Promise<PipelineGraphResult> {
  const { runs, checkpoints } = await checkpointsOf(config, s, x, refs);
  const tokens = await x.stage('tokenize', 1, () => s.tokenize({ checkpoints, tokenizer: config.tokenizer }));
  refs.tokens = tokens;
  const trained = await x.stage('train', config.train.steps, () =>
    s.trainGenerator({ tokens, config: config.train, checkpointSignal: CHECKPOINT_SIGNAL }),
  );
  const { generator } = trained;
  refs.generator = generator;

  const network = 'harvest' in config ? config.harvest.network : undefined;
  const models: Ref[] = [];
  const generated = await x.stage('generate', config.generate.count, async () => {
    const each = await x.each('generate', range(config.generate.count), (model) =>
      s.generateModel({ generator, tokens, config: config.generate, network, model }),
    );
    models.push(...each);
    refs.models = each;
    return s.collectGenerated({ models: each });
  });
  refs.generated = generated;

  const evaluated = await x.stage('evaluate', 1, () => {
    const { command } = config.evaluate;
    if (command) {
      return s.evaluateByCommand({
        originals: checkpoints,
        generated,
        generator,
        config: { ...config.evaluate, command, title: config.name },
        stageSeconds: { ...x.stageSeconds },
        pipelineConfig: config,
      });
    }
    if (!('dataset' in config)) throw new Error('unreachable: an imported pipeline has evaluate.command');
    return s.evaluate({
      originals: checkpoints,
      generated,
      generator,
      config: { ...config.evaluate, dataset: config.dataset, title: config.name },
      stageSeconds: { ...x.stageSeconds },
      pipelineConfig: config,
    });
  });
  refs.report = evaluated.report;
  return {
    refs: { runs, checkpoints, tokens, generator, models, generated, report: evaluated.report },
    reportDir: evaluated.reportDir,
    train: { attempt: trained.attempt, resumedFrom: trained.resumedFrom },
  };
}

/** The checkpoints to learn from: harvested (one unit per run, then collected), or imported from `source`. */
async function checkpointsOf(
  config: AnyPipelineConfig,
  s: PipelineStageCalls,
  x: Executor<StageName>,
  refs: PipelineRefs,
): Promise<{ runs: Ref[]; checkpoints: Ref }> {
  if ('source' in config) {
    x.skip('harvest');
    x.skip('collect');
    const checkpoints = await x.stage('import', 1, () => s.importSource({ source: config.source }));
    refs.checkpoints = checkpoints;
    return { runs: [], checkpoints };
  }
  x.skip('import');
  const runs = await x.stage('harvest', config.runs, () =>
    x.each('harvest', range(config.runs), (run) =>
      s.harvestRun({ dataset: config.dataset, harvest: config.harvest, run }),
    ),
  );
  refs.runs = runs;
  const checkpoints = await x.stage('collect', 1, () => s.collectCheckpoints({ runs }));
  refs.checkpoints = checkpoints;
  return { runs, checkpoints };
}
