import { tf } from '@rpg/core';
import type { PrototypeModel } from '@rpg/recurrent-prototype';
import { type DiffusionLossInputs, diffusionLoss } from './loss.js';
import type { TokenDecoder } from './token-decoder.js';

/**
 * Recompute the prototype model's backward pass when a step's sequences hold more than this many values per
 * activation (states × L × d × layers). A Mamba2 step keeps about 650 bytes per such value for its backward pass,
 * so this is ≈ 1.3 GB; recomputing costs about 1.7× the step's time, so smaller steps (the MLP example:
 * 2 × 201 × 128 × 2) keep the joint pass.
 */
export const RECOMPUTE_ABOVE_VALUES = 1 << 21;

/** What one training step differentiates: the diffusion batch, and which prototype rows it pairs with. */
export interface StepBatch extends Omit<DiffusionLossInputs, 'proto'> {
  /** Distinct permutation states of the step (one prototype sequence each). */
  states: number[];
  /** Row of the flattened `[states·L, d]` prototypes paired with each token. */
  rows: Int32Array;
  /** The states' task vectors, for a task-conditioned model. */
  tasks?: tf.Tensor2D | undefined;
}

/**
 * Whether a step backpropagates through the prototype model one sequence and layer at a time (see
 * {@link PrototypeModel.rowsPass}): when its activations would be large and the model is one where that saves
 * memory ({@link PrototypeModel.recomputeSaves}).
 */
export function shouldRecompute(prototype: PrototypeModel, states: number): boolean {
  const { d, layers } = prototype.config;
  if (!prototype.recomputeSaves) return false;
  return states * prototype.numTokens * d * layers > RECOMPUTE_ABOVE_VALUES;
}

/**
 * The loss of one training step and the gradient of every trainable variable of both models, by variable name
 * (a variable without one is left out). With `recompute`, the decoder's pass runs first on prototypes computed
 * without a tape, and the prototype model's gradients follow from the prototypes' gradient, one sequence and layer
 * at a time: the two passes' activations are never held together, and the prototype model's are a layer's over
 * one sequence. The result equals the joint pass up to float summation order. The caller disposes the gradients:
 * the prototype model's outlive any enclosing `tf.tidy`.
 */
export function stepGradients(
  prototype: PrototypeModel,
  decoder: TokenDecoder,
  batch: StepBatch,
  recompute: boolean,
): { loss: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const protoVars = prototype.trainableVariables();
  const decoderVars = decoder.trainableVariables();
  const { states, rows, tasks, ...lossInputs } = batch;
  if (!recompute) {
    const rowIndex = tf.tensor1d(rows, 'int32');
    const { value, grads } = tf.variableGrads(
      () => diffusionLoss(decoder, { ...lossInputs, proto: prototype.rows(states, rowIndex, tasks) }),
      [...protoVars, ...decoderVars],
    );
    rowIndex.dispose();
    return { loss: value, grads };
  }
  const pass = prototype.rowsPass(states, rows, tasks);
  const proto = pass.rows;
  const { value, grads: decoderGrads } = tf
    .engine()
    .gradients(
      () => diffusionLoss(decoder, { ...lossInputs, proto }),
      [proto, ...decoderVars],
      undefined,
      true,
    );
  const grads: Record<string, tf.Tensor> = {};
  decoderVars.forEach((v, i) => {
    const g = decoderGrads[i + 1];
    if (g) grads[v.name] = g;
  });
  const protoGrads = pass.gradients(decoderGrads[0] as tf.Tensor2D);
  protoVars.forEach((v, i) => {
    const g = protoGrads[i];
    if (g) grads[v.name] = g;
  });
  pass.dispose();
  decoderGrads[0]!.dispose();
  return { loss: value as tf.Scalar, grads };
}
