import { type Rng, tf } from '@rpg/core';
import { defaultSchedule, type Schedule } from './schedule.js';
import type { StepTimes, TokenDecoder } from './token-decoder.js';

/** ε̂(x_t, t): predicted noise [N, k] for noisy tokens `xt` [N, k], all at step index `t` ∈ [0, T). */
export type NoisePredictor = (xt: tf.Tensor2D, t: number) => tf.Tensor2D;

export interface SamplerOptions {
  /** Number of tokens (rows) to sample. */
  n: number;
  /** Values per token. */
  k: number;
  /** Source of the initial noise x_T and of every per-step noise draw (`rng.normalArray`). */
  rng: Rng;
  schedule?: Schedule;
  /** Clip the predicted x̂₀ to [−clip, clip] at every step; off by default. */
  clip?: number;
  /** Called after each reverse step with (done, total); e.g. for progress. */
  onStep?: (done: number, total: number) => void;
}

export interface DdimOptions extends SamplerOptions {
  /** Number of reverse steps (default 60). */
  steps?: number;
  /** Stochasticity: 0 = deterministic DDIM, 1 ≈ DDPM variance (default 0.05). */
  eta?: number;
}

/**
 * The decoder as a noise predictor in eval mode, for a fixed set of prototypes [N, d]: their conditions are
 * computed once here and reused at every step; the step MLP's outputs come from `times` when given (shared by
 * every chunk of a generation). `dispose` frees the conditions, not `times`.
 */
export function decoderPredictor(
  decoder: TokenDecoder,
  proto: tf.Tensor2D,
  schedule: Schedule = defaultSchedule,
  times?: StepTimes,
): NoisePredictor & { dispose(): void } {
  const condition = decoder.condition(proto, times);
  const predict = (xt: tf.Tensor2D, t: number) =>
    decoder.predictNoise(xt, new Array<number>(xt.shape[0]).fill(t), condition, false, schedule);
  return Object.assign(predict, { dispose: () => condition.dispose() });
}

/** Lets timers and I/O (heartbeats) run between steps. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

function normal(rng: Rng, n: number, k: number): tf.Tensor2D {
  return tf.tensor2d(rng.normalArray(n * k), [n, k]);
}

function checkPrediction(eps: tf.Tensor2D, n: number, k: number): void {
  if (eps.shape[0] !== n || eps.shape[1] !== k) {
    eps.dispose();
    throw new Error(`noise predictor returned [${eps.shape}], expected [${n}, ${k}]`);
  }
}

/**
 * One update x ← a·x + b·ε̂ (+ σ·z), or, with clipping, via x̂₀ = (x − √(1−ᾱ)·ε̂)/√ᾱ clipped:
 * x ← c0·x̂₀ + cx·x + ce·ε̂ (+ σ·z). Returns the new x; disposes nothing it was given.
 */
function update(
  x: tf.Tensor2D,
  eps: tf.Tensor2D,
  coeffs: { a: number; b: number },
  x0Form: { clip: number; alphaBar: number; c0: number; cx: number; ce: number } | undefined,
  noise: tf.Tensor2D | undefined,
  sigma: number,
): tf.Tensor2D {
  return tf.tidy(() => {
    let next: tf.Tensor2D;
    if (x0Form) {
      const { clip, alphaBar, c0, cx, ce } = x0Form;
      const x0 = tf.clipByValue(
        tf.div(tf.sub(x, tf.mul(eps, Math.sqrt(1 - alphaBar))), Math.sqrt(alphaBar)),
        -clip,
        clip,
      );
      next = tf.addN([tf.mul(x0, c0), tf.mul(x, cx), tf.mul(eps, ce)]) as tf.Tensor2D;
    } else {
      next = tf.add(tf.mul(x, coeffs.a), tf.mul(eps, coeffs.b));
    }
    return noise ? tf.add(next, tf.mul(noise, sigma)) : next;
  });
}

/**
 * Ancestral DDPM sampling over all T steps: x_{t−1} = (x_t − β_t/√(1−ᾱ_t)·ε̂)/√α_t + √β̃_t·z, with the
 * posterior variance β̃_t = β_t(1−ᾱ_{t−1})/(1−ᾱ_t) (no noise at the last step). Deterministic given `rng`.
 */
export async function sampleDdpm(predict: NoisePredictor, options: SamplerOptions): Promise<tf.Tensor2D> {
  const { n, k, rng, clip, onStep } = options;
  const schedule = options.schedule ?? defaultSchedule;
  const { T, betas, alphas, alphaBars } = schedule;
  let x = normal(rng, n, k);
  for (let t = T - 1; t >= 0; t--) {
    const beta = betas[t]!;
    const alpha = alphas[t]!;
    const ab = alphaBars[t]!;
    const abPrev = t > 0 ? alphaBars[t - 1]! : 1;
    const variance = t > 0 ? (beta * (1 - abPrev)) / (1 - ab) : 0;
    let eps: tf.Tensor2D;
    try {
      eps = predict(x, t);
      checkPrediction(eps, n, k);
    } catch (err) {
      x.dispose();
      throw err;
    }
    // Posterior mean in x̂₀ form: √ᾱ_{t−1}·β_t/(1−ᾱ_t)·x̂₀ + √α_t·(1−ᾱ_{t−1})/(1−ᾱ_t)·x_t.
    const x0Form =
      clip === undefined
        ? undefined
        : {
            clip,
            alphaBar: ab,
            c0: (Math.sqrt(abPrev) * beta) / (1 - ab),
            cx: (Math.sqrt(alpha) * (1 - abPrev)) / (1 - ab),
            ce: 0,
          };
    const coeffs = { a: 1 / Math.sqrt(alpha), b: -beta / (Math.sqrt(1 - ab) * Math.sqrt(alpha)) };
    const noise = variance > 0 ? normal(rng, n, k) : undefined;
    const next = update(x, eps, coeffs, x0Form, noise, Math.sqrt(variance));
    tf.dispose([x, eps, noise]);
    x = next;
    onStep?.(T - t, T);
    await yieldToEventLoop();
  }
  return x;
}

/** The DDIM step indices, descending from T−1 to 0, evenly spaced (rounded). */
export function ddimTimesteps(T: number, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > T)
    throw new Error(`DDIM steps must be an integer in [1, ${T}], got ${steps}`);
  if (steps === 1) return [T - 1];
  const out: number[] = [];
  for (let i = steps - 1; i >= 0; i--) out.push(Math.round((i * (T - 1)) / (steps - 1)));
  return out;
}

/**
 * DDIM sampling (Song et al.) over `steps` evenly spaced steps ending at x₀ (ᾱ = 1 after the last):
 * x_prev = √ᾱ_prev·x̂₀ + √(1 − ᾱ_prev − σ²)·ε̂ + σ·z, σ = η·√((1−ᾱ_prev)/(1−ᾱ_t))·√(1 − ᾱ_t/ᾱ_prev).
 * With η = 0 it is deterministic after the initial noise. Deterministic given `rng`.
 */
export async function sampleDdim(predict: NoisePredictor, options: DdimOptions): Promise<tf.Tensor2D> {
  const { n, k, rng, clip, onStep } = options;
  const steps = options.steps ?? 60;
  const eta = options.eta ?? 0.05;
  if (!(eta >= 0)) throw new Error(`DDIM eta must be ≥ 0, got ${eta}`);
  const schedule = options.schedule ?? defaultSchedule;
  const { alphaBars } = schedule;
  const timesteps = ddimTimesteps(schedule.T, steps);
  let x = normal(rng, n, k);
  for (let i = 0; i < timesteps.length; i++) {
    const t = timesteps[i]!;
    const prev = timesteps[i + 1];
    const ab = alphaBars[t]!;
    const abPrev = prev === undefined ? 1 : alphaBars[prev]!;
    const sigma = eta * Math.sqrt(((1 - abPrev) / (1 - ab)) * (1 - ab / abPrev));
    const dirCoeff = Math.sqrt(Math.max(0, 1 - abPrev - sigma * sigma));
    let eps: tf.Tensor2D;
    try {
      eps = predict(x, t);
      checkPrediction(eps, n, k);
    } catch (err) {
      x.dispose();
      throw err;
    }
    // x_prev = √ᾱ_prev/√ᾱ_t · x_t + (dir − √ᾱ_prev·√(1−ᾱ_t)/√ᾱ_t) · ε̂
    const coeffs = {
      a: Math.sqrt(abPrev / ab),
      b: dirCoeff - Math.sqrt(abPrev) * Math.sqrt((1 - ab) / ab),
    };
    const x0Form =
      clip === undefined ? undefined : { clip, alphaBar: ab, c0: Math.sqrt(abPrev), cx: 0, ce: dirCoeff };
    const noise = sigma > 0 ? normal(rng, n, k) : undefined;
    const next = update(x, eps, coeffs, x0Form, noise, sigma);
    tf.dispose([x, eps, noise]);
    x = next;
    onStep?.(i + 1, timesteps.length);
    await yieldToEventLoop();
  }
  return x;
}
