/**
 * Generator sizes chosen from the target network when a config leaves them out: `tokenizer.tokenSize`,
 * `train.prototype.d` and `train.steps`. One rule, measured on this project's CPU budget (README, "Generator
 * sizes from the target"):
 *
 * - token size: the power of two nearest √P (P = the network's parameters), 32 … 4,096. It keeps the sequence
 *   length and the token size of one order (MLP 784-64-10 → 256, the CNN → 64, the ResNet → 1,024).
 * - d: 128 up to tokens of 256, half the token size above, 128 … 256 (token 64 → 128, 256 → 128, 512 → 256,
 *   1,024 → 256). Each decoder layer gets a token's content through a Linear(d → token size), and d is where the
 *   small generators collapse (bench:sensitivity, README): on the MLP 784-64-10 at tokens of 128, d 64 gave 83.9 %
 *   where d 128 gave 92.2 % (originals 93.3 %); on the CNN at tokens of 64, d 64 gave 85.5 % where d 128 gave
 *   93.1 % in the same 1,200 steps (originals 94.6 %). d 128 costs little at small token sizes: the decoder, not
 *   the prototype, is most of a step.
 * - steps: enough for every token to be denoised about {@link VISITS_PER_TOKEN} times (steps × diffusion batch /
 *   tokens, the MLP example's figure at the fewest steps that met its targets), rounded up to a hundred,
 *   {@link MIN_STEPS} … {@link MAX_STEPS}. A step denoises a fixed number of TOKENS, so halving the token size
 *   doubles the tokens and halves every token's share of a step: a schedule fixed in steps is then too short.
 *   A target with BatchNorm gets at least {@link MIN_STEPS_BATCH_NORM}: its running statistics are generated
 *   apart from the weights they normalize, and such a network is far more sensitive to its parameters (the CNN
 *   loses 2.3 points to σ = 0.03 noise in the normalized space, the MLP none). Measured on the CNN at d 128:
 *   1,200 steps gave 93.1 %, 2,400 steps 94.2 % (originals 94.6 %).
 *
 * Explicit values in the config always win.
 */
import {
  type NetworkSpec,
  networkSpecSchema,
  parameterLayout,
  trainableNames,
} from '@rpg/checkpoint-harvest';
import { numel } from '@rpg/core';

/** Denoising visits per token the derived step count aims at (MLP example: 1,200 × 256 / 201 ≈ 1,530). */
export const VISITS_PER_TOKEN = 1500;
export const MIN_STEPS = 1200;
export const MIN_STEPS_BATCH_NORM = 2400;
export const MAX_STEPS = 10_000;
export const MIN_TOKEN_SIZE = 32;
export const MAX_TOKEN_SIZE = 4096;
export const MIN_D = 128;
export const MAX_D = 256;

/** What the rule reads from the target: its tensors' sizes. */
export interface TargetShape {
  /** Trainable parameters (PyTorch's `parameters()`). */
  parameters: number;
  /** Float tensors the generator produces (weights, biases, BatchNorm affine parameters and statistics). */
  tensors: number;
  /** Values in the largest tensor. */
  largest: number;
  /** Values of every generated tensor, in order. */
  sizes: number[];
  /** BatchNorm layers (tensors named `…running_var`). */
  batchNorms: number;
}

export interface DerivedSizes {
  tokenSize: number;
  d: number;
  steps: number;
  /** Tokens per checkpoint at that token size (one tensor per token run, `layer` granularity). */
  tokens: number;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** The target's tensor sizes, from its spec. */
export function targetShape(spec: NetworkSpec): TargetShape {
  const trainable = new Set(trainableNames(spec));
  const floats = parameterLayout(spec).filter((p) => p.dtype === 'F32');
  const sizes = floats.map((p) => numel(p.shape));
  const parameters = floats.filter((p) => trainable.has(p.name)).reduce((s, p) => s + numel(p.shape), 0);
  const batchNorms = floats.filter((p) => p.name.endsWith('running_var')).length;
  return { parameters, tensors: floats.length, largest: Math.max(...sizes), sizes, batchNorms };
}

/**
 * Tokens per checkpoint when every tensor is cut into its own tokens of `tokenSize` values (the tokenizer's
 * `layer` granularity; `network` packs all tensors into one stream).
 */
export function tokensPerCheckpoint(sizes: readonly number[], tokenSize: number, packed = false): number {
  if (packed) return Math.ceil(sizes.reduce((s, n) => s + n, 0) / tokenSize);
  return sizes.reduce((s, n) => s + Math.ceil(n / tokenSize), 0);
}

/**
 * The rule (see the file's comment). `diffusionBatch` is the config's tokens denoised per step; an explicit
 * `tokenSize` (or `d`) is used as given and the other sizes follow from it.
 */
export function deriveSizes(
  shape: TargetShape,
  diffusionBatch: number,
  given: { tokenSize?: number; d?: number; packed?: boolean } = {},
): DerivedSizes {
  const log2 = Math.round(Math.log2(Math.sqrt(Math.max(1, shape.parameters))));
  const tokenSize = given.tokenSize ?? clamp(2 ** log2, MIN_TOKEN_SIZE, MAX_TOKEN_SIZE);
  const d = given.d ?? clamp(Math.round(tokenSize / 2), MIN_D, MAX_D);
  const tokens = tokensPerCheckpoint(shape.sizes, tokenSize, given.packed);
  const steps = clamp(
    Math.ceil((VISITS_PER_TOKEN * tokens) / diffusionBatch / 100) * 100,
    shape.batchNorms > 0 ? MIN_STEPS_BATCH_NORM : MIN_STEPS,
    MAX_STEPS,
  );
  return { tokenSize, d, steps, tokens };
}

/** Which of the sizes a config left out (and so were derived). */
export interface DerivedChoice {
  sizes: DerivedSizes;
  shape: TargetShape;
  derived: ('tokenSize' | 'd' | 'steps')[];
}

const grouped = (n: number) => n.toLocaleString('en-US');

/** One line for the start of a run, e.g. "token size 256, d 128, 1,200 steps — from 37,882 parameters in 6 tensors". */
export function describeDerived(choice: DerivedChoice): string {
  const { sizes, shape, derived } = choice;
  const parts = [
    derived.includes('tokenSize') ? `token size ${sizes.tokenSize}` : null,
    derived.includes('d') ? `d ${sizes.d}` : null,
    derived.includes('steps') ? `${grouped(sizes.steps)} steps` : null,
  ].filter((p): p is string => p !== null);
  return (
    `derived ${parts.join(', ')} — from ${grouped(shape.parameters)} parameters in ${shape.tensors} tensors ` +
    `(largest ${grouped(shape.largest)}; ${grouped(sizes.tokens)} tokens of ${sizes.tokenSize}` +
    `${shape.batchNorms > 0 && derived.includes('steps') ? `; BatchNorm: at least ${grouped(MIN_STEPS_BATCH_NORM)} steps` : ''})`
  );
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A raw pipeline config with the sizes it leaves out filled in by {@link deriveSizes}, and what was derived
 * (null when nothing was, or when the network or the diffusion batch is itself invalid: validation then names
 * the bad field). The input is not changed.
 */
export function fillDerivedSizes(raw: unknown): { raw: unknown; choice: DerivedChoice | null } {
  if (!isRecord(raw) || !isRecord(raw.harvest) || !isRecord(raw.tokenizer) || !isRecord(raw.train))
    return { raw, choice: null };
  const { tokenizer, train } = raw;
  const prototype = isRecord(train.prototype) ? train.prototype : undefined;
  const derived: DerivedChoice['derived'] = [];
  if (tokenizer.tokenSize === undefined) derived.push('tokenSize');
  if (prototype && prototype.d === undefined) derived.push('d');
  if (train.steps === undefined) derived.push('steps');
  const spec = networkSpecSchema.safeParse(raw.harvest.network);
  const batch = train.diffusionBatch;
  if (derived.length === 0 || !spec.success || typeof batch !== 'number' || !(batch > 0))
    return { raw, choice: null };
  const shape = targetShape(spec.data);
  const given = {
    ...(typeof tokenizer.tokenSize === 'number' ? { tokenSize: tokenizer.tokenSize } : {}),
    ...(typeof prototype?.d === 'number' ? { d: prototype.d } : {}),
    packed: tokenizer.granularity === 'network',
  };
  const sizes = deriveSizes(shape, batch, given);
  const filled = {
    ...raw,
    tokenizer: { ...tokenizer, tokenSize: sizes.tokenSize },
    train: {
      ...train,
      ...(prototype ? { prototype: { ...prototype, d: sizes.d } } : {}),
      steps: typeof train.steps === 'undefined' ? sizes.steps : train.steps,
    },
  };
  return { raw: filled, choice: { sizes, shape, derived } };
}
