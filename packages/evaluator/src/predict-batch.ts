/**
 * Test-set predictions for many models of one network, with few and large tfjs ops: the test inputs are uploaded
 * once, and MLPs run several models per op (their first layers side by side in one matmul, the later layers as
 * one batched matmul). CNNs run one model at a time on the shared inputs, in sample batches.
 */
import {
  describeSpec,
  forward,
  inputSize,
  type NetworkSpec,
  parameterLayout,
  type Split,
  stateDictToTensors,
} from '@rpg/checkpoint-harvest';
import { type StateDict, tf } from '@rpg/core';

export interface PredictorOptions {
  /** Test samples per forward pass; default 2000 for MLPs, 1000 for CNNs (the harvest package's eval batch). */
  batchSize?: number;
  /** Most MLP models stacked into one forward pass; default: as many as keep activations near 64 MB, ≤ 16. */
  modelsPerBatch?: number;
}

const ACTIVATION_BUDGET_FLOATS = 16 * 1024 * 1024;
const MAX_MODELS_PER_BATCH = 16;

/** Throws unless `sd` has exactly the network's tensors, with its shapes and float data where it needs floats. */
export function assertFitsNetwork(spec: NetworkSpec, sd: StateDict, what: string): void {
  const layout = parameterLayout(spec);
  const problems: string[] = [];
  for (const p of layout) {
    const e = sd.get(p.name);
    if (!e) problems.push(`lacks tensor '${p.name}'`);
    else if (e.shape.length !== p.shape.length || e.shape.some((d, i) => d !== p.shape[i])) {
      problems.push(`tensor '${p.name}' has shape [${e.shape}], the network needs [${p.shape}]`);
    } else if (p.dtype === 'F32' && !(e.data instanceof Float32Array || e.data instanceof Float64Array)) {
      problems.push(`tensor '${p.name}' is ${e.dtype}, the network needs floats`);
    }
  }
  const known = new Set(layout.map((p) => p.name));
  for (const name of sd.keys()) if (!known.has(name)) problems.push(`has unexpected tensor '${name}'`);
  if (problems.length > 0) {
    throw new Error(`${what} does not fit the ${describeSpec(spec)}: ${problems.slice(0, 5).join('; ')}`);
  }
}

function floats(sd: StateDict, name: string): Float32Array | Float64Array {
  return sd.get(name)!.data as Float32Array | Float64Array;
}

/**
 * Predicted classes of many models on one test split. Holds the split's inputs as one tensor until
 * {@link dispose}. Eval-mode forward of `@rpg/checkpoint-harvest`, so the predictions are the ones its
 * `predict` gives.
 */
export class TestSetPredictor {
  readonly n: number;
  /** Models per stacked forward pass (1 for CNNs). */
  readonly modelsPerBatch: number;
  private readonly batchSize: number;
  private readonly dim: number;
  private x: tf.Tensor2D | null;

  constructor(
    readonly spec: NetworkSpec,
    split: Split,
    opts: PredictorOptions = {},
  ) {
    this.dim = inputSize(spec);
    this.n = split.n;
    if (!(split.n > 0) || split.x.length !== split.n * this.dim) {
      throw new Error(
        `test split: x has ${split.x.length} values for n=${split.n} samples of ${this.dim} inputs (${describeSpec(spec)})`,
      );
    }
    const batch = opts.batchSize ?? (spec.type === 'mlp' ? 2000 : 1000);
    if (!Number.isInteger(batch) || batch < 1)
      throw new Error(`batchSize must be a positive integer, got ${batch}`);
    this.batchSize = Math.min(batch, split.n);
    if (spec.type === 'mlp') {
      const widest = Math.max(...spec.sizes.slice(1));
      const fit = Math.floor(ACTIVATION_BUDGET_FLOATS / (3 * this.batchSize * widest));
      this.modelsPerBatch = Math.max(1, Math.min(opts.modelsPerBatch ?? MAX_MODELS_PER_BATCH, fit));
    } else {
      this.modelsPerBatch = 1;
    }
    this.x = tf.tensor2d(split.x, [split.n, this.dim]);
  }

  /** Predicted class per test sample, one array per model, in order. */
  predict(models: readonly StateDict[]): Int32Array[] {
    if (!this.x) throw new Error('TestSetPredictor was disposed');
    models.forEach((sd, i) => {
      assertFitsNetwork(this.spec, sd, `model ${i}`);
    });
    const out: Int32Array[] = [];
    for (let start = 0; start < models.length; start += this.modelsPerBatch) {
      const group = models.slice(start, start + this.modelsPerBatch);
      out.push(
        ...(this.spec.type === 'mlp' ? this.predictMlp(group) : group.map((sd) => this.predictOne(sd))),
      );
    }
    return out;
  }

  dispose(): void {
    this.x?.dispose();
    this.x = null;
  }

  private chunks(): [number, number][] {
    const out: [number, number][] = [];
    for (let s = 0; s < this.n; s += this.batchSize) out.push([s, Math.min(this.batchSize, this.n - s)]);
    return out;
  }

  private inputs(start: number, size: number): tf.Tensor2D {
    const x = this.x!;
    return size === this.n ? x : tf.slice(x, [start, 0], [size, this.dim]);
  }

  /** One model (any network): the harvest package's eval-mode forward on the shared inputs. */
  private predictOne(sd: StateDict): Int32Array {
    const out = new Int32Array(this.n);
    const params = stateDictToTensors(this.spec, sd);
    try {
      for (const [start, size] of this.chunks()) {
        const classes = tf.tidy(() =>
          tf.argMax(forward(this.spec, params, this.inputs(start, size), 'eval').logits, 1),
        );
        out.set(classes.dataSync() as Int32Array, start);
        classes.dispose();
      }
    } finally {
      for (const t of params.values()) t.dispose();
    }
    return out;
  }

  /**
   * K MLPs at once. Layer 1: x·[W₁⁽¹⁾; …; W₁⁽ᴷ⁾]ᵀ is one [b, K·h] matmul (the inputs are shared); later layers
   * are one batched matmul over the model axis, [K, b, in]·[K, out, in]ᵀ.
   */
  private predictMlp(group: readonly StateDict[]): Int32Array[] {
    const spec = this.spec as Extract<NetworkSpec, { type: 'mlp' }>;
    const k = group.length;
    const sizes = spec.sizes;
    const layers = sizes.length - 1;
    const weights: tf.Tensor[] = [];
    const biases: tf.Tensor3D[] = [];
    const stack = (name: string, per: number): Float32Array => {
      const buf = new Float32Array(k * per);
      group.forEach((sd, m) => {
        buf.set(floats(sd, name), m * per);
      });
      return buf;
    };
    try {
      for (let l = 0; l < layers; l++) {
        const fin = sizes[l]!;
        const fout = sizes[l + 1]!;
        const w = stack(`${2 * l}.weight`, fout * fin);
        weights.push(l === 0 ? tf.tensor2d(w, [k * fout, fin]) : tf.tensor3d(w, [k, fout, fin]));
        biases.push(tf.tensor3d(stack(`${2 * l}.bias`, fout), [k, 1, fout]));
      }
      const out = group.map(() => new Int32Array(this.n));
      for (const [start, size] of this.chunks()) {
        const classes = tf.tidy(() => {
          const first = tf.matMul(this.inputs(start, size), weights[0] as tf.Tensor2D, false, true);
          let h: tf.Tensor3D = tf.add(
            tf.transpose(tf.reshape(first, [size, k, sizes[1]!]), [1, 0, 2]),
            biases[0]!,
          );
          for (let l = 1; l < layers; l++) {
            h = tf.relu(h);
            h = tf.add(tf.matMul(h, weights[l] as tf.Tensor3D, false, true), biases[l]!);
          }
          return tf.argMax(h, 2);
        });
        const data = classes.dataSync() as Int32Array;
        classes.dispose();
        out.forEach((o, m) => {
          o.set(data.subarray(m * size, (m + 1) * size), start);
        });
      }
      return out;
    } finally {
      for (const t of [...weights, ...biases]) t.dispose();
    }
  }
}

/** Predicted classes of `models` on `split` (uploads the inputs once; see {@link TestSetPredictor}). */
export function predictModels(
  spec: NetworkSpec,
  models: readonly StateDict[],
  split: Split,
  opts: PredictorOptions = {},
): Int32Array[] {
  const predictor = new TestSetPredictor(spec, split, opts);
  try {
    return predictor.predict(models);
  } finally {
    predictor.dispose();
  }
}
