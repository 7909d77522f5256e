import { Rng, tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { gateMask, taskEmbeddingConfigSchema } from '../src/embedding-config.js';
import { type ParamRegistry, TaskEmbedding } from '../src/embedding-net.js';

useBackend();

describe('task-embedding network', () => {
  it('maps [B, inputDim] task vectors to [B, d] embeddings, one row per task', () => {
    const config = taskEmbeddingConfigSchema.parse({ inputDim: 10, hidden: 16 });
    const net = new TaskEmbedding(config, 24, new Rng(0));
    try {
      const tasks = tf.tensor2d(
        [
          [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
          [0, 1, 1, 0, 0, 0, 0, 0, 0, 1],
          [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ],
        [3, 10],
      );
      const out = net.forward(tasks);
      expect(out.shape).toEqual([3, 24]);
      const rows = out.arraySync();
      expect(rows[0]).toEqual(rows[2]);
      expect(rows[0]).not.toEqual(rows[1]);
      tf.dispose([tasks, out]);
    } finally {
      net.dispose();
    }
  });

  it('registers Linear → SiLU → Linear weights under PyTorch names, [in, out], seeded', () => {
    const shapes = new Map<string, number[]>();
    const values = new Map<string, Float32Array>();
    const registry: ParamRegistry = {
      add: (name, shape, data) => {
        shapes.set(name, shape);
        values.set(name, data);
        return tf.variable(tf.tensor(data, shape));
      },
    };
    const config = taskEmbeddingConfigSchema.parse({ inputDim: 10, hidden: 32 });
    const net = new TaskEmbedding(config, 64, new Rng(5), registry, 'task.');
    expect(Object.fromEntries(shapes)).toEqual({
      'task.0.weight': [10, 32],
      'task.0.bias': [32],
      'task.2.weight': [32, 64],
      'task.2.bias': [64],
    });
    // PyTorch's Linear init: |w| ≤ 1/√fan_in.
    expect(Math.max(...values.get('task.0.weight')!.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(10));
    expect(Math.max(...values.get('task.2.weight')!.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(32));
    const again = new Map<string, Float32Array>();
    new TaskEmbedding(config, 64, new Rng(5), {
      add: (n, s, d) => {
        again.set(n, d);
        return tf.variable(tf.tensor(d, s));
      },
    });
    expect(again.get('task.2.weight')).toEqual(values.get('task.2.weight'));
    net.dispose();
  });

  it('refuses task vectors of the wrong width', () => {
    const net = new TaskEmbedding(taskEmbeddingConfigSchema.parse({ inputDim: 10 }), 8, new Rng(0));
    const wrong = tf.zeros([2, 9]) as tf.Tensor2D;
    expect(() => net.forward(wrong)).toThrow(/task vectors must be \[B, 10\], got \[2,9\]/);
    wrong.dispose();
    net.dispose();
  });
});

describe('gating', () => {
  // Layers of an MLP 196-32-2 cut into tokens: 0.weight (25 tokens), 0.bias, 2.weight, 2.bias.
  const layerIndices = [...Array.from({ length: 25 }, () => 0), 1, 2, 3];

  it('puts the embedding at every token for gate "all"', () => {
    expect(Array.from(gateMask({ gate: 'all', headLayers: 2 }, layerIndices))).toEqual(
      layerIndices.map(() => 1),
    );
  });

  it('puts it at the last headLayers layers only for gate "head"', () => {
    const mask = Array.from(gateMask({ gate: 'head', headLayers: 2 }, layerIndices));
    expect(mask.slice(0, 26)).toEqual(Array.from({ length: 26 }, () => 0));
    expect(mask.slice(26)).toEqual([1, 1]);
    const three = Array.from(gateMask({ gate: 'head', headLayers: 3 }, layerIndices));
    expect(three.filter((v) => v === 1)).toHaveLength(3);
  });

  it('refuses a head that covers the whole network', () => {
    expect(() => gateMask({ gate: 'head', headLayers: 4 }, layerIndices)).toThrow(
      /covers all 4 tokenized layers/,
    );
  });

  it('validates the config with the field named', () => {
    expect(taskEmbeddingConfigSchema.parse({ inputDim: 10 })).toEqual({
      inputDim: 10,
      hidden: 64,
      gate: 'all',
      headLayers: 2,
    });
    const r = taskEmbeddingConfigSchema.safeParse({ inputDim: 10, gate: 'tail' });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['gate']);
    expect(r.error?.issues[0]?.message).toBe('gate must be "all" or "head"');
  });
});
