import { type Rng, type TensorEntry, tf } from '@rpg/core';
import { type DecoderConfig, type DecoderConfigInput, decoderConfigSchema } from './decoder-config.js';
import { type ConvLayer, convLayerForward } from './decoder-layer.js';
import { noiseFromPrediction } from './parameterisation.js';
import { defaultSchedule, type Schedule } from './schedule.js';
import { TIME_EMBEDDING_SIZE, timestepEmbedding } from './timestep-embedding.js';

export {
  type DecoderConfig,
  type DecoderConfigInput,
  decoderConfigSchema,
  defaultStepHidden,
  MAX_DEFAULT_STEP_HIDDEN,
} from './decoder-config.js';
export { TIME_EMBEDDING_SIZE, timestepEmbedding } from './timestep-embedding.js';

/**
 * The conditioning groups of `x` along `axis`, one tensor each. A single group is a squeeze, not an unstack:
 * tfjs's gradient of an unstack with one output fails.
 */
function splitGroups(x: tf.Tensor4D, axis: number): tf.Tensor3D[] {
  if (x.shape[axis] === 1) return [tf.squeeze(x, [axis]) as tf.Tensor3D];
  return tf.unstack(x, axis) as tf.Tensor3D[];
}

/** A variable initialised from `initial`, which is disposed (the variable keeps its own reference to the data). */
function ownedVariable(initial: tf.Tensor, trainable: boolean, name: string): tf.Variable {
  const v = tf.variable(initial, trainable, name);
  initial.dispose();
  return v;
}

/** Rows of the step-embedding table built with a decoder: the default schedule's T. */
const STEP_TABLE_ROWS = 1000;

/** The prototypes' conditions for one set of tokens (see {@link TokenDecoder.condition}). */
export interface DecoderCondition {
  /** N: tokens the condition is for. */
  rows: number;
  /** One [N, k, 1] per conv group. */
  conds: tf.Tensor3D[];
  /** The step MLP's outputs by step, shared with other conditions (not disposed with this one). */
  times?: StepTimes;
  dispose(): void;
}

/** The step MLP's outputs by step, each computed once (see {@link TokenDecoder.stepTimes}). */
export interface StepTimes {
  /** Per conv group, [1, k, 1] for `step`. */
  get(step: number): tf.Tensor3D[];
  dispose(): void;
}

/** The step all of `steps` share, or undefined when they differ. */
function sharedStep(steps: ArrayLike<number>): number | undefined {
  const first = steps[0];
  return Array.prototype.every.call(steps, (s: number) => s === first) ? first : undefined;
}

/**
 * The RPG token decoder: a conditioned 1D-conv UNet that predicts the noise ε in a noisy token x_t.
 *
 * A token is a 1-channel signal of length k, laid out [N, k, C] (tfjs conv1d NWC). Before every conv,
 * `x ← conv((x + c_i) · t_i)`: `c_i = Linear_i(d→k)(prototype)` is added and `t_i = MLP_i(sinusoid₂₅₆(step))`
 * (Linear(256→h), SiLU, Linear(h→k); h = k unless `stepHidden` says) multiplies, both broadcast over channels. Every conv but the last is
 * followed by BatchNorm (batch statistics in training, running statistics in eval) and ELU. Skips are
 * added: the outputs of the first n/2 − 1 convs go into the inputs of the mirrored decoder convs.
 *
 * The per-layer projections are stored stacked so each costs one matmul for all layers:
 * `cond.weight` [d, G·k], `time.fc1.weight` [256, G·h], `time.fc2.weight` [G, h, k], G = number of convs
 * ('per-layer') or 1 ('shared').
 */
export class TokenDecoder {
  private static nextId = 0;
  private readonly id = TokenDecoder.nextId++;
  readonly config: DecoderConfig;
  private readonly convs: ConvLayer[];
  private readonly condWeight: tf.Variable;
  private readonly condBias: tf.Variable;
  private readonly fc1Weight: tf.Variable;
  private readonly fc1Bias: tf.Variable;
  private readonly fc2Weight: tf.Variable;
  private readonly fc2Bias: tf.Variable;
  /** Number of conditioning groups: one per conv ('per-layer') or 1 ('shared'). */
  private readonly groups: number;
  /** Sinusoidal embeddings of steps 0…n−1 (see {@link stepEmbeddings}); n grows when a larger step comes. */
  private stepTable?: tf.Tensor2D;

  constructor(config: DecoderConfigInput, rng: Rng) {
    this.config = decoderConfigSchema.parse(config);
    const { tokenSize: k, d, channels, kernel } = this.config;
    const h = this.config.stepHidden ?? k;
    const numConvs = channels.length - 1;
    this.groups = this.config.conditioning === 'per-layer' ? numConvs : 1;
    const G = this.groups;
    // PyTorch's default init for Linear and Conv1d: U(±1/√fan_in) for weight and bias.
    const uniform = (shape: number[], fanIn: number, name: string) => {
      const bound = 1 / Math.sqrt(fanIn);
      const n = shape.reduce((a, b) => a * b, 1);
      return ownedVariable(tf.tensor(rng.uniformArray(n, -bound, bound), shape), true, this.uniqueName(name));
    };
    const constant = (shape: number[], value: number, name: string, trainable = true) =>
      ownedVariable(tf.fill(shape, value), trainable, this.uniqueName(name));
    this.condWeight = uniform([d, G * k], d, 'cond.weight');
    this.condBias = uniform([G * k], d, 'cond.bias');
    this.fc1Weight = uniform([TIME_EMBEDDING_SIZE, G * h], TIME_EMBEDDING_SIZE, 'time.fc1.weight');
    this.fc1Bias = uniform([G * h], TIME_EMBEDDING_SIZE, 'time.fc1.bias');
    this.fc2Weight = uniform([G, h, k], h, 'time.fc2.weight');
    this.fc2Bias = uniform([G, 1, k], h, 'time.fc2.bias');
    this.convs = [];
    for (let i = 0; i < numConvs; i++) {
      const cin = channels[i]!;
      const cout = channels[i + 1]!;
      const last = i === numConvs - 1;
      const layer: ConvLayer = { weight: uniform([kernel, cin, cout], cin * kernel, `convs.${i}.weight`) };
      if (last) layer.bias = uniform([cout], cin * kernel, `convs.${i}.bias`);
      else {
        layer.bn = {
          gamma: constant([cout], 1, `convs.${i}.bn.weight`),
          beta: constant([cout], 0, `convs.${i}.bn.bias`),
          runningMean: constant([cout], 0, `convs.${i}.bn.running_mean`, false),
          runningVar: constant([cout], 1, `convs.${i}.bn.running_var`, false),
        };
      }
      this.convs.push(layer);
    }
    tf.tidy(() => {
      this.stepEmbeddings([STEP_TABLE_ROWS - 1]);
    });
  }

  private uniqueName(name: string): string {
    // tfjs variable names are global; the instance id lets several decoders coexist.
    return `decoder${this.id}/${name}`;
  }

  /** Index of the conv whose input receives the output of conv `i` as a skip, or undefined. */
  private skipTarget(i: number): number | undefined {
    const n = this.convs.length;
    return i < n / 2 - 1 ? n - 1 - i : undefined;
  }

  /**
   * Predicted noise ε̂(x_t, t, prototype): `xt` [N, k], `t` N integer steps (tensor or array), `proto` [N, d] (or
   * its {@link condition}, computed once for many calls) → [N, k].
   * With `training`, BatchNorm normalizes with the batch statistics and updates the running ones
   * (momentum 0.1, unbiased variance, as PyTorch); otherwise it uses the running statistics. For an x₀- or
   * v-predicting decoder the output is converted to ε̂ with `schedule`.
   */
  predictNoise(
    xt: tf.Tensor2D,
    t: tf.Tensor1D | ArrayLike<number>,
    proto: tf.Tensor2D | DecoderCondition,
    training: boolean,
    schedule: Schedule = defaultSchedule,
  ): tf.Tensor2D {
    const prediction = this.config.prediction;
    if (prediction === 'epsilon') return this.forward(xt, t, proto, training);
    const steps = t instanceof tf.Tensor ? t.dataSync() : t;
    return tf.tidy(() =>
      noiseFromPrediction(prediction, this.forward(xt, steps, proto, training), xt, steps, schedule),
    );
  }

  /**
   * The prototypes' additive conditions `c_i = Linear_i(d→k)(prototype)`, one [N, k, 1] per conv group. They do not
   * depend on the noisy token or the step, so a sampler computes them once per chunk of tokens and passes them to
   * every step; with `times`, the steps' MLP outputs come from there too. Dispose the result when done.
   */
  condition(proto: tf.Tensor2D, times?: StepTimes): DecoderCondition {
    const { d } = this.config;
    if (proto.shape[1] !== d) throw new Error(`condition: proto is [${proto.shape}], expected [N, ${d}]`);
    const conds = tf.tidy(() => this.conditionTensors(proto));
    return { rows: proto.shape[0], conds, times, dispose: () => tf.dispose(conds) };
  }

  /**
   * The step MLP's outputs by step, each computed on first use and kept. Every chunk of a generation visits the
   * same sampler steps, so each step's MLP then runs once per generation instead of once per chunk (at tokens of
   * 4,096 it reads G·h·k weights, 100 MB, each time). Valid while the weights do not change; dispose when done.
   */
  stepTimes(): StepTimes {
    const cache = new Map<number, tf.Tensor3D[]>();
    return {
      get: (step) => {
        let times = cache.get(step);
        if (!times) {
          times = tf.tidy(() => this.timeTensors([step]));
          for (const t of times) tf.keep(t);
          cache.set(step, times);
        }
        return times;
      },
      dispose: () => {
        for (const times of cache.values()) tf.dispose(times);
        cache.clear();
      },
    };
  }

  /**
   * The network's raw output for noisy tokens — ε̂, x̂₀ or v̂ according to `config.prediction`; arguments as
   * for `predictNoise`.
   */
  forward(
    xt: tf.Tensor2D,
    t: tf.Tensor1D | ArrayLike<number>,
    proto: tf.Tensor2D | DecoderCondition,
    training: boolean,
  ): tf.Tensor2D {
    const { tokenSize: k, d } = this.config;
    const n = xt.shape[0];
    if (xt.shape[1] !== k) throw new Error(`forward: xt is [${xt.shape}], expected [N, ${k}]`);
    const given = proto instanceof tf.Tensor ? undefined : proto;
    const shape = proto instanceof tf.Tensor ? proto.shape : [proto.rows, d];
    if (shape[0] !== n || shape[1] !== d) {
      throw new Error(`forward: proto is [${shape}], expected [${n}, ${d}]`);
    }
    const steps = t instanceof tf.Tensor ? t.dataSync() : t;
    if (steps.length !== n) throw new Error(`forward: ${steps.length} steps for ${n} tokens`);
    const G = this.groups;
    return tf.tidy(() => {
      const step = sharedStep(steps);
      const times = given?.times && step !== undefined ? given.times.get(step) : this.timeTensors(steps);
      const conds = given?.conds ?? this.conditionTensors(proto as tf.Tensor2D);
      let x = tf.reshape(xt, [n, k, 1]) as tf.Tensor3D;
      const skips = new Map<number, tf.Tensor3D>();
      this.convs.forEach((layer, i) => {
        const skip = skips.get(i);
        const layerIn = x;
        const run = () => {
          const g = G === 1 ? 0 : i;
          const summed = skip ? (tf.add(layerIn, skip) as tf.Tensor3D) : layerIn;
          return convLayerForward(layer, summed, conds[g]!, times[g]!, training);
        };
        // Training keeps every activation for the gradient. Sampling frees each layer's intermediates as it
        // goes, and its input once no later layer needs it: peak memory is a few activations, not all of them.
        const y = training ? run() : tf.tidy(run);
        if (!training) {
          if (![...skips.values()].includes(layerIn)) layerIn.dispose();
          skip?.dispose();
          skips.delete(i);
        }
        const target = this.skipTarget(i);
        if (target !== undefined) skips.set(target, y);
        x = y;
      });
      return tf.reshape(x, [n, k]) as tf.Tensor2D;
    });
  }

  /** Per conv group, `c = Linear(d→k)(prototype)` as [N, k, 1] (stacked weights: one matmul for all groups). */
  private conditionTensors(proto: tf.Tensor2D): tf.Tensor3D[] {
    const { tokenSize: k } = this.config;
    const n = proto.shape[0];
    const condAll = tf.add(tf.matMul(proto, this.condWeight), this.condBias); // [N, G·k]
    // One reshape and one split give every group's [N, k, 1] (no transpose, no per-group reshape).
    return splitGroups(tf.reshape(condAll, [n, this.groups, k, 1]), 1);
  }

  /**
   * Per conv group, the step MLP `t = MLP(sinusoid₂₅₆(step))` as [N, k, 1] — or as [1, k, 1], broadcast over the
   * tokens, when every token is at the same step (each sampler step): then it costs one row, not N.
   */
  private timeTensors(steps: ArrayLike<number>): tf.Tensor3D[] {
    const { tokenSize: k } = this.config;
    const G = this.groups;
    const step = sharedStep(steps);
    const rows = step === undefined ? steps : [step];
    const m = rows.length;
    const emb = this.stepEmbeddings(rows);
    const h = tf.add(tf.matMul(emb, this.fc1Weight), this.fc1Bias);
    const hAct = tf.mul(h, tf.sigmoid(h)); // SiLU
    const hG = tf.transpose(tf.reshape(hAct, [m, G, this.config.stepHidden ?? k]), [1, 0, 2]); // [G, m, h]
    const timeAll = tf.add(tf.matMul(hG, this.fc2Weight as tf.Tensor3D), this.fc2Bias); // [G, m, k]
    return splitGroups(tf.reshape(timeAll, [G, m, k, 1]), 0);
  }

  /**
   * The sinusoidal embeddings of `steps`, [m, 256]: rows of a table of every step up to the largest seen so far,
   * kept on the backend and gathered there (the table is constant; only its row indices change per call).
   */
  private stepEmbeddings(steps: ArrayLike<number>): tf.Tensor2D {
    let top = 0;
    for (let i = 0; i < steps.length; i++) top = Math.max(top, steps[i]!);
    if (!Number.isInteger(top) || top < 0) throw new Error(`steps must be non-negative integers, got ${top}`);
    if (!this.stepTable || this.stepTable.shape[0] <= top) {
      this.stepTable?.dispose();
      const size = Math.max(top + 1, STEP_TABLE_ROWS);
      const table = timestepEmbedding(Array.from({ length: size }, (_, i) => i));
      this.stepTable = tf.keep(tf.tensor2d(table, [size, TIME_EMBEDDING_SIZE]));
    }
    return tf.gather(this.stepTable, tf.tensor1d(Int32Array.from(steps), 'int32')) as tf.Tensor2D;
  }

  /** The variables an optimizer updates (BatchNorm running statistics excluded). */
  trainableVariables(): tf.Variable[] {
    const vars = [this.condWeight, this.condBias, this.fc1Weight, this.fc1Bias, this.fc2Weight, this.fc2Bias];
    for (const layer of this.convs) {
      vars.push(layer.weight);
      if (layer.bias) vars.push(layer.bias);
      if (layer.bn) vars.push(layer.bn.gamma, layer.bn.beta);
    }
    return vars;
  }

  private namedVariables(): [string, tf.Variable][] {
    const out: [string, tf.Variable][] = [
      ['cond.weight', this.condWeight],
      ['cond.bias', this.condBias],
      ['time.fc1.weight', this.fc1Weight],
      ['time.fc1.bias', this.fc1Bias],
      ['time.fc2.weight', this.fc2Weight],
      ['time.fc2.bias', this.fc2Bias],
    ];
    this.convs.forEach((layer, i) => {
      out.push([`convs.${i}.weight`, layer.weight]);
      if (layer.bias) out.push([`convs.${i}.bias`, layer.bias]);
      if (layer.bn) {
        out.push(
          [`convs.${i}.bn.weight`, layer.bn.gamma],
          [`convs.${i}.bn.bias`, layer.bn.beta],
          [`convs.${i}.bn.running_mean`, layer.bn.runningMean],
          [`convs.${i}.bn.running_var`, layer.bn.runningVar],
        );
      }
    });
    return out;
  }

  /** Every weight and BatchNorm running statistic, by name, as F32 copies (conv weights in tfjs layout [kernel, in, out]). */
  weights(): Map<string, TensorEntry> {
    const out = new Map<string, TensorEntry>();
    for (const [name, v] of this.namedVariables()) {
      out.set(name, {
        dtype: 'F32',
        shape: [...v.shape],
        data: Float32Array.from(v.dataSync() as Float32Array),
      });
    }
    return out;
  }

  /** Loads what {@link weights} returned (bit-exact). Every name must be present with the same shape. */
  loadWeights(weights: Map<string, TensorEntry>): void {
    const named = this.namedVariables();
    for (const [name, v] of named) {
      const entry = weights.get(name);
      if (!entry) throw new Error(`decoder weights: missing "${name}"`);
      if (entry.shape.length !== v.shape.length || entry.shape.some((s, i) => s !== v.shape[i])) {
        throw new Error(`decoder weights: "${name}" has shape [${entry.shape}], expected [${v.shape}]`);
      }
      if (!(entry.data instanceof Float32Array)) throw new Error(`decoder weights: "${name}" must be F32`);
    }
    for (const [name, v] of named) {
      const entry = weights.get(name)!;
      tf.tidy(() => v.assign(tf.tensor(entry.data as Float32Array, v.shape)));
    }
  }

  /** Number of trainable parameters. */
  parameterCount(): number {
    return this.trainableVariables().reduce((s, v) => s + v.size, 0);
  }

  dispose(): void {
    this.stepTable?.dispose();
    this.stepTable = undefined;
    for (const [, v] of this.namedVariables()) v.dispose();
  }
}
