import { totalmem } from 'node:os';
import { Rng, tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import {
  AttentionMemoryError,
  attentionBytes,
  checkAttentionMemory,
  defaultAttentionMemoryMB,
  maxAttentionTokens,
  PrototypeModel,
  resolvePrototypeConfig,
} from '../src/index.js';
import { positions } from './helpers.js';

useBackend();

const shape = { layers: 2, heads: 4, batch: 2 };

describe('attention memory cap', () => {
  it('the estimate is quadratic in L and linear in batch; maxAttentionTokens is the last L within the cap', () => {
    const at = (len: number, batch = 2) => attentionBytes({ ...shape, batch, len });
    expect(at(2048) / at(1024)).toBe(4);
    expect(at(1024, 4) / at(1024, 2)).toBeGreaterThan(1.9);
    for (const capMB of [1, 100, 8192]) {
      const fits = maxAttentionTokens(shape, capMB);
      expect(() => checkAttentionMemory({ ...shape, len: fits }, capMB)).not.toThrow();
      expect(() => checkAttentionMemory({ ...shape, len: fits + 1 }, capMB)).toThrow(AttentionMemoryError);
    }
  });

  it('defaults to half of the machine memory', () => {
    expect(defaultAttentionMemoryMB()).toBe(Math.floor(totalmem() / 2 / 2 ** 20));
  });

  it('a transformer over 16 k tokens fails at construction, before any tensor exists, saying what to do', () => {
    const before = tf.memory().numTensors;
    let err: unknown;
    try {
      new PrototypeModel(
        { model: 'transformer', d: 16, layers: 2, position: '2d', attentionMemoryMB: 8192 },
        positions(16384, 256),
        2,
        new Rng(0),
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AttentionMemoryError);
    const e = err as AttentionMemoryError;
    // 1 sequence × 4 heads × 2 layers: 4·16384²·(4 + 4·16) bytes ≈ 68 GiB.
    expect(e.estimateBytes).toBe(4 * 16384 ** 2 * 68);
    expect(e.message).toMatch(/L = 16384 tokens needs about 68\.0 GiB/);
    expect(e.message).toMatch(/cap of 8192 MiB \(prototype\.attentionMemoryMB\)/);
    expect(e.message).toMatch(/mamba2 or lstm/);
    expect(e.message).toMatch(/larger token size/);
    expect(e.message).toMatch(/allows L ≤ \d+/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a batch over the cap fails at forward before allocating; within the cap the model runs', () => {
    // L = 64: one sequence needs ≈ 1.06 MiB, four ≈ 4.06 MiB.
    const model = new PrototypeModel(
      { model: 'transformer', d: 16, layers: 2, position: '2d', attentionMemoryMB: 2 },
      positions(64, 16),
      4,
      new Rng(0),
    );
    const y = model.forward([0]);
    expect(y.shape).toEqual([1, 64, 16]);
    y.dispose();
    const before = tf.memory().numTensors;
    expect(() => model.forward([0, 1, 2, 3])).toThrow(/4 sequence\(s\) × 4 heads × 2 layers/);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('the cap is optional config, validated, and absent when not given', () => {
    expect(resolvePrototypeConfig({ d: 8 })).not.toHaveProperty('attentionMemoryMB');
    expect(resolvePrototypeConfig({ d: 8, attentionMemoryMB: 512 }).attentionMemoryMB).toBe(512);
    expect(() => resolvePrototypeConfig({ d: 8, attentionMemoryMB: 0 })).toThrow(
      /attentionMemoryMB: attentionMemoryMB must be > 0/,
    );
  });

  it('other sequence models take any length', () => {
    const build = () =>
      new PrototypeModel(
        { model: 'none', d: 8, layers: 1, position: '2d', attentionMemoryMB: 1 },
        positions(16384, 256),
        1,
        new Rng(0),
      );
    expect(() => build().dispose()).not.toThrow();
  });
});
