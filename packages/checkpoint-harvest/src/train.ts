import { numel, type ProgressSink, Rng, type StateDict, silentProgress, tf } from '@rpg/core';
import { InputError } from '@rpg/core/input-error';
import type { Dataset } from './data.js';
import { type HarvestConfig, type HarvestConfigInput, harvestConfigSchema } from './harvest-config.js';
import {
  describeSpec,
  forward,
  imageShapeOf,
  initStateDict,
  inputSize,
  type NetworkSpec,
  numClassesOf,
  parameterLayout,
  percentCorrect,
  predictWithTensors,
  trainableNames,
} from './networks.js';

export interface HarvestOptions extends HarvestConfigInput {
  dataset: Dataset;
  progress?: ProgressSink;
  /**
   * Start from these tensors instead of the seeded initialisation (fine-tuning); tensors it lacks keep their
   * seeded values. Each must have the network's shape for that name.
   */
  init?: StateDict;
}

export interface HarvestCheckpoint {
  stateDict: StateDict;
  /** Eval-mode accuracy on `dataset.test`, percent. */
  testAccuracy: number;
  /** Optimiser steps taken when it was saved (= its BatchNorm `num_batches_tracked`). */
  step: number;
}

export interface EpochRecord {
  /** 1-based; the collection epoch is `epochs + 1`. */
  epoch: number;
  /** LR of the epoch's last step. */
  lr: number;
  /** Mean training loss over the epoch's steps. */
  loss: number;
  /** Test accuracy at the epoch's end, percent. */
  testAccuracy: number;
}

export interface HarvestResult {
  checkpoints: HarvestCheckpoint[];
  /** Test accuracy of the network at the end of the run (= the last checkpoint's). */
  finalAccuracy: number;
  /** Test accuracy at the end of the training epochs, before the collection epoch. */
  convergedAccuracy: number;
  seconds: number;
  history: EpochRecord[];
  /** The config with defaults filled in. */
  config: HarvestConfig;
  stepsPerEpoch: number;
}

export class HarvestError extends InputError {
  override readonly name = 'HarvestError';
}

/** The default final LR of a config (see `finalLr`). */
export function finalLrOf(config: Pick<HarvestConfig, 'lr' | 'finalLr' | 'schedule'>): number {
  if (config.schedule === 'constant') return config.lr;
  return config.finalLr ?? config.lr / 10;
}

/** LR of training step `t` (0-based) of `total` steps; the collection epoch runs at `finalLrOf(config)`. */
export function learningRateAt(
  config: Pick<HarvestConfig, 'lr' | 'finalLr' | 'schedule'>,
  t: number,
  total: number,
): number {
  const { lr } = config;
  const final = finalLrOf(config);
  if (t >= total) return final;
  switch (config.schedule) {
    case 'constant':
      return lr;
    case 'cosine':
      return final + (lr - final) * 0.5 * (1 + Math.cos((Math.PI * t) / total));
    case 'step': {
      const factor = Math.sqrt(final / lr);
      if (t < 0.5 * total) return lr;
      if (t < 0.75 * total) return lr * factor;
      return final;
    }
  }
}

/** 1-based step counts within an epoch of `steps` steps after which the `count` checkpoints are saved. */
export function checkpointSteps(steps: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.floor(((i + 1) * steps) / count));
}

function checkDataset(spec: NetworkSpec, dataset: Dataset): void {
  const need = inputSize(spec);
  const have = numel(dataset.inputShape);
  if (need !== have) {
    throw new HarvestError(
      `${describeSpec(spec)} takes ${need} inputs but data set "${dataset.name}" has inputShape [${dataset.inputShape}] (${have})`,
    );
  }
  const image = imageShapeOf(spec);
  if (image && dataset.inputShape.join(',') !== image.join(',')) {
    throw new HarvestError(
      `${describeSpec(spec)} takes inputShape [${image}] but data set "${dataset.name}" has [${dataset.inputShape}]`,
    );
  }
  if (numClassesOf(spec) !== dataset.numClasses) {
    throw new HarvestError(
      `${describeSpec(spec)} has ${numClassesOf(spec)} outputs but data set "${dataset.name}" has ${dataset.numClasses} classes`,
    );
  }
  for (const [which, split] of [
    ['train', dataset.train],
    ['test', dataset.test],
  ] as const) {
    if (split.x.length !== split.n * have || split.y.length !== split.n) {
      throw new HarvestError(`data set "${dataset.name}": ${which} split sizes do not match n=${split.n}`);
    }
  }
}

/** Overwrites `init`'s tensors with the same-named ones of `from` (shapes must match). */
function takeInitialValues(init: StateDict, from: StateDict, what: string): void {
  for (const [name, e] of from) {
    const own = init.get(name);
    if (!own) throw new HarvestError(`init: ${what} has no tensor "${name}"`);
    if (own.shape.join(',') !== e.shape.join(',') || own.dtype !== e.dtype) {
      throw new HarvestError(
        `init: "${name}" is ${e.dtype} [${e.shape}] but ${what} needs ${own.dtype} [${own.shape}]`,
      );
    }
    init.set(name, { dtype: e.dtype, shape: [...e.shape], data: e.data.slice() } as typeof e);
  }
}

interface OptimizerHandle {
  optimizer: tf.Optimizer;
  setLr(lr: number): void;
}

function makeOptimizer(config: HarvestConfig, lr: number): OptimizerHandle {
  if (config.optimizer === 'adam') {
    // PyTorch defaults (tfjs's epsilon default is 1e-7).
    const optimizer = tf.train.adam(lr, 0.9, 0.999, 1e-8);
    return {
      optimizer,
      // AdamOptimizer reads `learningRate` on every applyGradients; the field is only `protected` in the typings.
      setLr: (v) => {
        (optimizer as unknown as { learningRate: number }).learningRate = v;
      },
    };
  }
  const optimizer = config.momentum > 0 ? tf.train.momentum(lr, config.momentum) : tf.train.sgd(lr);
  return { optimizer, setLr: (v) => optimizer.setLearningRate(v) };
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * One harvest run of the RPG protocol: train `epochs` epochs with the LR decaying from `lr` to the final LR,
 * then one more epoch at the final LR, saving `checkpoints` state dicts evenly across it (after steps
 * ⌊(i+1)·S/C⌋ of its S steps). Deterministic from `seed` (init and shuffling use `Rng`; CPU ops are
 * deterministic). The last partial batch of an epoch is kept (PyTorch `drop_last=False`).
 */
export async function harvestRun(options: HarvestOptions): Promise<HarvestResult> {
  const { dataset, progress = silentProgress, init: initFrom, ...rest } = options;
  const parsed = harvestConfigSchema.safeParse(rest);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HarvestError(
      `invalid harvest option "${issue?.path.join('.') || '(root)'}": ${issue?.message ?? 'invalid'}`,
    );
  }
  const config = parsed.data;
  const spec = config.network;
  checkDataset(spec, dataset);

  const { train, test } = dataset;
  const stepsPerEpoch = Math.ceil(train.n / config.batchSize);
  if (config.checkpoints > stepsPerEpoch) {
    throw new HarvestError(
      `${config.checkpoints} checkpoints do not fit in one epoch of ${stepsPerEpoch} steps ` +
        `(${train.n} examples, batch ${config.batchSize}); lower --checkpoints or the batch size`,
    );
  }
  const trainingSteps = config.epochs * stepsPerEpoch;
  const totalSteps = trainingSteps + stepsPerEpoch;
  const saveAfter = new Set(checkpointSteps(stepsPerEpoch, config.checkpoints));

  const started = performance.now();
  const rng = new Rng(config.seed);
  const init = initStateDict(spec, rng.fork('init'));
  const shuffleRng = rng.fork('shuffle');
  const layout = parameterLayout(spec);
  const trainable = new Set(trainableNames(spec));
  if (initFrom) takeInitialValues(init, initFrom, describeSpec(spec));
  for (const name of config.frozen ?? []) {
    if (!trainable.delete(name)) {
      throw new HarvestError(
        `frozen: "${name}" is not a trainable tensor of ${describeSpec(spec)} (${[...trainableNames(spec)].join(', ')})`,
      );
    }
  }
  if (trainable.size === 0) throw new HarvestError('frozen: every tensor is frozen; nothing would train');
  const dim = inputSize(spec);
  const classes = numClassesOf(spec);

  // Variables keep PyTorch layouts, so a snapshot is a plain copy. Auto-generated variable names avoid
  // clashes between runs; `byVarName` maps them back.
  const params = new Map<string, tf.Variable>();
  const byVarName = new Map<string, string>();
  for (const e of layout) {
    if (e.dtype !== 'F32') continue;
    const entry = init.get(e.name)!;
    const initial = tf.tensor(entry.data as Float32Array, e.shape);
    const v = tf.variable(initial, trainable.has(e.name));
    initial.dispose(); // the variable holds its own reference to the data
    params.set(e.name, v);
    byVarName.set(v.name, e.name);
  }
  const trainVars = [...params.entries()].filter(([name]) => trainable.has(name)).map(([, v]) => v);
  const tensorMap = params as Map<string, tf.Tensor>;
  const xAll = tf.tensor2d(train.x, [train.n, dim]);
  const yAll = tf.tidy(() => tf.oneHot(tf.tensor1d(train.y, 'int32'), classes).toFloat());
  const opt = makeOptimizer(config, learningRateAt(config, 0, trainingSteps));

  let step = 0; // optimiser steps so far (= num_batches_tracked)
  const checkpoints: HarvestCheckpoint[] = [];
  const history: EpochRecord[] = [];
  const evaluate = () =>
    percentCorrect(predictWithTensors(spec, tensorMap, test.x, test.n, config.evalBatchSize), test.y);
  const snapshot = (): StateDict => {
    const sd: StateDict = new Map();
    for (const e of layout) {
      if (e.dtype === 'I64')
        sd.set(e.name, { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(step)) });
      else
        sd.set(e.name, {
          dtype: 'F32',
          shape: [...e.shape],
          data: new Float32Array(params.get(e.name)!.dataSync()),
        });
    }
    return sd;
  };

  const trainStep = (batch: Int32Array): number => {
    let stats: Map<string, tf.Tensor> = new Map();
    const lossValue = tf.tidy(() => {
      const idx = tf.tensor1d(batch, 'int32');
      const { value, grads } = tf.variableGrads(() => {
        const xb = tf.gather(xAll, idx);
        const yb = tf.gather(yAll, idx);
        const out = forward(spec, tensorMap, xb, 'train');
        stats = out.runningStats;
        return tf.losses.softmaxCrossEntropy(yb, out.logits) as tf.Scalar;
      }, trainVars);
      if (config.weightDecay > 0) {
        for (const [varName, g] of Object.entries(grads)) {
          const p = params.get(byVarName.get(varName)!)!;
          grads[varName] = tf.add(g, tf.mul(p, config.weightDecay));
        }
      }
      opt.optimizer.applyGradients(grads);
      return value;
    });
    for (const [name, t] of stats) {
      params.get(name)!.assign(t);
      t.dispose();
    }
    const loss = lossValue.dataSync()[0]!;
    lossValue.dispose();
    return loss;
  };

  try {
    // With no training epochs the "converged" network is the initial one.
    let convergedAccuracy = config.epochs === 0 ? evaluate() : Number.NaN;
    const order = Array.from({ length: train.n }, (_, i) => i);
    for (let epoch = 1; epoch <= config.epochs + 1; epoch++) {
      const collecting = epoch === config.epochs + 1;
      shuffleRng.shuffle(order);
      let lossSum = 0;
      let lr = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        lr = learningRateAt(config, step, trainingSteps);
        opt.setLr(lr);
        const batch = Int32Array.from(order.slice(s * config.batchSize, (s + 1) * config.batchSize));
        const loss = trainStep(batch);
        if (!Number.isFinite(loss)) {
          throw new HarvestError(
            `training diverged: loss ${loss} at step ${step + 1} (epoch ${epoch}); lower the LR`,
          );
        }
        lossSum += loss;
        step++;
        if (collecting && saveAfter.has(s + 1)) {
          checkpoints.push({ stateDict: snapshot(), testAccuracy: evaluate(), step });
        }
        progress({
          stage: 'harvest',
          step,
          total: totalSteps,
          loss,
          note: collecting
            ? `collecting ${checkpoints.length}/${config.checkpoints}`
            : `epoch ${epoch}/${config.epochs + 1}`,
        });
        await yieldToEventLoop();
      }
      const testAccuracy = collecting ? checkpoints[checkpoints.length - 1]!.testAccuracy : evaluate();
      history.push({ epoch, lr, loss: lossSum / stepsPerEpoch, testAccuracy });
      if (epoch === config.epochs) convergedAccuracy = testAccuracy;
    }
    return {
      checkpoints,
      finalAccuracy: checkpoints[checkpoints.length - 1]!.testAccuracy,
      convergedAccuracy,
      seconds: (performance.now() - started) / 1000,
      history,
      config,
      stepsPerEpoch,
    };
  } finally {
    opt.optimizer.dispose();
    for (const v of params.values()) v.dispose();
    xAll.dispose();
    yAll.dispose();
  }
}
