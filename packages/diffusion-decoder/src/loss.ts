import { tf } from '@rpg/core';
import { predictionTarget } from './parameterisation.js';
import { defaultSchedule, qSample, type Schedule } from './schedule.js';
import type { TokenDecoder } from './token-decoder.js';

/**
 * Token rows with NaN padding → values with NaN set to 0, and a mask (1 = real value, 0 = padding).
 * Copies; the input is not changed.
 */
export function cleanTokens(rows: Float32Array): { values: Float32Array; mask: Float32Array } {
  const values = new Float32Array(rows.length);
  const mask = new Float32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const v = rows[i]!;
    if (Number.isNaN(v)) continue;
    values[i] = v;
    mask[i] = 1;
  }
  return { values, mask };
}

/** Mean of (pred − target)² over the positions where `mask` is 1; masked positions may hold anything, NaN included. */
export function maskedMse(pred: tf.Tensor, target: tf.Tensor, mask: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const keep = tf.greater(mask, 0);
    const diff = tf.where(keep, tf.sub(pred, target), tf.zerosLike(pred));
    const count = tf.maximum(tf.sum(tf.cast(keep, 'float32')), 1);
    return tf.div(tf.sum(tf.square(diff)), count) as tf.Scalar;
  });
}

export interface DiffusionLossInputs {
  /** Clean tokens [N, k]; values where `mask` is 0 are ignored (NaN allowed). */
  x0: tf.Tensor2D;
  /** [N, k]: 1 for real values, 0 for padding. */
  mask: tf.Tensor2D;
  /** N step indices in [0, T). */
  t: ArrayLike<number>;
  /** ε [N, k]. */
  noise: tf.Tensor2D;
  /** Prototypes [N, d]. */
  proto: tf.Tensor2D;
  training: boolean;
  schedule?: Schedule;
}

/**
 * The diffusion loss: x_t = q(x_t | x₀) with padding set to 0 in x₀, MSE between the decoder's output and its
 * target — ε (RPG), x₀, or v = √ᾱ·ε − √(1−ᾱ)·x₀ per the decoder's `prediction` — over the non-padding positions only.
 */
export function diffusionLoss(decoder: TokenDecoder, inputs: DiffusionLossInputs): tf.Scalar {
  const { mask, t, noise, proto, training } = inputs;
  return tf.tidy(() => {
    const x0 = tf.where(tf.greater(mask, 0), inputs.x0, tf.zerosLike(inputs.x0)) as tf.Tensor2D;
    const schedule = inputs.schedule ?? defaultSchedule;
    const xt = qSample(x0, t, noise, schedule);
    const out = decoder.forward(xt, t, proto, training);
    return maskedMse(out, predictionTarget(decoder.config.prediction, x0, noise, t, schedule), mask);
  });
}
