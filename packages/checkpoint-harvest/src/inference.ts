import { type StateDict, tf } from '@rpg/core';
import type { Split } from './data.js';
import { forward } from './forward.js';
import { stateDictToTensors } from './layout.js';
import { describeSpec, inputSize, type NetworkSpec, numClassesOf } from './network-spec.js';

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

/**
 * Runs the eval-mode network over the `n` samples of `x` in batches; `head` turns a batch's logits into its rows
 * of the output (`width` values per sample), which `alloc` makes once the inputs are checked.
 */
function inBatches<A extends Float32Array | Int32Array>(
  spec: NetworkSpec,
  tensors: Map<string, tf.Tensor>,
  x: Float32Array,
  n: number,
  batchSize: number,
  width: number,
  alloc: (length: number) => A,
  head: (logits: tf.Tensor) => tf.Tensor,
): A {
  const dim = checkInputs(spec, x, n, batchSize);
  const out = alloc(n * width);
  for (let start = 0; start < n; start += batchSize) {
    const b = Math.min(batchSize, n - start);
    const rows = tf.tidy(() => {
      const input = tf.tensor2d(x.subarray(start * dim, (start + b) * dim), [b, dim]);
      return head(forward(spec, tensors, input, 'eval').logits);
    });
    out.set(rows.dataSync() as A, start * width);
    rows.dispose();
  }
  return out;
}

/** Eval-mode logits `[n, numClasses]` (row-major) from already uploaded parameters. */
export function logitsWithTensors(
  spec: NetworkSpec,
  tensors: Map<string, tf.Tensor>,
  x: Float32Array,
  n: number,
  batchSize = 1000,
): Float32Array {
  const alloc = (length: number) => new Float32Array(length);
  return inBatches(spec, tensors, x, n, batchSize, numClassesOf(spec), alloc, (logits) => logits);
}

/** Eval-mode predicted classes from already uploaded parameters. */
export function predictWithTensors(
  spec: NetworkSpec,
  tensors: Map<string, tf.Tensor>,
  x: Float32Array,
  n: number,
  batchSize = 1000,
): Int32Array {
  const alloc = (length: number) => new Int32Array(length);
  return inBatches(spec, tensors, x, n, batchSize, 1, alloc, (logits) => tf.argMax(logits, 1));
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
