import type { PipelineConfigInput } from '../src/pipeline-config.js';

/**
 * A residual pipeline small enough for a test: a ResNet on 7×7 MNIST (stem 3×3 → 8, one identity block at 8,
 * one projection block to 16 at stride 2; 5,122 parameters, 10 BatchNorms), one run of 8 checkpoints.
 */
export function tinyResnetConfig(): PipelineConfigInput {
  return {
    name: 'tiny-resnet',
    dataset: { kind: 'mnist', seed: 0, testSize: 1000, pool: 4 },
    runs: 1,
    harvest: {
      network: {
        type: 'resnet',
        inputShape: [7, 7, 1],
        stem: { out: 8, kernel: 3, padding: 1 },
        stages: [
          { out: 8, blocks: 1 },
          { out: 16, blocks: 1, stride: 2 },
        ],
        numClasses: 10,
      },
      seed: 0,
      epochs: 2,
      lr: 0.003,
      finalLr: 0.0003,
      checkpoints: 8,
    },
    tokenizer: { tokenSize: 128, granularity: 'layer' },
    train: {
      prototype: { model: 'mamba2', d: 64, layers: 2, position: 'learnable' },
      decoder: { channels: [1, 8, 16, 8, 1], kernel: 7, prediction: 'v' },
      steps: 400,
      lr: 0.003,
      batchSize: 4,
      diffusionBatch: 64,
      seed: 0,
      emaDecay: 0.99,
      checkpointEvery: 200,
    },
    generate: { count: 4, seed: 0, sampler: 'ddim', steps: 30, eta: 0.05 },
    evaluate: { sigmas: [0.05], seed: 0 },
  };
}
