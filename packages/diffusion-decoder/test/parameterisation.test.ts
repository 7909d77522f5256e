import { Rng, tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { diffusionLoss } from '../src/loss.js';
import { noiseFromPrediction, type Prediction, predictionTarget } from '../src/parameterisation.js';
import { defaultSchedule, qSample } from '../src/schedule.js';
import { TokenDecoder } from '../src/token-decoder.js';

useBackend();

const predictions: Prediction[] = ['epsilon', 'x0', 'v'];

describe('parameterisations', () => {
  it.each(predictions)('%s: a perfect output converts back to the true noise', (prediction) => {
    const rng = new Rng(3);
    const n = 6;
    const k = 16;
    const t = [0, 10, 100, 400, 800, 999];
    tf.tidy(() => {
      const x0 = tf.tensor2d(rng.normalArray(n * k), [n, k]);
      const noise = tf.tensor2d(rng.normalArray(n * k), [n, k]);
      const xt = qSample(x0, t, noise, defaultSchedule);
      const target = predictionTarget(prediction, x0, noise, t, defaultSchedule);
      const eps = noiseFromPrediction(prediction, target, xt, t, defaultSchedule);
      const err = tf.max(tf.abs(tf.sub(eps, noise))).dataSync()[0]!;
      // x₀ → ε divides by √(1−ᾱ), which is 0.01 at t = 0: float32 rounding is amplified there.
      expect(err).toBeLessThan(prediction === 'x0' ? 2e-3 : 1e-5);
    });
  });

  it('the loss of an x₀ decoder is the masked MSE against x₀, and v differs from both', () => {
    const rng = new Rng(5);
    const n = 8;
    const k = 16;
    const t = Array.from({ length: n }, (_, i) => i * 120);
    const losses = predictions.map((prediction) => {
      const dec = new TokenDecoder({ tokenSize: k, d: 4, channels: [1, 4, 1], prediction }, new Rng(9));
      const value = tf.tidy(() => {
        const x0 = tf.tensor2d(rng.normalArray(n * k), [n, k]);
        const noise = tf.tensor2d(rng.normalArray(n * k), [n, k]);
        const proto = tf.tensor2d(rng.normalArray(n * 4), [n, 4]);
        const mask = tf.ones([n, k]) as tf.Tensor2D;
        const loss = diffusionLoss(dec, { x0, mask, t, noise, proto, training: false }).dataSync()[0]!;
        const xt = qSample(x0, t, noise);
        const out = dec.forward(xt, t, proto, false);
        const expected = tf.mean(tf.square(tf.sub(out, prediction === 'x0' ? x0 : noise))).dataSync()[0]!;
        if (prediction !== 'v') expect(loss).toBeCloseTo(expected, 5);
        return loss;
      });
      dec.dispose();
      return value;
    });
    expect(new Set(losses.map((l) => l.toFixed(4))).size).toBe(3);
  });

  it('rejects an unknown parameterisation', () => {
    expect(
      () => new TokenDecoder({ tokenSize: 8, d: 4, prediction: 'score' as Prediction }, new Rng(1)),
    ).toThrow(/prediction/);
  });
});
