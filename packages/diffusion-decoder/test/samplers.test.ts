import { Rng, tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import {
  ddimTimesteps,
  decoderPredictor,
  type NoisePredictor,
  sampleDdim,
  sampleDdpm,
} from '../src/samplers.js';
import { defaultSchedule, linearSchedule } from '../src/schedule.js';
import { TokenDecoder } from '../src/token-decoder.js';

useBackend();

/** The exact ε for a known x₀: ε = (x_t − √ᾱ_t·x₀)/√(1 − ᾱ_t). */
function perfectPredictor(x0: tf.Tensor2D, schedule = defaultSchedule): NoisePredictor {
  return (xt, t) =>
    tf.tidy(() => {
      const ab = schedule.alphaBars[t]!;
      return tf.div(tf.sub(xt, tf.mul(x0, Math.sqrt(ab))), Math.sqrt(1 - ab)) as tf.Tensor2D;
    });
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));

describe('ddimTimesteps', () => {
  it('runs from T−1 down to 0, evenly spaced and strictly decreasing', () => {
    const ts = ddimTimesteps(1000, 60);
    expect(ts.length).toBe(60);
    expect(ts[0]).toBe(999);
    expect(ts[59]).toBe(0);
    for (let i = 1; i < ts.length; i++) expect(ts[i]!).toBeLessThan(ts[i - 1]!);
    expect(ddimTimesteps(1000, 1)).toEqual([999]);
    expect(ddimTimesteps(5, 5)).toEqual([4, 3, 2, 1, 0]);
    expect(() => ddimTimesteps(1000, 0)).toThrow();
    expect(() => ddimTimesteps(1000, 1001)).toThrow();
  });
});

describe('samplers', () => {
  const n = 5;
  const k = 24;
  const x0Values = new Rng(1).normalArray(n * k, 0, 1.5);

  it('DDIM with η = 0 and a perfect noise predictor recovers x₀', async () => {
    const x0 = tf.tensor2d(x0Values, [n, k]);
    for (const steps of [60, 7]) {
      const out = await sampleDdim(perfectPredictor(x0), { n, k, rng: new Rng(2), steps, eta: 0 });
      expect(out.shape).toEqual([n, k]);
      expect(maxAbsDiff(out.dataSync(), x0Values)).toBeLessThan(1e-3);
      out.dispose();
    }
    x0.dispose();
  });

  it('DDIM with η > 0 and DDPM also land on x₀ with a perfect predictor (the last step is noise-free)', async () => {
    const x0 = tf.tensor2d(x0Values, [n, k]);
    const ddim = await sampleDdim(perfectPredictor(x0), { n, k, rng: new Rng(3), steps: 60, eta: 1 });
    expect(maxAbsDiff(ddim.dataSync(), x0Values)).toBeLessThan(1e-3);
    const schedule = linearSchedule(200);
    const ddpm = await sampleDdpm(perfectPredictor(x0, schedule), { n, k, rng: new Rng(3), schedule });
    expect(maxAbsDiff(ddpm.dataSync(), x0Values)).toBeLessThan(1e-3);
    tf.dispose([x0, ddim, ddpm]);
  });

  it('clips the predicted x₀ when asked', async () => {
    const x0 = tf.tensor2d(x0Values, [n, k]);
    for (const sample of [
      () => sampleDdim(perfectPredictor(x0), { n, k, rng: new Rng(4), steps: 20, eta: 0, clip: 0.5 }),
      () => sampleDdpm(perfectPredictor(x0), { n, k, rng: new Rng(4), clip: 0.5 }),
    ]) {
      const out = await sample();
      const values = out.dataSync();
      expect(Math.max(...Array.from(values, Math.abs))).toBeLessThanOrEqual(0.5 + 1e-6);
      const expected = Array.from(x0Values, (v) => Math.min(0.5, Math.max(-0.5, v)));
      expect(maxAbsDiff(values, expected)).toBeLessThan(1e-3);
      out.dispose();
    }
    x0.dispose();
  });

  it('is deterministic given the Rng, differs across seeds, and does not leak tensors', async () => {
    const dec = new TokenDecoder({ tokenSize: k, d: 4, channels: [1, 4, 8, 4, 1] }, new Rng(5));
    const proto = tf.tensor2d(new Rng(6).normalArray(n * 4), [n, 4]);
    const predict = decoderPredictor(dec, proto);
    const before = tf.memory().numTensors;
    const run = async (sampler: 'ddim' | 'ddpm', seed: number) => {
      const out =
        sampler === 'ddim'
          ? await sampleDdim(predict, { n, k, rng: new Rng(seed), steps: 10 })
          : await sampleDdpm(predict, { n, k, rng: new Rng(seed), schedule: linearSchedule(50) });
      expect(out.shape).toEqual([n, k]);
      const values = Array.from(out.dataSync());
      out.dispose();
      expect(values.every(Number.isFinite)).toBe(true);
      return values;
    };
    for (const sampler of ['ddim', 'ddpm'] as const) {
      const a = await run(sampler, 7);
      expect(await run(sampler, 7)).toEqual(a);
      expect(await run(sampler, 8)).not.toEqual(a);
    }
    expect(tf.memory().numTensors).toBe(before);
    proto.dispose();
    dec.dispose();
  });

  it('draws its noise from rng.normalArray: x_T first, then one draw per noisy step', async () => {
    let calls = 0;
    const rng = new Rng(9);
    const original = rng.normalArray.bind(rng);
    rng.normalArray = (count: number, mean?: number, std?: number) => {
      calls++;
      return original(count, mean, std);
    };
    const zero: NoisePredictor = (xt) => tf.zerosLike(xt);
    (await sampleDdim(zero, { n, k, rng, steps: 10, eta: 0.5 })).dispose();
    expect(calls).toBe(1 + 9); // no noise at the final step
    calls = 0;
    (await sampleDdim(zero, { n, k, rng, steps: 10, eta: 0 })).dispose();
    expect(calls).toBe(1);
  });

  it('reports a predictor that returns the wrong shape', async () => {
    const bad: NoisePredictor = () => tf.zeros([1, 1]) as tf.Tensor2D;
    await expect(sampleDdim(bad, { n, k, rng: new Rng(1), steps: 3 })).rejects.toThrow(/expected \[5, 24\]/);
  });
});
