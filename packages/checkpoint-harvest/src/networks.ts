import { numel, type Rng, type StateDict, type TensorEntry, tf } from '@rpg/core';
import { z } from 'zod';
import type { Split } from './data.js';

// ---------------------------------------------------------------------------------------------
// Specs
// ---------------------------------------------------------------------------------------------

const positiveInt = z.number().int().positive();

/** One conv block: Conv2d(in → out, kernel, stride, padding) → BatchNorm2d → ReLU → (MaxPool2d(2) if `pool`). */
export const convLayerSchema = z
  .object({
    out: positiveInt,
    kernel: positiveInt,
    /** Default 1. */
    stride: positiveInt.optional(),
    /** Zero padding on every side; default `floor(kernel / 2)` (keeps the size for odd kernels at stride 1). */
    padding: z.number().int().nonnegative().optional(),
    /** 2×2 max pool with stride 2 after the ReLU (PyTorch `MaxPool2d(2)`, floor mode). Default false. */
    pool: z.boolean().optional(),
    /** Conv bias; default false (the BatchNorm shift makes it redundant). */
    bias: z.boolean().optional(),
  })
  .strict();
export type ConvLayerSpec = z.infer<typeof convLayerSchema>;

/** `nn.Sequential(Linear(s0, s1), ReLU, Linear(s1, s2), ReLU, …, Linear)`: state names `0.weight, 0.bias, 2.weight, …`. */
export const mlpSpecSchema = z
  .object({
    type: z.literal('mlp'),
    /** Layer widths, input first, number of classes last. */
    sizes: z.array(positiveInt).min(2),
  })
  .strict();

/**
 * Conv blocks (see {@link convLayerSchema}) → global average pool → Linear(last out → numClasses). State names
 * (1-based): `conv1.weight`, [`conv1.bias`], `bn1.weight`, `bn1.bias`, `bn1.running_mean`, `bn1.running_var`,
 * `bn1.num_batches_tracked`, `conv2.weight`, …, `fc.weight`, `fc.bias` — what a PyTorch module with attributes
 * conv1, bn1, conv2, bn2, …, fc registered in that order gives.
 */
export const cnnSpecSchema = z
  .object({
    type: z.literal('cnn'),
    /** `[height, width, channels]` of one input (tensors are NHWC inside tfjs). */
    inputShape: z.tuple([positiveInt, positiveInt, positiveInt]),
    conv: z.array(convLayerSchema).min(1),
    numClasses: z.number().int().min(2),
  })
  .strict();

export const networkSpecSchema = z
  .discriminatedUnion('type', [mlpSpecSchema, cnnSpecSchema])
  .superRefine((spec, ctx) => {
    if (spec.type !== 'cnn') return;
    let [h, w] = spec.inputShape;
    spec.conv.forEach((layer, i) => {
      const p = layer.padding ?? Math.floor(layer.kernel / 2);
      const s = layer.stride ?? 1;
      h = Math.floor((h + 2 * p - layer.kernel) / s) + 1;
      w = Math.floor((w + 2 * p - layer.kernel) / s) + 1;
      if (layer.pool) {
        h = Math.floor(h / 2);
        w = Math.floor(w / 2);
      }
      if (h < 1 || w < 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['conv', i],
          message: `conv block ${i + 1} shrinks the feature map to ${h}×${w}; use a smaller kernel/stride or fewer pools`,
        });
      }
    });
  });

export type MlpSpec = z.infer<typeof mlpSpecSchema>;
export type CnnSpec = z.infer<typeof cnnSpecSchema>;
export type NetworkSpec = z.infer<typeof networkSpecSchema>;

/** MNIST MLP 784-64-10: 50,890 parameters (784·64 + 64 + 64·10 + 10). */
export const MLP_MNIST: NetworkSpec = { type: 'mlp', sizes: [784, 64, 10] };

/**
 * CNN(s) for MNIST, 2,906 trainable parameters (paper's CIFAR CNN(s): 2,864): conv 1→8 (72) + BN (16), pool;
 * conv 8→12 (864) + BN (24), pool; conv 12→16 (1,728) + BN (32); GAP; fc 16→10 (170). Plus 72 BN running-stat
 * floats and 3 `num_batches_tracked`.
 */
export const CNN_S_MNIST: NetworkSpec = {
  type: 'cnn',
  inputShape: [28, 28, 1],
  conv: [
    { out: 8, kernel: 3, pool: true },
    { out: 12, kernel: 3, pool: true },
    { out: 16, kernel: 3 },
  ],
  numClasses: 10,
};

/**
 * CNN(m) for MNIST, 10,986 trainable parameters (paper's CIFAR CNN(m): 10,853): conv 1→16 (144) + BN (32), pool;
 * conv 16→24 (3,456) + BN (48), pool; conv 24→32 (6,912) + BN (64); GAP; fc 32→10 (330). Plus 144 BN
 * running-stat floats and 3 `num_batches_tracked`.
 */
export const CNN_M_MNIST: NetworkSpec = {
  type: 'cnn',
  inputShape: [28, 28, 1],
  conv: [
    { out: 16, kernel: 3, pool: true },
    { out: 24, kernel: 3, pool: true },
    { out: 32, kernel: 3 },
  ],
  numClasses: 10,
};

/** Named presets (the CLI's `--network` values). */
export const NETWORK_PRESETS: Record<'mlp' | 'cnn-s' | 'cnn-m', NetworkSpec> = {
  mlp: MLP_MNIST,
  'cnn-s': CNN_S_MNIST,
  'cnn-m': CNN_M_MNIST,
};

/** Validates an untrusted spec; the error names the bad field. */
export function parseNetworkSpec(spec: unknown): NetworkSpec {
  const result = networkSpecSchema.safeParse(spec);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new Error(
    `invalid network spec at "${issue?.path.join('.') || '(root)'}": ${issue?.message ?? 'invalid'}`,
  );
}

/** Number of input values per example (`prod(inputShape)`). */
export function inputSize(spec: NetworkSpec): number {
  return spec.type === 'mlp' ? spec.sizes[0]! : numel(spec.inputShape);
}

export function numClassesOf(spec: NetworkSpec): number {
  return spec.type === 'mlp' ? spec.sizes[spec.sizes.length - 1]! : spec.numClasses;
}

// ---------------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------------

export interface ParameterInfo {
  name: string;
  shape: number[];
  dtype: 'F32' | 'I64';
}

type Role = 'weight' | 'bias' | 'bn-weight' | 'bn-bias' | 'bn-mean' | 'bn-var' | 'bn-count';

interface LayoutEntry extends ParameterInfo {
  role: Role;
  /** Fan-in of the layer the tensor belongs to (for weight/bias init). */
  fanIn: number;
}

function convGeometry(layer: ConvLayerSpec): { stride: number; padding: number } {
  return { stride: layer.stride ?? 1, padding: layer.padding ?? Math.floor(layer.kernel / 2) };
}

function fullLayout(spec: NetworkSpec): LayoutEntry[] {
  const out: LayoutEntry[] = [];
  const f32 = (name: string, shape: number[], role: Role, fanIn: number) =>
    out.push({ name, shape, dtype: 'F32', role, fanIn });
  if (spec.type === 'mlp') {
    for (let i = 0; i + 1 < spec.sizes.length; i++) {
      const fanIn = spec.sizes[i]!;
      const width = spec.sizes[i + 1]!;
      f32(`${2 * i}.weight`, [width, fanIn], 'weight', fanIn);
      f32(`${2 * i}.bias`, [width], 'bias', fanIn);
    }
    return out;
  }
  let channels = spec.inputShape[2];
  spec.conv.forEach((layer, i) => {
    const k = layer.kernel;
    const fanIn = channels * k * k;
    f32(`conv${i + 1}.weight`, [layer.out, channels, k, k], 'weight', fanIn);
    if (layer.bias) f32(`conv${i + 1}.bias`, [layer.out], 'bias', fanIn);
    const bn = `bn${i + 1}`;
    f32(`${bn}.weight`, [layer.out], 'bn-weight', 0);
    f32(`${bn}.bias`, [layer.out], 'bn-bias', 0);
    f32(`${bn}.running_mean`, [layer.out], 'bn-mean', 0);
    f32(`${bn}.running_var`, [layer.out], 'bn-var', 0);
    out.push({ name: `${bn}.num_batches_tracked`, shape: [], dtype: 'I64', role: 'bn-count', fanIn: 0 });
    channels = layer.out;
  });
  f32('fc.weight', [spec.numClasses, channels], 'weight', channels);
  f32('fc.bias', [spec.numClasses], 'bias', channels);
  return out;
}

/** Every state-dict entry of the network, in PyTorch's `state_dict()` order, with PyTorch names and layouts. */
export function parameterLayout(spec: NetworkSpec): ParameterInfo[] {
  return fullLayout(spec).map(({ name, shape, dtype }) => ({ name, shape: [...shape], dtype }));
}

/** Names of the tensors the optimiser trains (PyTorch's `parameters()`): not running stats, not counters. */
export function trainableNames(spec: NetworkSpec): string[] {
  return fullLayout(spec)
    .filter((e) => e.role !== 'bn-mean' && e.role !== 'bn-var' && e.role !== 'bn-count')
    .map((e) => e.name);
}

/** `sum(p.numel() for p in model.parameters())`: weights, biases and BN affine parameters. */
export function countParameters(spec: NetworkSpec): number {
  const trainable = new Set(trainableNames(spec));
  return fullLayout(spec)
    .filter((e) => trainable.has(e.name))
    .reduce((sum, e) => sum + numel(e.shape), 0);
}

/**
 * PyTorch's default initialisation: Linear and Conv2d weights and biases uniform in ±1/√fan_in (what
 * `kaiming_uniform_(a=√5)` gives for the weight), BatchNorm weight 1, bias 0, running mean 0, running var 1,
 * `num_batches_tracked` 0. Draws from `rng` in layout order.
 */
export function initStateDict(spec: NetworkSpec, rng: Rng): StateDict {
  const sd: StateDict = new Map();
  for (const e of fullLayout(spec)) {
    const n = numel(e.shape);
    let entry: TensorEntry;
    switch (e.role) {
      case 'weight':
      case 'bias': {
        const bound = 1 / Math.sqrt(e.fanIn);
        entry = { dtype: 'F32', shape: [...e.shape], data: rng.uniformArray(n, -bound, bound) };
        break;
      }
      case 'bn-weight':
      case 'bn-var':
        entry = { dtype: 'F32', shape: [...e.shape], data: new Float32Array(n).fill(1) };
        break;
      case 'bn-bias':
      case 'bn-mean':
        entry = { dtype: 'F32', shape: [...e.shape], data: new Float32Array(n) };
        break;
      case 'bn-count':
        entry = { dtype: 'I64', shape: [], data: new BigInt64Array(1) };
        break;
    }
    sd.set(e.name, entry);
  }
  return sd;
}

/**
 * Checks that `sd` has every tensor of the network's layout with the right shape (extra entries are an
 * error too) and returns the float tensors as tfjs tensors (caller disposes). Counters are skipped.
 */
export function stateDictToTensors(spec: NetworkSpec, sd: StateDict): Map<string, tf.Tensor> {
  const layout = fullLayout(spec);
  const problems: string[] = [];
  for (const e of layout) {
    const t = sd.get(e.name);
    if (!t) problems.push(`missing "${e.name}"`);
    else if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      problems.push(`"${e.name}" has shape [${t.shape}], the network needs [${e.shape}]`);
    } else if (e.dtype === 'F32' && !(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
      problems.push(`"${e.name}" is ${t.dtype}, the network needs a float tensor`);
    }
  }
  const known = new Set(layout.map((e) => e.name));
  for (const name of sd.keys()) if (!known.has(name)) problems.push(`unexpected "${name}"`);
  if (problems.length > 0) {
    throw new Error(`state dict does not fit the ${describeSpec(spec)}: ${problems.slice(0, 10).join('; ')}`);
  }
  const out = new Map<string, tf.Tensor>();
  for (const e of layout) {
    if (e.dtype !== 'F32') continue;
    const t = sd.get(e.name)!;
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as Float64Array);
    out.set(e.name, tf.tensor(data, e.shape, 'float32'));
  }
  return out;
}

/** A short human description, e.g. `mlp 784-64-10` or `cnn 28x28x1 conv 8,12,16 → 10`. */
export function describeSpec(spec: NetworkSpec): string {
  if (spec.type === 'mlp') return `mlp ${spec.sizes.join('-')}`;
  return `cnn ${spec.inputShape.join('x')} conv ${spec.conv.map((c) => c.out).join(',')} → ${spec.numClasses}`;
}

// ---------------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------------

/** PyTorch BatchNorm defaults. */
export const BN_MOMENTUM = 0.1;
export const BN_EPS = 1e-5;

export interface ForwardResult {
  logits: tf.Tensor2D;
  /** 'train' mode only: new `running_mean` / `running_var` by name (PyTorch update rule); empty in 'eval'. */
  runningStats: Map<string, tf.Tensor>;
}

function param(params: Map<string, tf.Tensor>, name: string): tf.Tensor {
  const t = params.get(name);
  if (!t) throw new Error(`forward: parameter "${name}" is missing`);
  return t;
}

function linear(h: tf.Tensor2D, params: Map<string, tf.Tensor>, prefix: string): tf.Tensor2D {
  // PyTorch stores [out, in]; x·Wᵀ without materialising the transpose.
  const y = tf.matMul(h, param(params, `${prefix}.weight`) as tf.Tensor2D, false, true);
  return tf.add(y, param(params, `${prefix}.bias`));
}

/** Conv2d with PyTorch padding semantics (zero padding `p` on every side, then a 'valid' conv). */
function conv(h: tf.Tensor4D, kernel: tf.Tensor4D, layer: ConvLayerSpec): tf.Tensor4D {
  const { stride, padding } = convGeometry(layer);
  // For stride 1 and an odd kernel with p = (k − 1)/2, TF's 'same' is exactly that padding, without a Pad op.
  if (stride === 1 && layer.kernel % 2 === 1 && padding === (layer.kernel - 1) / 2) {
    return tf.conv2d(h, kernel, 1, 'same');
  }
  if (padding > 0) {
    h = tf.pad(h, [
      [0, 0],
      [padding, padding],
      [padding, padding],
      [0, 0],
    ]);
  }
  return tf.conv2d(h, kernel, stride, 'valid');
}

/**
 * Training-mode BatchNorm over N, H, W of an NHWC tensor: `y = γ·(x − μ_B)/√(σ²_B + ε) + β` with the batch
 * mean and biased batch variance. A custom gradient (the closed form
 * `dx = γ/√(σ²_B + ε) · (dy − mean(dy) − x̂·mean(dy·x̂))`) needs far fewer full-size ops than autodiff
 * through the composite. Also returns PyTorch's running-stat update, `tf.keep`-ed (the custom op's forward
 * runs in its own tidy), without gradient.
 */
function batchNormTrain(
  x: tf.Tensor4D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  runningMean: tf.Tensor,
  runningVar: tf.Tensor,
): { y: tf.Tensor4D; runningMean: tf.Tensor; runningVar: tf.Tensor } {
  let newMean: tf.Tensor | undefined;
  let newVar: tf.Tensor | undefined;
  const [n, height, width] = x.shape;
  const count = n * height * width;
  const unbiased = count > 1 ? count / (count - 1) : 1;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, g, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const { mean, variance } = tf.moments(xIn, [0, 1, 2]);
    newMean = tf.keep(tf.add(tf.mul(runningMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
    newVar = tf.keep(tf.add(tf.mul(runningVar, 1 - BN_MOMENTUM), tf.mul(variance, BN_MOMENTUM * unbiased)));
    const invStd = tf.rsqrt(tf.add(variance, BN_EPS));
    const xHat = tf.mul(tf.sub(xIn, mean), invStd);
    save([xHat, invStd, g]);
    return {
      value: tf.add(tf.mul(xHat, g), b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xHatS, invStdS, gS] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dBeta = tf.sum(dy, [0, 1, 2]);
        const dGamma = tf.sum(tf.mul(dy, xHatS), [0, 1, 2]);
        const centred = tf.sub(dy, tf.div(dBeta, count));
        const dx = tf.mul(tf.sub(centred, tf.mul(xHatS, tf.div(dGamma, count))), tf.mul(gS, invStdS));
        return [dx, dGamma, dBeta];
      },
    };
  });
  const y = op(x, gamma, beta) as tf.Tensor4D;
  return { y, runningMean: newMean!, runningVar: newVar! };
}

/**
 * The network as a pure function of its parameters (PyTorch layouts, converted here: Linear `[out, in]` is
 * used transposed, Conv2d `[out, in, kh, kw]` is transposed to tfjs's `[kh, kw, in, out]`, input NHWC).
 * `x` is `[n, ...inputShape]` or `[n, prod(inputShape)]`.
 *
 * 'train': BatchNorm normalises with the batch mean and biased batch variance, and `runningStats` holds
 * `(1 − 0.1)·running + 0.1·batch` for the mean and, for the variance, the unbiased batch variance
 * (×m/(m−1), m = N·H·W), as PyTorch does; those tensors are returned `tf.keep`-ed (they survive `tf.tidy`
 * and `tf.variableGrads`), so the caller must dispose them. 'eval': BatchNorm uses the running statistics.
 * Call it inside `tf.tidy` / `tf.variableGrads`.
 */
export function forward(
  spec: NetworkSpec,
  params: Map<string, tf.Tensor>,
  x: tf.Tensor,
  mode: 'train' | 'eval',
): ForwardResult {
  const runningStats = new Map<string, tf.Tensor>();
  if (spec.type === 'mlp') {
    let h = tf.reshape(x, [-1, spec.sizes[0]!]) as tf.Tensor2D;
    const layers = spec.sizes.length - 1;
    for (let i = 0; i < layers; i++) {
      h = linear(h, params, `${2 * i}`);
      if (i < layers - 1) h = tf.relu(h);
    }
    return { logits: h, runningStats };
  }

  let h = tf.reshape(x, [-1, ...spec.inputShape]) as tf.Tensor4D;
  spec.conv.forEach((layer, i) => {
    const bn = `bn${i + 1}`;
    const gamma = param(params, `${bn}.weight`);
    const beta = param(params, `${bn}.bias`);
    const runningMean = param(params, `${bn}.running_mean`);
    const runningVar = param(params, `${bn}.running_var`);
    let kernel = tf.transpose(param(params, `conv${i + 1}.weight`), [2, 3, 1, 0]) as tf.Tensor4D;
    let bias = layer.bias ? param(params, `conv${i + 1}.bias`) : undefined;
    if (mode === 'eval') {
      // Fold BatchNorm into the conv: W' = W·s, b' = (b − μ)·s + β with s = γ/√(σ² + ε) (one op fewer on
      // the big activations; the same function as conv → BN up to float round-off).
      const scale = tf.mul(gamma, tf.rsqrt(tf.add(runningVar, BN_EPS)));
      kernel = tf.mul(kernel, scale);
      bias = tf.add(tf.mul(bias ? tf.sub(bias, runningMean) : tf.neg(runningMean), scale), beta);
    }
    h = conv(h, kernel, layer);
    if (bias) h = tf.add(h, bias);
    if (mode === 'train') {
      const out = batchNormTrain(h, gamma, beta, runningMean, runningVar);
      h = out.y;
      runningStats.set(`${bn}.running_mean`, out.runningMean);
      runningStats.set(`${bn}.running_var`, out.runningVar);
    }
    // ReLU and max-pool commute (ReLU is monotone), so pool first: the ReLU then touches ¼ of the values.
    if (layer.pool) h = tf.maxPool(h, 2, 2, 'valid');
    h = tf.relu(h);
  });
  const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
  return { logits: linear(pooled, params, 'fc'), runningStats };
}

// ---------------------------------------------------------------------------------------------
// Inference
// ---------------------------------------------------------------------------------------------

function checkInputs(spec: NetworkSpec, x: Float32Array, n: number, batchSize: number): number {
  const dim = inputSize(spec);
  if (!Number.isInteger(n) || n < 0) throw new Error(`n must be a non-negative integer, got ${n}`);
  if (x.length !== n * dim) {
    throw new Error(
      `x has ${x.length} values, expected n=${n} × ${dim} inputs (${describeSpec(spec)}) = ${n * dim}`,
    );
  }
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  return dim;
}

/** Eval-mode logits `[n, numClasses]` (row-major) from already uploaded parameters. */
export function logitsWithTensors(
  spec: NetworkSpec,
  tensors: Map<string, tf.Tensor>,
  x: Float32Array,
  n: number,
  batchSize = 1000,
): Float32Array {
  const dim = checkInputs(spec, x, n, batchSize);
  const classes = numClassesOf(spec);
  const out = new Float32Array(n * classes);
  for (let start = 0; start < n; start += batchSize) {
    const b = Math.min(batchSize, n - start);
    const logits = tf.tidy(() => {
      const input = tf.tensor2d(x.subarray(start * dim, (start + b) * dim), [b, dim]);
      return forward(spec, tensors, input, 'eval').logits;
    });
    out.set(logits.dataSync() as Float32Array, start * classes);
    logits.dispose();
  }
  return out;
}

/** Eval-mode predicted classes from already uploaded parameters. */
export function predictWithTensors(
  spec: NetworkSpec,
  tensors: Map<string, tf.Tensor>,
  x: Float32Array,
  n: number,
  batchSize = 1000,
): Int32Array {
  const dim = checkInputs(spec, x, n, batchSize);
  const out = new Int32Array(n);
  for (let start = 0; start < n; start += batchSize) {
    const b = Math.min(batchSize, n - start);
    const classes = tf.tidy(() => {
      const input = tf.tensor2d(x.subarray(start * dim, (start + b) * dim), [b, dim]);
      return tf.argMax(forward(spec, tensors, input, 'eval').logits, 1);
    });
    out.set(classes.dataSync() as Int32Array, start);
    classes.dispose();
  }
  return out;
}

function withTensors<T>(spec: NetworkSpec, params: StateDict, use: (t: Map<string, tf.Tensor>) => T): T {
  const tensors = stateDictToTensors(spec, params);
  try {
    return use(tensors);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** Eval-mode logits, `[n, numClasses]` row-major. `x` is `[n, ...inputShape]` row-major. */
export function predictLogits(
  spec: NetworkSpec,
  params: StateDict,
  x: Float32Array,
  n: number,
  batchSize = 1000,
): Float32Array {
  return withTensors(spec, params, (t) => logitsWithTensors(spec, t, x, n, batchSize));
}

/** Eval-mode predicted class per example (argmax of the logits). */
export function predict(
  spec: NetworkSpec,
  params: StateDict,
  x: Float32Array,
  n: number,
  batchSize = 1000,
): Int32Array {
  return withTensors(spec, params, (t) => predictWithTensors(spec, t, x, n, batchSize));
}

/** Percentage (0..100) of `predictions` equal to `labels`. */
export function percentCorrect(predictions: Int32Array, labels: Int32Array): number {
  if (predictions.length !== labels.length) {
    throw new Error(`${predictions.length} predictions for ${labels.length} labels`);
  }
  if (labels.length === 0) return 0;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct++;
  return (100 * correct) / labels.length;
}

/** Eval-mode accuracy on a split, in percent (0..100). */
export function accuracy(spec: NetworkSpec, params: StateDict, split: Split): number {
  return percentCorrect(predict(spec, params, split.x, split.n), split.y);
}
