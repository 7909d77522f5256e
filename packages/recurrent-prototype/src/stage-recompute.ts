import { tf } from '@rpg/core';
import type { SequenceStage } from './sequence-model.js';

/**
 * Tokens per block of a stage that runs in blocks: with Mamba2 at d 128 one block's activations and their
 * gradients take about 250 MiB, whatever the sequence length. A multiple of every usual chunk size.
 */
export const BLOCK_TOKENS = 2048;

/** One sequence's pass through the stages, without a tape. */
export interface StagePass {
  /** Each stage's input; the last entry is the model's output. */
  inputs: tf.Tensor3D[];
  /** Per stage, the carry entering each of its blocks (undefined for a stage run whole, and for block 0). */
  carries: (tf.Tensor[] | undefined)[][];
}

/** Block `j` of `x [1, L, d]` along the sequence. */
function blockOf(x: tf.Tensor3D, j: number): tf.Tensor3D {
  const len = x.shape[1];
  const from = j * BLOCK_TOKENS;
  return tf.slice(x, [0, from, 0], [x.shape[0], Math.min(BLOCK_TOKENS, len - from), x.shape[2]]);
}

const blockCount = (len: number) => Math.ceil(len / BLOCK_TOKENS);

/** `parts` flattened and concatenated into one 1-D tensor. */
const flat = (parts: tf.Tensor[]) => tf.concat(parts.map((p) => tf.reshape(p, [-1])));

/**
 * Runs `stages` over `x` without recording gradients, a block at a time where a stage can (so only one block's
 * intermediates exist at once), keeping each stage's input and the carries between blocks. Dispose with
 * {@link disposePass}.
 */
export function passStages(stages: readonly SequenceStage[], x: tf.Tensor3D): StagePass {
  const inputs = [tf.keep(x)];
  const carries: (tf.Tensor[] | undefined)[][] = [];
  for (const stage of stages) {
    const h = inputs[inputs.length - 1]!;
    if (!stage.block) {
      inputs.push(tf.keep(tf.tidy(() => stage.forward(h))));
      carries.push([]);
      continue;
    }
    const entering: (tf.Tensor[] | undefined)[] = [undefined];
    const outputs: tf.Tensor3D[] = [];
    for (let j = 0; j < blockCount(h.shape[1]); j++) {
      const { y, carry } = tf.tidy(() => stage.block!(blockOf(h, j), entering[j]));
      outputs.push(y);
      entering.push(carry.map((c) => tf.keep(c)));
    }
    tf.dispose(entering.pop() ?? []); // nothing follows the last block
    inputs.push(tf.keep(outputs.length === 1 ? outputs[0]! : tf.tidy(() => tf.concat(outputs, 1))));
    if (outputs.length > 1) tf.dispose(outputs);
    carries.push(entering);
  }
  return { inputs, carries };
}

export function disposePass(pass: StagePass): void {
  tf.dispose(pass.inputs);
  for (const stage of pass.carries) for (const c of stage) if (c) tf.dispose(c);
}

/**
 * Backpropagates `dy` (the gradient of the pass's output) through the stages, last first, recomputing each stage
 * (block by block, carry gradients flowing from each block to the one before) under a tape; hands each stage's
 * gradients of `vars` (undefined where none) to `accumulate`, and returns the gradient of the first stage's input.
 */
export function backpropStages(
  stages: readonly SequenceStage[],
  pass: StagePass,
  dy: tf.Tensor3D,
  vars: readonly tf.Variable[],
  accumulate: (grads: (tf.Tensor | undefined)[]) => void,
): tf.Tensor3D {
  let grad = dy;
  for (let s = stages.length - 1; s >= 0; s--) {
    const stage = stages[s]!;
    const h = pass.inputs[s]!;
    const dOut = grad;
    grad = tf.tidy(() => {
      if (!stage.block) {
        const { grads } = tf.engine().gradients(() => stage.forward(h), [h, ...vars], dOut, true);
        accumulate(grads.slice(1));
        return grads[0] as tf.Tensor3D;
      }
      const n = blockCount(h.shape[1]);
      const dxs: tf.Tensor3D[] = [];
      let dCarry: tf.Tensor[] = [];
      for (let j = n - 1; j >= 0; j--) {
        const x = blockOf(h, j);
        const carry = pass.carries[s]![j];
        const last = j === n - 1;
        // One output tensor per gradient call: the block's outputs, then (but for the last block, whose carry
        // goes nowhere) its carry, flattened.
        const dyBlock = blockOf(dOut, j);
        const { grads } = tf.engine().gradients(
          () => {
            const out = stage.block!(x, carry);
            return last ? out.y : flat([out.y, ...out.carry]);
          },
          [x, ...(carry ?? []), ...vars],
          last ? dyBlock : flat([dyBlock, ...dCarry]),
          true,
        );
        const inCarry = carry?.length ?? 0;
        dxs.unshift(grads[0] as tf.Tensor3D);
        dCarry = (carry ?? []).map((c, i) => grads[1 + i] ?? tf.zerosLike(c));
        accumulate(grads.slice(1 + inCarry));
      }
      return dxs.length === 1 ? dxs[0]! : (tf.concat(dxs, 1) as tf.Tensor3D);
    });
    if (dOut !== dy) dOut.dispose();
  }
  return grad;
}
