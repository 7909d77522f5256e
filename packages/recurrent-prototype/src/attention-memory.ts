import { totalmem } from 'node:os';
import { InputError } from '@rpg/core/input-error';

/**
 * The Transformer's attention holds L×L float32 scores per head and sequence: at L = 16 k tokens that is 1 GiB
 * per head, far beyond memory in one training step. These checks turn that into a clear error before anything
 * is allocated, with the estimate and what to change.
 */

/**
 * Default cap on the attention tensors of one training step, in MiB (see `attentionMemoryMB`): half of this
 * machine's memory, leaving the rest to the tokens, the decoder and other processes. It only decides whether a
 * run starts, never its numbers. On a GPU backend set `attentionMemoryMB` to what the device holds.
 */
export function defaultAttentionMemoryMB(): number {
  return Math.floor(totalmem() / 2 / 2 ** 20);
}

// The estimate counts L×L float32 tensors. Per layer, sequence and head: the raw, scaled and masked scores and
// the softmax, kept until the backward pass, and their gradients, which the backward pass holds while the other
// layers' tensors are still alive. Calibrated on tfjs-node: the peak RSS of a training step at L = 2048 (2
// sequences, 4 heads, 2 layers) grew by about 16 such tensors per sequence and head over the same step without
// attention.
const PER_LAYER = 6;
const BACKWARD_TRANSIENT = 4;
/** The causal mask is built from four L×L tensors (ones, band, 1 − band, the additive bias). */
const MASK_TENSORS = 4;

export interface AttentionShape {
  layers: number;
  heads: number;
  /** Sequences in one forward pass. */
  batch: number;
  /** Tokens per sequence. */
  len: number;
}

/** Estimated bytes of the L×L tensors of one forward + backward pass of the attention stack. */
export function attentionBytes({ layers, heads, batch, len }: AttentionShape): number {
  const square = 4 * len * len;
  return square * (MASK_TENSORS + batch * heads * (PER_LAYER * layers + BACKWARD_TRANSIENT));
}

/** The largest L whose estimate stays within `capMB` (at least 1). */
export function maxAttentionTokens(shape: Omit<AttentionShape, 'len'>, capMB: number): number {
  const perSquare =
    4 * (MASK_TENSORS + shape.batch * shape.heads * (PER_LAYER * shape.layers + BACKWARD_TRANSIENT));
  return Math.max(1, Math.floor(Math.sqrt((capMB * 2 ** 20) / perSquare)));
}

/** A sequence too long for the Transformer's attention within the configured memory cap. */
export class AttentionMemoryError extends InputError {
  override readonly name = 'AttentionMemoryError';

  constructor(
    readonly estimateBytes: number,
    readonly capMB: number,
    readonly shape: AttentionShape,
  ) {
    const { layers, heads, batch, len } = shape;
    const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
    const fits = maxAttentionTokens(shape, capMB);
    super(
      `transformer attention over L = ${len} tokens needs about ${gib(estimateBytes)} ` +
        `(${batch} sequence(s) × ${heads} heads × ${layers} layers of ${len}² float32 scores, kept for the ` +
        `backward pass), over the cap of ${capMB} MiB (prototype.attentionMemoryMB). At this batch the cap ` +
        `allows L ≤ ${fits}. Use a sequence model that is linear in L (mamba2 or lstm), a larger token size ` +
        `(fewer tokens: memory falls with the square of L), or raise prototype.attentionMemoryMB if the ` +
        `machine has that memory free.`,
    );
  }
}

/** Throws {@link AttentionMemoryError} when the estimate for `shape` exceeds `capMB`. */
export function checkAttentionMemory(shape: AttentionShape, capMB: number): void {
  const bytes = attentionBytes(shape);
  if (bytes > capMB * 2 ** 20) throw new AttentionMemoryError(bytes, capMB, shape);
}
