import type { UnseenConfigInput } from '../src/unseen-config.js';

/**
 * An unseen-task experiment small enough for a test: 7×7 MNIST, a base MLP 49-16-10 whose first layer every task
 * keeps (frozen), a linear 16→2 head trained per task, 40 seen and 4 unseen tasks, 16 tokens of 64 values.
 */
export function tinyUnseenConfig(): UnseenConfigInput {
  const network = { type: 'mlp' as const, sizes: [49, 16, 2] };
  return {
    name: 'tiny-unseen',
    dataset: { kind: 'mnist', seed: 0, testSize: 1000, pool: 4 },
    tasks: { unseen: 4, seen: 40, seed: 0, evaluateSeen: 2 },
    base: {
      network: { type: 'mlp', sizes: [49, 16, 10] },
      seed: 0,
      epochs: 4,
      batchSize: 128,
      lr: 0.01,
      finalLr: 0.002,
      checkpoints: 1,
    },
    harvest: {
      network,
      seed: 0,
      epochs: 1,
      batchSize: 256,
      lr: 0.02,
      finalLr: 0.005,
      checkpoints: 2,
      frozen: ['0.weight', '0.bias'],
    },
    tokenizer: { tokenSize: 64, granularity: 'layer' },
    train: {
      prototype: {
        model: 'transformer',
        d: 32,
        layers: 2,
        position: 'learnable',
        task: { inputDim: 10, hidden: 32, gate: 'head', headLayers: 2 },
      },
      decoder: { channels: [1, 8, 16, 8, 1], kernel: 7, prediction: 'x0' },
      steps: 400,
      lr: 0.005,
      batchSize: 8,
      diffusionBatch: 128,
      emaDecay: 0.98,
      seed: 0,
      states: 'seed',
      checkpointEvery: 0,
    },
    generate: { count: 2, seed: 0, sampler: 'ddim', steps: 10, eta: 0 },
    ablation: true,
  };
}
