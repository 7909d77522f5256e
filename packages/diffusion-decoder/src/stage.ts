import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CheckpointsMeta,
  checkpointFileName,
  readCheckpointsMeta,
  writeCheckpointsMeta,
} from '@rpg/checkpoint-harvest';
import {
  type ArtifactRef,
  ArtifactStore,
  ArtifactRef as artifactRefSchema,
  MAX_SEED,
  type ProgressSink,
  pruneTrainStates,
  Rng,
  silentProgress,
} from '@rpg/core';
import { prototypeConfigSchema } from '@rpg/recurrent-prototype';
import { parseTaskDescriptor, type TaskDescriptor, taskVector } from '@rpg/task-embedding';
import {
  loadTokenizerState,
  TOKENS_FILE,
  TOKENS_META_FILE,
  TokenRowsFile,
  tokenizerFingerprint,
  tokenPositions,
  tokensMetaSchema,
} from '@rpg/tokenizer';
import { z } from 'zod';
import { checkpointSink } from './checkpoint-sink.js';
import { generate, generateSettingsSchema } from './generate.js';
import { loadGenerator, loadTrainState, saveGenerator, saveTrainState } from './io.js';
import { checkpointsOfTokens, seedStates, tasksOf } from './task-conditioning.js';
import { disposeGenerator, type TrainState, trainGenerator } from './train-generator.js';
import { checkTrainedOn } from './trained-on.js';
import { decoderConfigSchema } from './unet.js';

export interface StageContext {
  store: ArtifactStore;
  progress?: ProgressSink;
  signal?: AbortSignal;
}

export const trainStageConfigSchema = z
  .object({
    prototype: prototypeConfigSchema,
    /** `tokenSize` and `d` come from the tokenizer and the prototype model. */
    decoder: z
      .object({
        channels: z
          .array(z.number().int().positive().max(4096))
          .min(3)
          .max(17)
          .default([1, 32, 64, 128, 64, 32, 1]),
        kernel: z.number().int().positive().max(63).default(7),
        conditioning: z.enum(['per-layer', 'shared']).default('per-layer'),
        prediction: z.enum(['epsilon', 'x0', 'v']).default('epsilon'),
      })
      .strict()
      .superRefine((dec, ctx) => {
        // The full decoder rules (symmetric channels, odd kernel) with placeholder sizes.
        const r = decoderConfigSchema.safeParse({ ...dec, tokenSize: 1, d: 1 });
        for (const issue of r.error?.issues ?? [])
          ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
      }),
    // Upper bounds keep a typo from running for days or allocating the machine away (the paper trains for
    // at most 120k steps, batch 16, diffusion batch 1,024).
    steps: z.number().int().positive().max(10_000_000),
    lr: z.number().positive().max(1),
    batchSize: z.number().int().positive().max(4096),
    diffusionBatch: z.number().int().positive().max(65_536),
    seed: z.number().int().nonnegative().max(MAX_SEED),
    weightDecay: z.number().min(0).max(1).default(0),
    /** Decay of the weight EMA the generator ends with (0: the last weights). */
    emaDecay: z.number().min(0).lt(1).default(0.995),
    /**
     * One permutation state per training run (default), per checkpoint, or per harvest seed (runs that started from
     * the same initial weights, e.g. run r of every task, share one).
     */
    states: z.enum(['run', 'checkpoint', 'seed']).default('run'),
    /** Save a resume checkpoint into the store every this many steps (0: never). */
    checkpointEvery: z.number().int().min(0).max(10_000_000).default(250),
  })
  .strict();
export type TrainStageConfig = z.output<typeof trainStageConfigSchema>;
export type TrainStageConfigInput = z.input<typeof trainStageConfigSchema>;

export interface TrainHooks {
  /** Continue from this resume checkpoint (a `train-state` artifact) instead of the latest one recorded. */
  resume?: ArtifactRef;
  /** Called after each resume checkpoint is durably stored. */
  onCheckpoint?: (ref: ArtifactRef, step: number, loss: number) => Promise<void> | void;
  /** Called once when training continues from a resume checkpoint. */
  onResume?: (step: number) => void;
}

/** Where the latest resume checkpoint of a training run is recorded (a pointer file beside the artifacts). */
function resumePointer(store: ArtifactStore, key: string): string {
  return join(store.root, 'resume', `${key}.json`);
}

/**
 * The latest resume checkpoint of a training run, if one was recorded. A pointer that cannot be read, or that
 * names an artifact the store does not hold, is an error: silently starting again from step 0 would throw away
 * the work it points to.
 */
async function readResumePointer(store: ArtifactStore, key: string): Promise<ArtifactRef | undefined> {
  const path = resumePointer(store, key);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const damaged = (why: string) =>
    new Error(
      `the resume pointer ${path} ${why}. Delete it to train again from step 0, or restore it to continue ` +
        'from its checkpoint',
    );
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw damaged('is not valid JSON');
  }
  const ref = artifactRefSchema.safeParse(raw);
  if (!ref.success) throw damaged('is not an artifact reference');
  if (!(await store.has(ref.data))) throw damaged(`names ${ref.data.uri}, which the store does not hold`);
  return ref.data;
}

async function writeResumePointer(store: ArtifactStore, key: string, ref: ArtifactRef): Promise<void> {
  const path = resumePointer(store, key);
  await mkdir(join(store.root, 'resume'), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(ref), { flush: true });
  await rename(tmp, path);
}

/**
 * The train stage: a `tokens` artifact → a `generator` artifact. Saves resume checkpoints (`train-state`
 * artifacts) every `checkpointEvery` steps and continues from the latest one when run again (or from
 * `hooks.resume`), so a killed run loses at most `checkpointEvery` steps.
 */
export async function trainStage(
  ctx: StageContext,
  input: { tokens: ArtifactRef; config: TrainStageConfigInput },
  hooks: TrainHooks = {},
): Promise<ArtifactRef> {
  const config = trainStageConfigSchema.parse(input.config);
  const { store } = ctx;
  const key = ArtifactStore.keyFor('train', config, [input.tokens]);
  return store.put({ kind: 'generator', stage: 'train', config, inputs: [input.tokens] }, async (dir) => {
    const { dir: tokDir } = await store.get(input.tokens);
    const state = await loadTokenizerState(tokDir);
    const { runs } = tokensMetaSchema.parse(
      JSON.parse(await readFile(join(tokDir, TOKENS_META_FILE), 'utf8')),
    );
    // A task-conditioned model, or states per seed, need facts the tokens do not carry: read their checkpoints.
    const taskDim = config.prototype.task?.inputDim;
    const source =
      taskDim !== undefined || config.states === 'seed'
        ? await checkpointsOfTokens(store, input.tokens)
        : undefined;
    const stateOf =
      config.states === 'seed' ? seedStates(source!) : config.states === 'run' ? runs : runs.map((_, i) => i);
    const tasks = taskDim !== undefined ? tasksOf(source!, taskDim) : undefined;

    let resume: TrainState | undefined;
    const resumeRef = hooks.resume ?? (await readResumePointer(store, key));
    if (resumeRef) {
      resume = await loadTrainState((await store.get(resumeRef)).dir);
      hooks.onResume?.(resume.step);
    }
    // Rows are read from the file at each step: memory does not grow with the number of checkpoints.
    const tokens = await TokenRowsFile.open(join(tokDir, TOKENS_FILE), state);
    const gen = await trainGenerator({
      tokens,
      numCheckpoints: tokens.count,
      positions: tokenPositions(state),
      tokenizer: tokenizerFingerprint(state),
      stateOf,
      ...(tasks ? { tasks } : {}),
      prototype: config.prototype,
      decoder: { ...config.decoder, tokenSize: state.config.tokenSize },
      steps: config.steps,
      lr: config.lr,
      batchSize: config.batchSize,
      diffusionBatch: config.diffusionBatch,
      seed: config.seed,
      weightDecay: config.weightDecay,
      emaDecay: config.emaDecay,
      checkpointEvery: config.checkpointEvery,
      ...(resume ? { resume } : {}),
      progress: ctx.progress ?? silentProgress,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onCheckpoint: async (s) => {
        const ref = await store.put(
          {
            kind: 'train-state',
            stage: 'train-state',
            config: { train: key, step: s.step },
            inputs: [input.tokens],
          },
          (d) => saveTrainState(d, s),
        );
        await writeResumePointer(store, key, ref);
        await pruneTrainStates(store, key); // only the latest few are ever resumed from
        await hooks.onCheckpoint?.(ref, s.step, s.lossHistory.at(-1) ?? Number.NaN);
      },
    }).finally(() => tokens.close());
    try {
      await saveGenerator(dir, gen);
    } finally {
      disposeGenerator(gen);
    }
  });
}

export const generateStageConfigSchema = generateSettingsSchema.strict();
export type GenerateStageConfigInput = z.input<typeof generateStageConfigSchema>;

/**
 * The generate stage: a `generator` + the `tokens` artifact it was trained on → a `generated` artifact, a
 * checkpoints directory with one detokenized safetensors per model (run = model index). Models are decoded and
 * written one at a time, chunk by chunk. A task-conditioned generator needs `task`, the task to generate for (it
 * may be one the generator never saw); it is recorded with every model.
 */
export async function generateStage(
  ctx: StageContext,
  input: {
    generator: ArtifactRef;
    tokens: ArtifactRef;
    config: GenerateStageConfigInput;
    network?: unknown;
    task?: TaskDescriptor;
  },
): Promise<ArtifactRef> {
  const config = generateStageConfigSchema.parse(input.config);
  const { store } = ctx;
  const task = input.task === undefined ? undefined : parseTaskDescriptor(input.task, 'task');
  return store.put(
    {
      kind: 'generated',
      stage: 'generate',
      config: task ? { ...config, task } : config,
      inputs: [input.generator, input.tokens],
    },
    async (dir) => {
      const state = await loadTokenizerState((await store.get(input.tokens)).dir);
      const gen = await loadGenerator((await store.get(input.generator)).dir);
      try {
        checkTrainedOn(gen, state, `of ${input.tokens.uri}`);
      } catch (err) {
        disposeGenerator(gen);
        throw err;
      }
      const meta: CheckpointsMeta = {
        format: 'rpg-checkpoints',
        version: 1,
        network: (input.network as CheckpointsMeta['network']) ?? null,
        dataset: null,
        runs: [],
        checkpoints: [],
      };
      const sink = checkpointSink(
        state,
        dir,
        (m) => checkpointFileName(m, 0).replace(/^run/, 'gen'),
        (m, file) =>
          meta.checkpoints.push({
            file,
            run: m,
            index: 0,
            step: null,
            testAccuracy: null,
            ...(task ? { task } : {}),
          }),
      );
      try {
        const { states } = await generate(gen, {
          ...config,
          ...(task ? { task: taskVector(task) } : {}),
          progress: ctx.progress ?? silentProgress,
          ...(ctx.signal ? { signal: ctx.signal } : {}),
          write: sink.write,
        });
        meta.runs = states.map((s) => ({ permutationState: s }));
      } finally {
        await sink.abort();
        disposeGenerator(gen);
      }
      await writeCheckpointsMeta(dir, meta);
    },
  );
}

/**
 * The seed model `model` of a fanned-out generation samples with: derived from the config's seed, so every model
 * is reproducible on its own, whichever worker makes it and in whatever order.
 */
export function modelSeed(seed: number, model: number): number {
  return new Rng(seed).fork(`model ${model}`).nextUint32();
}

/**
 * Model `model` of a generate config alone (sampled with {@link modelSeed}) → a `generated` artifact holding just
 * it: the unit the pipeline fans generation out over. {@link collectGeneratedStage} joins them.
 */
export async function generateModelStage(
  ctx: StageContext,
  // Whatever generateStage takes, plus which model.
  input: Parameters<typeof generateStage>[1] & { model: number },
): Promise<ArtifactRef> {
  const { model, config, ...rest } = input;
  const parsed = generateStageConfigSchema.parse(config);
  if (!Number.isInteger(model) || model < 0 || model >= parsed.count) {
    throw new Error(`model ${model} is not one of the config's ${parsed.count} (0 .. ${parsed.count - 1})`);
  }
  return generateStage(ctx, {
    ...rest,
    config: { ...parsed, count: 1, seed: modelSeed(parsed.seed, model) },
  });
}

/**
 * Joins one-model `generated` artifacts into one collection, model i being the i-th input (files renamed to
 * match), in the layout {@link generateStage} writes.
 */
export async function collectGeneratedStage(ctx: StageContext, models: ArtifactRef[]): Promise<ArtifactRef> {
  if (models.length === 0) throw new Error('collectGeneratedStage: no models to collect');
  const { store } = ctx;
  return store.put(
    { kind: 'generated', stage: 'collect-generated', config: { models: models.length }, inputs: models },
    async (dir) => {
      let merged: CheckpointsMeta | undefined;
      for (const [m, ref] of models.entries()) {
        const { dir: src } = await store.get(ref);
        const meta = await readCheckpointsMeta(src);
        const entry = meta.checkpoints[0];
        if (meta.checkpoints.length !== 1 || !entry) {
          throw new Error(`input ${m} (${ref.uri}) holds ${meta.checkpoints.length} models, expected 1`);
        }
        merged ??= { ...meta, runs: [], checkpoints: [] };
        const file = checkpointFileName(m, 0).replace(/^run/, 'gen');
        await copyFile(join(src, entry.file), join(dir, file));
        merged.checkpoints.push({ ...entry, file, run: m });
        merged.runs.push(meta.runs[0] ?? {});
        ctx.progress?.({ stage: 'collect', step: m + 1, total: models.length });
      }
      await writeCheckpointsMeta(dir, merged!);
    },
  );
}
