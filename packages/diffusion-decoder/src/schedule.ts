import { tf } from '@rpg/core';
import { z } from 'zod';

/**
 * The DDPM noise schedule. Index `t` runs 0..T−1 and stands for the paper's step t+1: `betas[0]` = β₁,
 * `alphaBars[t]` = ᾱ_{t+1} = ∏_{s≤t} (1 − β_s). Computed in float64, stored as float32.
 */
export interface Schedule {
  T: number;
  beta1: number;
  betaT: number;
  betas: Float32Array;
  alphas: Float32Array;
  alphaBars: Float32Array;
}

export const scheduleConfigSchema = z.object({
  T: z.number().int().min(2).max(100_000).default(1000),
  beta1: z.number().positive().lt(1).default(1e-4),
  betaT: z.number().positive().lt(1).default(0.02),
});
export type ScheduleConfig = z.infer<typeof scheduleConfigSchema>;

/** Linear β from `beta1` to `betaT` over `T` steps (the DDPM and RPG default: 1000, 1e-4 → 0.02). */
export function linearSchedule(T = 1000, beta1 = 1e-4, betaT = 0.02): Schedule {
  scheduleConfigSchema.parse({ T, beta1, betaT });
  const betas = new Float32Array(T);
  const alphas = new Float32Array(T);
  const alphaBars = new Float32Array(T);
  let product = 1;
  for (let i = 0; i < T; i++) {
    const beta = beta1 + ((betaT - beta1) * i) / (T - 1);
    product *= 1 - beta;
    betas[i] = beta;
    alphas[i] = 1 - beta;
    alphaBars[i] = product;
  }
  return { T, beta1, betaT, betas, alphas, alphaBars };
}

/** The default schedule (T = 1000, β 1e-4 → 0.02), built once. */
export const defaultSchedule: Schedule = linearSchedule();

/** Checks that every step index is an integer in [0, T). */
export function checkSteps(t: ArrayLike<number>, T: number): void {
  for (let i = 0; i < t.length; i++) {
    const v = t[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= T)
      throw new Error(`diffusion step t[${i}] = ${v} is outside [0, ${T})`);
  }
}

/** √ᾱ_t and √(1 − ᾱ_t) per row, as [N, 1] tensors. */
export function rates(
  t: ArrayLike<number>,
  schedule: Schedule,
): { signal: tf.Tensor2D; noiseRate: tf.Tensor2D } {
  checkSteps(t, schedule.T);
  const n = t.length;
  const signal = new Float32Array(n);
  const noiseRate = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const ab = schedule.alphaBars[t[i]!]!;
    signal[i] = Math.sqrt(ab);
    noiseRate[i] = Math.sqrt(1 - ab);
  }
  return { signal: tf.tensor2d(signal, [n, 1]), noiseRate: tf.tensor2d(noiseRate, [n, 1]) };
}

/**
 * Forward diffusion q(x_t | x_0): `√ᾱ_t · x0 + √(1 − ᾱ_t) · noise`, one step per row.
 * `x0` and `noise` are [N, k]; `t` holds N step indices in [0, T).
 */
export function qSample(
  x0: tf.Tensor2D,
  t: ArrayLike<number>,
  noise: tf.Tensor2D,
  schedule: Schedule = defaultSchedule,
): tf.Tensor2D {
  const n = x0.shape[0];
  if (t.length !== n) throw new Error(`qSample: ${t.length} steps for ${n} rows`);
  return tf.tidy(() => {
    const { signal, noiseRate } = rates(t, schedule);
    return tf.add(tf.mul(x0, signal), tf.mul(noise, noiseRate));
  });
}
