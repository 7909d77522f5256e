import { medianMs, Rng, tf } from '@rpg/core';
import type { PrototypeConfig } from './config.js';
import type { TokenPosition } from './position-embedding.js';
import { PrototypeModel } from './prototype-model.js';

/** Positions of `tokens` token rows cut into layers of `perLayer` rows (the last layer may be shorter). */
export function syntheticPositions(tokens: number, perLayer: number): TokenPosition[] {
  return Array.from({ length: tokens }, (_, i) => {
    const layerIndex = Math.floor(i / perLayer);
    return {
      layerIndex,
      indexInLayer: i % perLayer,
      layerTokens: Math.min(perLayer, tokens - layerIndex * perLayer),
    };
  });
}

export interface Measurement {
  model: PrototypeConfig['model'];
  parameters: number;
  /** Median wall time of one forward pass (ms), read back to the host. */
  forwardMs: number;
  /** Median wall time of forward + gradients of all variables (ms). */
  forwardBackwardMs: number;
}

/**
 * Builds a model and times it: `repeats` forward passes and `repeats` forward+backward passes (loss = a fixed
 * random projection of the prototypes) after one warm-up of each. Nothing is left allocated.
 */
export function measurePrototypeModel(
  config: PrototypeConfig,
  positions: readonly TokenPosition[],
  opts: { batch?: number; repeats?: number; seed?: number } = {},
): Measurement {
  const batch = opts.batch ?? 1;
  const repeats = opts.repeats ?? 3;
  const model = new PrototypeModel(config, positions, Math.max(batch, 1), new Rng(opts.seed ?? 0));
  const states = Array.from({ length: batch }, (_, i) => i);
  const probe = tf.randomNormal([batch, model.numTokens, model.d], 0, 1, 'float32', 1);
  const forward = () => tf.tidy(() => void model.forward(states).dataSync());
  const forwardBackward = () =>
    tf.tidy(() => {
      const { value } = tf.variableGrads(
        () => tf.sum(tf.mul(model.forward(states), probe)) as tf.Scalar,
        model.trainableVariables(),
      );
      value.dataSync();
    });
  const time = (f: () => void) => medianMs(f, repeats);
  try {
    return {
      model: model.config.model,
      parameters: model.parameterCount(),
      forwardMs: time(forward),
      forwardBackwardMs: time(forwardBackward),
    };
  } finally {
    probe.dispose();
    model.dispose();
  }
}
