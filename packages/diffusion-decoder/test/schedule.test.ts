import { tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { defaultSchedule, linearSchedule, qSample } from '../src/schedule.js';

useBackend();

describe('linearSchedule', () => {
  it('has the DDPM values: β₁ = 1e-4, β_T = 0.02, ᾱ at both ends', () => {
    const s = linearSchedule();
    expect(s.T).toBe(1000);
    expect(s.betas[0]).toBe(Math.fround(1e-4));
    expect(s.betas[999]).toBe(Math.fround(0.02));
    // β₂ = 1e-4 + (0.02 − 1e-4)/999
    expect(s.betas[1]).toBe(Math.fround(0.00011991991991991992));
    expect(s.alphas[0]).toBe(Math.fround(0.9999));
    expect(s.alphaBars[0]).toBe(Math.fround(0.9999));
    expect(s.alphaBars[1]).toBe(Math.fround(0.9999 * (1 - 0.00011991991991991992)));
    // ∏(1 − β_t) over all 1000 steps, computed with exact fractions: 4.0358297653756835e-05
    expect(s.alphaBars[999]).toBe(Math.fround(4.0358297653756835e-5));
    for (let i = 1; i < 1000; i++) expect(s.alphaBars[i]!).toBeLessThan(s.alphaBars[i - 1]!);
  });

  it('rejects a bad configuration', () => {
    expect(() => linearSchedule(1)).toThrow();
    expect(() => linearSchedule(1000, 0, 0.02)).toThrow();
  });
});

describe('qSample', () => {
  it('mixes signal and noise with √ᾱ_t and √(1−ᾱ_t) per row', () => {
    const x0 = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const noise = tf.tensor2d([0.5, -1, 2, 0], [2, 2]);
    const out = qSample(x0, [0, 999], noise).arraySync();
    const ab0 = defaultSchedule.alphaBars[0]!;
    const ab1 = defaultSchedule.alphaBars[999]!;
    expect(out[0]![0]).toBeCloseTo(Math.sqrt(ab0) * 1 + Math.sqrt(1 - ab0) * 0.5, 6);
    expect(out[0]![1]).toBeCloseTo(Math.sqrt(ab0) * 2 - Math.sqrt(1 - ab0), 6);
    expect(out[1]![0]).toBeCloseTo(Math.sqrt(ab1) * 3 + Math.sqrt(1 - ab1) * 2, 6);
    expect(out[1]![1]).toBeCloseTo(Math.sqrt(ab1) * 4, 6);
    tf.dispose([x0, noise]);
  });

  it('rejects steps outside [0, T)', () => {
    const x = tf.zeros([1, 2]) as tf.Tensor2D;
    expect(() => qSample(x, [1000], x)).toThrow(/outside \[0, 1000\)/);
    expect(() => qSample(x, [0.5], x)).toThrow();
    x.dispose();
  });
});
