import { type ProgressSink, Rng, type RngState, silentProgress, type TensorEntry, tf } from '@rpg/core';
import { type PrototypeConfig, PrototypeModel, type TokenPosition } from '@rpg/recurrent-prototype';
import { type TokenizerFingerprint, type TokenRows, tokenRowsInMemory } from '@rpg/tokenizer';
import { z } from 'zod';
import { WeightEma } from './ema.js';
import { FlatLayout } from './flat-variables.js';
import { AdamW, type AdamWState } from './optimizer.js';
import { linearSchedule, type ScheduleConfig, scheduleConfigSchema } from './schedule.js';
import { shouldRecompute, stepGradients } from './step-gradients.js';
import {
  type DecoderConfig,
  type DecoderConfigInput,
  decoderConfigSchema,
  defaultStepHidden,
  TokenDecoder,
} from './token-decoder.js';

/** What a trained generator is, as plain JSON: enough to rebuild both models before loading their weights. */
export interface GeneratorConfig {
  version: 1;
  prototype: PrototypeConfig;
  decoder: DecoderConfig;
  schedule: ScheduleConfig;
  /** One entry per token row (from the tokenizer's `tokenPositions`). */
  positions: TokenPosition[];
  /** Number of permutation states (rows of the state embedding). */
  numStates: number;
  /** The tokenizer the generator was trained on, so generation can refuse the tokens of another. */
  tokenizer?: TokenizerFingerprint;
}

/** The recurrent prototype model and the token decoder, trained together. */
export interface TrainedGenerator {
  config: GeneratorConfig;
  prototype: PrototypeModel;
  decoder: TokenDecoder;
  /** Loss per training step (empty for a loaded generator unless saved with it). */
  lossHistory: number[];
}

/** A resume checkpoint: restoring it continues training exactly where it was taken. */
export interface TrainState {
  /** Steps completed. */
  step: number;
  prototypeWeights: Map<string, TensorEntry>;
  decoderWeights: Map<string, TensorEntry>;
  optimizer: AdamWState;
  rng: RngState;
  lossHistory: number[];
  /** The weight averages, when training with `emaDecay` > 0. */
  ema?: { updates: number; weights: Map<string, TensorEntry> };
}

export const trainSettingsSchema = z.object({
  steps: z.number().int().positive(),
  lr: z.number().positive(),
  batchSize: z.number().int().positive(),
  diffusionBatch: z.number().int().positive(),
  seed: z.number().int(),
  weightDecay: z.number().min(0).default(0),
  /** Decay of the weight EMA the trained generator ends with (0: keep the last weights). */
  emaDecay: z.number().min(0).lt(1).default(0),
  /** Save a resume checkpoint every this many steps (0: never). */
  checkpointEvery: z.number().int().min(0).default(0),
});

export interface TrainGeneratorOptions {
  /**
   * Tokens of every checkpoint, NaN in padding: [numCheckpoints, L, k] row-major in memory, or rows read on demand
   * (a tokens file: memory then stays flat in the number of checkpoints). Either gives the same training.
   */
  tokens: Float32Array | TokenRows;
  numCheckpoints: number;
  /** One per token row (L entries). */
  positions: TokenPosition[];
  /** Permutation-state index of each checkpoint (one per checkpoint, or one per training run). */
  stateOf: number[];
  /** Defaults to max(stateOf) + 1. */
  numStates?: number;
  /** The tokenizer of `tokens`, recorded in the generator (see {@link GeneratorConfig.tokenizer}). */
  tokenizer?: TokenizerFingerprint;
  /**
   * Task conditioning (requires `prototype.task`): `vectors` holds each distinct task's vector
   * (`prototype.task.inputDim` values), `of[i]` the task of checkpoint i. The prototypes then depend on the
   * permutation state and the task.
   */
  tasks?: TrainTasks;
  prototype: PrototypeConfig;
  /** `d` defaults to the prototype's d and must equal it. */
  decoder: Omit<DecoderConfigInput, 'd'> & { d?: number };
  schedule?: Partial<ScheduleConfig>;
  steps: number;
  lr: number;
  batchSize: number;
  /** (token, prototype) pairs per step, drawn from the batch's B·L pairs (without replacement when B·L allows). */
  diffusionBatch: number;
  seed: number;
  weightDecay?: number;
  emaDecay?: number;
  checkpointEvery?: number;
  onCheckpoint?: (state: TrainState) => Promise<void>;
  resume?: TrainState;
  progress?: ProgressSink;
  /** Aborting stops training between steps with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Backpropagate through the prototype model one sequence and layer at a time (see `stepGradients`); by default
   * when its activations would be large. Either way gives the same training up to float summation order.
   */
  recompute?: boolean;
}

/** The tasks of the training checkpoints (see {@link TrainGeneratorOptions.tasks}). */
export interface TrainTasks {
  vectors: readonly ArrayLike<number>[];
  of: readonly number[];
}

/** Cosine decay from `lr` to 0 over `total` steps, without warm-up; `step` counts from 0. */
export function cosineLr(lr: number, step: number, total: number): number {
  return 0.5 * lr * (1 + Math.cos((Math.PI * step) / total));
}

/** Builds both models from a configuration; weights come from `rng` (then typically overwritten by a load). */
export function buildGenerator(config: GeneratorConfig, rng: Rng): TrainedGenerator {
  const prototype = new PrototypeModel(
    config.prototype,
    config.positions,
    config.numStates,
    rng.fork('prototype'),
  );
  let decoder: TokenDecoder;
  try {
    decoder = new TokenDecoder(config.decoder, rng.fork('decoder'));
  } catch (err) {
    prototype.dispose();
    throw err;
  }
  return { config, prototype, decoder, lossHistory: [] };
}

export function disposeGenerator(gen: TrainedGenerator): void {
  gen.prototype.dispose();
  gen.decoder.dispose();
}

function validate(opts: TrainGeneratorOptions): { config: GeneratorConfig; L: number; k: number } {
  const L = opts.positions.length;
  const k = opts.decoder.tokenSize;
  if (!Number.isInteger(opts.numCheckpoints) || opts.numCheckpoints < 1) {
    throw new Error(`numCheckpoints must be a positive integer, got ${opts.numCheckpoints}`);
  }
  if (L < 1) throw new Error('positions is empty: pass the tokenizer’s tokenPositions(state)');
  const t = opts.tokens;
  if (t instanceof Float32Array) {
    if (t.length !== opts.numCheckpoints * L * k) {
      throw new Error(
        `tokens has ${t.length} values, expected numCheckpoints·L·k = ${opts.numCheckpoints}·${L}·${k}`,
      );
    }
  } else if (t.count !== opts.numCheckpoints || t.numTokens !== L || t.tokenSize !== k) {
    throw new Error(
      `tokens are [${t.count}, ${t.numTokens}, ${t.tokenSize}], expected [numCheckpoints, L, k] = ` +
        `[${opts.numCheckpoints}, ${L}, ${k}]`,
    );
  }
  if (opts.stateOf.length !== opts.numCheckpoints) {
    throw new Error(
      `stateOf has ${opts.stateOf.length} entries, expected one per checkpoint (${opts.numCheckpoints})`,
    );
  }
  const numStates = opts.numStates ?? Math.max(...opts.stateOf) + 1;
  opts.stateOf.forEach((s, i) => {
    if (!Number.isInteger(s) || s < 0 || s >= numStates) {
      throw new Error(`stateOf[${i}] = ${s} is not a state index in [0, ${numStates})`);
    }
  });
  const d = opts.prototype.d;
  if (opts.decoder.d !== undefined && opts.decoder.d !== d) {
    throw new Error(`decoder.d (${opts.decoder.d}) must equal prototype.d (${d})`);
  }
  const stepHidden = opts.decoder.stepHidden ?? defaultStepHidden(k);
  const decoder = decoderConfigSchema.parse({ ...opts.decoder, d, ...(stepHidden ? { stepHidden } : {}) });
  const schedule = scheduleConfigSchema.parse(opts.schedule ?? {});
  return {
    config: {
      version: 1,
      prototype: opts.prototype,
      decoder,
      schedule,
      positions: opts.positions,
      numStates,
      ...(opts.tokenizer ? { tokenizer: opts.tokenizer } : {}),
    },
    L,
    k,
  };
}

/** The task vectors, row-major `[tasks, inputDim]`, after checking them against the prototype's task config. */
function validateTasks(opts: TrainGeneratorOptions): Float32Array | undefined {
  const inputDim = opts.prototype.task?.inputDim;
  const { tasks } = opts;
  if (inputDim === undefined) {
    if (tasks) throw new Error('tasks were given but prototype.task is not set: add a task-embedding config');
    return undefined;
  }
  if (!tasks) {
    throw new Error('prototype.task is set: pass tasks (each checkpoint’s task vector) to train on');
  }
  if (tasks.of.length !== opts.numCheckpoints) {
    throw new Error(
      `tasks.of has ${tasks.of.length} entries, expected one per checkpoint (${opts.numCheckpoints})`,
    );
  }
  if (tasks.vectors.length === 0) throw new Error('tasks.vectors is empty');
  tasks.of.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= tasks.vectors.length) {
      throw new Error(`tasks.of[${i}] = ${t} is not a task index in [0, ${tasks.vectors.length})`);
    }
  });
  const table = new Float32Array(tasks.vectors.length * inputDim);
  tasks.vectors.forEach((v, i) => {
    if (v.length !== inputDim) {
      throw new Error(`tasks.vectors[${i}] has ${v.length} values, prototype.task.inputDim is ${inputDim}`);
    }
    for (let j = 0; j < inputDim; j++) {
      if (!Number.isFinite(v[j]!)) throw new Error(`tasks.vectors[${i}][${j}] is ${v[j]}: must be finite`);
      table[i * inputDim + j] = v[j]!;
    }
  });
  return table;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Trains the recurrent prototype model and the token decoder jointly (RPG). Each step: pick `batchSize`
 * checkpoints, run the prototype model over the full sequence ([B, L, d]), draw `diffusionBatch` (token,
 * prototype) pairs, a step t and noise ε for each, and minimize the masked ε-MSE with AdamW under a cosine
 * learning rate; one `tf.variableGrads` call covers both models. Same options and seed → same weights.
 */
export async function trainGenerator(opts: TrainGeneratorOptions): Promise<TrainedGenerator> {
  const settings = trainSettingsSchema.parse({
    steps: opts.steps,
    lr: opts.lr,
    batchSize: opts.batchSize,
    diffusionBatch: opts.diffusionBatch,
    seed: opts.seed,
    weightDecay: opts.weightDecay,
    emaDecay: opts.emaDecay,
    checkpointEvery: opts.checkpointEvery,
  });
  const { config, L, k } = validate(opts);
  const taskTable = validateTasks(opts);
  const taskDim = opts.prototype.task?.inputDim ?? 0;
  const numTasks = opts.tasks?.vectors.length ?? 1;
  const progress = opts.progress ?? silentProgress;
  const schedule = linearSchedule(config.schedule.T, config.schedule.beta1, config.schedule.betaT);
  const root = new Rng(settings.seed);
  const gen = buildGenerator(config, root.fork('init'));
  const { prototype, decoder } = gen;
  const protoVars = prototype.trainableVariables();
  const variables = [...protoVars, ...decoder.trainableVariables()];
  // One layout for both: the average reads the values the optimizer has just assigned without gathering them.
  const layout = new FlatLayout(variables);
  const optimizer = new AdamW(variables, { weightDecay: settings.weightDecay, layout });
  const ema = settings.emaDecay > 0 ? new WeightEma(variables, settings.emaDecay, layout) : undefined;
  let rng = root.fork('train');
  const lossHistory: number[] = [];
  let start = 0;
  try {
    if (opts.resume) {
      const r = opts.resume;
      if (r.step > settings.steps)
        throw new Error(`resume state is at step ${r.step}, past steps = ${settings.steps}`);
      prototype.loadWeights(r.prototypeWeights);
      decoder.loadWeights(r.decoderWeights);
      optimizer.loadState(r.optimizer);
      if (ema) {
        if (!r.ema) throw new Error('the resume state has no weight averages but emaDecay > 0');
        ema.loadState(r.ema);
      }
      rng = Rng.fromState(r.rng);
      lossHistory.push(...r.lossHistory);
      start = r.step;
    }

    const { numCheckpoints, stateOf } = opts;
    const tokens =
      opts.tokens instanceof Float32Array
        ? tokenRowsInMemory(opts.tokens, numCheckpoints, L, k)
        : opts.tokens;
    const { batchSize: B, diffusionBatch: D } = settings;
    const x0 = new Float32Array(D * k);
    const mask = new Float32Array(D * k);
    const pairRows = new Int32Array(D);
    const tSteps = new Array<number>(D);
    for (let step = start; step < settings.steps; step++) {
      opts.signal?.throwIfAborted();
      const lr = cosineLr(settings.lr, step, settings.steps);
      // Random draws, always in this order: checkpoints, pairs, steps, noise.
      const ckpts =
        B <= numCheckpoints
          ? rng.sample(numCheckpoints, B)
          : Array.from({ length: B }, () => rng.int(numCheckpoints));
      // The prototypes depend only on the permutation state (and the task, when conditioned): run the recurrent
      // model once per distinct (state, task).
      const taskOf = opts.tasks?.of;
      const groupOf = (c: number) => (taskOf ? stateOf[c]! * numTasks + taskOf[c]! : stateOf[c]!);
      const groups = [...new Set(ckpts.map(groupOf))];
      const slotOf = ckpts.map((c) => groups.indexOf(groupOf(c)));
      const states = taskOf ? groups.map((g) => Math.floor(g / numTasks)) : groups;
      const taskRows = taskTable ? new Float32Array(groups.length * taskDim) : undefined;
      if (taskRows) {
        groups.forEach((g, i) => {
          const t = g % numTasks;
          taskRows.set(taskTable!.subarray(t * taskDim, (t + 1) * taskDim), i * taskDim);
        });
      }
      const pairs = D <= B * L ? rng.sample(B * L, D) : Array.from({ length: D }, () => rng.int(B * L));
      for (let p = 0; p < D; p++) {
        const pair = pairs[p]!;
        const b = Math.floor(pair / L);
        const pos = pair - b * L;
        pairRows[p] = slotOf[b]! * L + pos;
        tokens.readRow(ckpts[b]!, pos, x0, p * k);
        for (let j = p * k; j < (p + 1) * k; j++) {
          const nan = Number.isNaN(x0[j]!);
          if (nan) x0[j] = 0;
          mask[j] = nan ? 0 : 1;
        }
      }
      for (let p = 0; p < D; p++) tSteps[p] = rng.int(schedule.T);
      const noiseValues = rng.normalArray(D * k);

      const lossValue = tf.tidy(() => {
        const { loss, grads } = stepGradients(
          prototype,
          decoder,
          {
            x0: tf.tensor2d(x0, [D, k]),
            mask: tf.tensor2d(mask, [D, k]),
            t: tSteps,
            noise: tf.tensor2d(noiseValues, [D, k]),
            training: true,
            schedule,
            states,
            rows: pairRows,
            tasks: taskRows ? tf.tensor2d(taskRows, [groups.length, taskDim]) : undefined,
          },
          opts.recompute ?? shouldRecompute(prototype, Math.min(B, config.numStates * numTasks)),
        );
        optimizer.apply(grads, lr);
        tf.dispose(Object.values(grads)); // some outlive the scope (see stepGradients)
        return loss.dataSync()[0]!;
      });
      ema?.update();
      if (!Number.isFinite(lossValue)) {
        throw new Error(`training diverged at step ${step + 1}: loss is ${lossValue}; try a lower --lr`);
      }
      lossHistory.push(lossValue);
      const done = step + 1;
      const recent = lossHistory.slice(-Math.min(50, lossHistory.length));
      progress({
        stage: 'train',
        step: done,
        total: settings.steps,
        loss: recent.reduce((a, b) => a + b, 0) / recent.length,
      });
      if (opts.onCheckpoint && settings.checkpointEvery > 0 && done % settings.checkpointEvery === 0) {
        await opts.onCheckpoint({
          step: done,
          prototypeWeights: prototype.weights(),
          decoderWeights: decoder.weights(),
          optimizer: optimizer.state(),
          rng: rng.state(),
          lossHistory: [...lossHistory],
          ...(ema ? { ema: ema.state() } : {}),
        });
      }
      await yieldToEventLoop();
    }
    ema?.copyToVariables();
  } catch (err) {
    optimizer.dispose();
    ema?.dispose();
    disposeGenerator(gen);
    throw err;
  }
  optimizer.dispose();
  ema?.dispose();
  gen.lossHistory = lossHistory;
  return gen;
}
