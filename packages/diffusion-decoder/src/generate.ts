import { MAX_SEED, type ProgressSink, Rng, silentProgress, tf } from '@rpg/core';
import { z } from 'zod';
import { decoderPredictor, sampleDdim, sampleDdpm } from './samplers.js';
import { linearSchedule, type Schedule } from './schedule.js';
import type { StepTimes } from './token-decoder.js';
import type { TrainedGenerator } from './train-generator.js';

export const generateSettingsSchema = z.object({
  count: z.number().int().positive().max(100_000),
  seed: z.number().int().min(0).max(MAX_SEED),
  sampler: z.enum(['ddim', 'ddpm']).default('ddim'),
  /** DDIM steps (DDPM always runs all T). */
  steps: z.number().int().positive().max(100_000).default(60),
  eta: z.number().min(0).max(1).default(0.05),
  /**
   * Tokens decoded at once; bounds memory independently of the network size. Default: as many as keep one
   * activation of the widest conv under {@link CHUNK_ACTIVATION_VALUES} values ({@link defaultChunkRows}).
   */
  chunkSize: z.number().int().positive().max(1_000_000).optional(),
  clip: z.number().positive().optional(),
});

/**
 * Values one decoder activation of a chunk may hold (rows × k × widest channel): 2²⁴ floats, 64 MiB; sampling
 * holds a few such activations at once.
 */
export const CHUNK_ACTIVATION_VALUES = 2 ** 24;

/**
 * Default chunk: the most token rows whose widest activation stays under {@link CHUNK_ACTIVATION_VALUES} (e.g.
 * 512 rows of 256 with 128 channels; 32 rows of 4,096), between 1 and 4,096. Larger chunks amortize the
 * per-step overhead; the cap keeps generation's memory bounded whatever the network's size.
 */
export function defaultChunkRows(tokenSize: number, channels: readonly number[]): number {
  const rows = Math.floor(CHUNK_ACTIVATION_VALUES / (tokenSize * Math.max(...channels)));
  return Math.max(1, Math.min(4096, rows));
}

export interface GenerateOptions extends z.input<typeof generateSettingsSchema> {
  /**
   * Receives the decoded tokens of model `modelIndex`, rows `chunkStart ..` (`tokens.length / k` rows, row-major),
   * in order; awaited before the next chunk is decoded, so memory does not grow with L.
   */
  write: (modelIndex: number, chunkStart: number, tokens: Float32Array) => Promise<void> | void;
  /** Permutation state of each model; default: drawn at random (uniformly) per model from the seed. */
  states?: number[];
  /**
   * The task vector every model is generated for; required by a task-conditioned generator (the task may be one
   * it never saw: it needs only the vector), refused by an unconditional one.
   */
  task?: ArrayLike<number>;
  progress?: ProgressSink;
  signal?: AbortSignal;
}

/** Names of the generator's weights that hold a NaN or ±Infinity (a diverged or damaged generator). */
export function nonFiniteWeights(gen: TrainedGenerator): string[] {
  const bad: string[] = [];
  const parts = [
    ['prototype', gen.prototype.weights()],
    ['decoder', gen.decoder.weights()],
  ] as const;
  for (const [part, weights] of parts) {
    for (const [name, entry] of weights) {
      if (!(entry.data as Float32Array).every(Number.isFinite)) bad.push(`${part}.${name}`);
    }
  }
  return bad;
}

/** The decoded token rows of one chunk of prototypes [rows, d], drawn with the configured sampler from `rng`. */
async function sampleChunk(
  gen: TrainedGenerator,
  proto: tf.Tensor2D,
  rng: Rng,
  settings: z.output<typeof generateSettingsSchema>,
  schedule: Schedule,
  times: StepTimes,
): Promise<Float32Array> {
  const predict = decoderPredictor(gen.decoder, proto, schedule, times);
  try {
    const common = { n: proto.shape[0], k: gen.config.decoder.tokenSize, rng, schedule, clip: settings.clip };
    const out =
      settings.sampler === 'ddim'
        ? await sampleDdim(predict, { ...common, steps: settings.steps, eta: settings.eta })
        : await sampleDdpm(predict, common);
    const values = out.dataSync() as Float32Array;
    out.dispose();
    return values;
  } finally {
    predict.dispose();
  }
}

/**
 * Generates `count` parameter sets as token rows: per model, draw a permutation state, run the prototype model
 * once ([1, L, d]), then decode the L tokens chunk by chunk with DDIM or DDPM and hand each chunk to `write`.
 * Returns the permutation state used for each model. Same generator and options → same tokens.
 */
export async function generate(
  gen: TrainedGenerator,
  options: GenerateOptions,
): Promise<{ states: number[] }> {
  const settings = generateSettingsSchema.parse(options);
  const { write, signal } = options;
  const progress = options.progress ?? silentProgress;
  const { numStates, positions } = gen.config;
  const { tokenSize: k, d } = gen.config.decoder;
  const L = positions.length;
  const schedule = linearSchedule(
    gen.config.schedule.T,
    gen.config.schedule.beta1,
    gen.config.schedule.betaT,
  );
  if (options.states && options.states.length !== settings.count) {
    throw new Error(`states has ${options.states.length} entries for count = ${settings.count}`);
  }
  const taskDim = gen.prototype.taskInputDim;
  if (taskDim === null && options.task) {
    throw new Error('this generator is not task-conditioned: leave the task out');
  }
  if (taskDim !== null) {
    if (!options.task)
      throw new Error('this generator is task-conditioned: give the task vector to generate for');
    if (options.task.length !== taskDim) {
      throw new Error(`the task vector has ${options.task.length} values, the generator takes ${taskDim}`);
    }
    if (!Array.from(options.task).every(Number.isFinite)) throw new Error('the task vector must be finite');
  }
  const taskVector = options.task ? Float32Array.from(options.task) : undefined;
  const broken = nonFiniteWeights(gen);
  if (broken.length > 0) {
    throw new Error(
      `the generator's weights are not finite (NaN or infinite values in ${broken.slice(0, 3).join(', ')}` +
        `${broken.length > 3 ? ` and ${broken.length - 3} more` : ''}): it would generate NaN models. ` +
        'Train it again (a lower learning rate if its loss diverged)',
    );
  }
  const chunkSize = settings.chunkSize ?? defaultChunkRows(k, gen.config.decoder.channels);
  const chunks = Math.ceil(L / chunkSize);
  const root = new Rng(settings.seed);
  const states: number[] = [];
  // Every chunk of every model visits the same sampler steps: each step's MLP runs once here.
  const times = gen.decoder.stepTimes();
  try {
    for (let m = 0; m < settings.count; m++) {
      const rng = root.fork(`model ${m}`);
      const state = options.states?.[m] ?? rng.int(numStates);
      if (!Number.isInteger(state) || state < 0 || state >= numStates) {
        throw new Error(`permutation state ${state} for model ${m} is outside [0, ${numStates})`);
      }
      states.push(state);
      const protos = tf.tidy(() => {
        const task = taskVector ? tf.tensor2d(taskVector, [1, taskVector.length]) : undefined;
        return tf.reshape(gen.prototype.forward([state], undefined, task), [L, d]) as tf.Tensor2D;
      });
      try {
        for (let c = 0; c < chunks; c++) {
          signal?.throwIfAborted();
          const start = c * chunkSize;
          const rows = Math.min(chunkSize, L - start);
          const proto = tf.slice(protos, [start, 0], [rows, d]);
          let values: Float32Array;
          try {
            values = await sampleChunk(gen, proto, rng, settings, schedule, times);
          } finally {
            proto.dispose();
          }
          await write(m, start, values);
          progress({
            stage: 'generate',
            step: m * chunks + c + 1,
            total: settings.count * chunks,
            note: `model ${m + 1}/${settings.count}`,
          });
        }
      } finally {
        protos.dispose();
      }
    }
  } finally {
    times.dispose();
  }
  return { states };
}
