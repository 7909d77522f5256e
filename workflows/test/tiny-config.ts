import type { PipelineConfigInput } from '../src/pipeline-config.js';

/** A pipeline small enough for a test: a linear MNIST classifier (7,850 parameters, 31 tokens of 256). */
export function tinyConfig(
  overrides: { steps?: number; checkpointEvery?: number } = {},
): PipelineConfigInput {
  return {
    name: 'tiny',
    dataset: { kind: 'mnist', seed: 0, testSize: 1000 },
    runs: 1,
    harvest: {
      network: { type: 'mlp', sizes: [784, 10] },
      seed: 0,
      epochs: 2,
      lr: 0.003,
      finalLr: 0.001,
      checkpoints: 10,
    },
    tokenizer: { tokenSize: 256, granularity: 'layer' },
    train: {
      prototype: { model: 'mamba2', d: 64, layers: 2, position: 'learnable' },
      decoder: { channels: [1, 8, 16, 8, 1], kernel: 7 },
      steps: overrides.steps ?? 300,
      lr: 0.003,
      batchSize: 4,
      diffusionBatch: 64,
      seed: 0,
      emaDecay: 0.99,
      checkpointEvery: overrides.checkpointEvery ?? 100,
    },
    generate: { count: 4, seed: 0, sampler: 'ddim', steps: 30, eta: 0.05 },
    evaluate: { sigmas: [0.05], seed: 0 },
  };
}
