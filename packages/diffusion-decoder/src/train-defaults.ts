/**
 * The defaults of the train stage: one table for the pipeline's `train` section and for `rpg-diffusion-decoder
 * train` (which takes the same section, its keys as flags). The prototype model's defaults are those of its own
 * schema; its width `d` has none (the CLI falls back to the token size).
 *
 * No imports: the CLI's help prints these without loading the library.
 */
export const TRAIN_DEFAULTS = Object.freeze({
  decoder: Object.freeze({
    channels: Object.freeze([1, 32, 64, 128, 64, 32, 1]),
    kernel: 7,
    conditioning: 'per-layer',
    prediction: 'epsilon',
  } as const),
  steps: 1200,
  lr: 0.002,
  batchSize: 8,
  diffusionBatch: 256,
  seed: 0,
  weightDecay: 0,
  emaDecay: 0.995,
  states: 'run',
  checkpointEvery: 250,
} as const);
