import { tf } from '@rpg/core';
import { rates, type Schedule } from './schedule.js';

/** What the decoder network outputs: the noise ε (RPG's default), the clean token x₀, or v = √ᾱ·ε − √(1−ᾱ)·x₀. */
export type Prediction = 'epsilon' | 'x0' | 'v';

/** The training target of a `prediction` decoder for clean tokens `x0` noised with `noise` at steps `t`. */
export function predictionTarget(
  prediction: Prediction,
  x0: tf.Tensor2D,
  noise: tf.Tensor2D,
  t: ArrayLike<number>,
  schedule: Schedule,
): tf.Tensor2D {
  if (prediction === 'epsilon') return noise.clone();
  if (prediction === 'x0') return x0.clone();
  return tf.tidy(() => {
    const { signal, noiseRate } = rates(t, schedule);
    return tf.sub(tf.mul(noise, signal), tf.mul(x0, noiseRate)) as tf.Tensor2D;
  });
}

/** ε̂ from a `prediction` decoder's output `out` for noisy tokens `xt` at steps `t` (what the samplers use). */
export function noiseFromPrediction(
  prediction: Prediction,
  out: tf.Tensor2D,
  xt: tf.Tensor2D,
  t: ArrayLike<number>,
  schedule: Schedule,
): tf.Tensor2D {
  if (prediction === 'epsilon') return out.clone();
  return tf.tidy(() => {
    const { signal, noiseRate } = rates(t, schedule);
    // x₀: ε̂ = (x_t − √ᾱ·x̂₀)/√(1−ᾱ); v: ε̂ = √ᾱ·v̂ + √(1−ᾱ)·x_t.
    if (prediction === 'x0') return tf.div(tf.sub(xt, tf.mul(out, signal)), noiseRate) as tf.Tensor2D;
    return tf.add(tf.mul(out, signal), tf.mul(xt, noiseRate)) as tf.Tensor2D;
  });
}
