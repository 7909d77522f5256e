import { MAX_SEED } from '@rpg/core';
import { prototypeConfigSchema } from '@rpg/recurrent-prototype';
import { z } from 'zod';
import { decoderConfigSchema } from './decoder-config.js';
import { TRAIN_DEFAULTS } from './train-defaults.js';

const decoderDefaults = TRAIN_DEFAULTS.decoder;

export const trainStageConfigSchema = z
  .object({
    prototype: prototypeConfigSchema,
    /** `tokenSize` and `d` come from the tokenizer and the prototype model. */
    decoder: z
      .object({
        channels: z
          .array(z.number().int().positive().max(4096))
          .min(3)
          .max(17)
          .default([...decoderDefaults.channels]),
        kernel: z.number().int().positive().max(63).default(decoderDefaults.kernel),
        conditioning: z.enum(['per-layer', 'shared']).default(decoderDefaults.conditioning),
        prediction: z.enum(['epsilon', 'x0', 'v']).default(decoderDefaults.prediction),
        /** The step MLP's hidden width; absent: the token size, at most 1,024 (see the decoder's `stepHidden`). */
        stepHidden: z.number().int().positive().max(65_536).optional(),
      })
      .strict()
      .superRefine((dec, ctx) => {
        // The decoder's own rules on channels and kernel; they do not depend on the sizes, given later.
        const r = decoderConfigSchema.safeParse({ ...dec, tokenSize: 1, d: 1 });
        for (const issue of r.error?.issues ?? [])
          ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
      })
      .default({ ...decoderDefaults, channels: [...decoderDefaults.channels] }),
    // Upper bounds keep a typo from running for days or allocating the machine away (the paper trains for
    // at most 120k steps, batch 16, diffusion batch 1,024).
    steps: z.number().int().positive().max(10_000_000).default(TRAIN_DEFAULTS.steps),
    lr: z.number().positive().max(1).default(TRAIN_DEFAULTS.lr),
    batchSize: z.number().int().positive().max(4096).default(TRAIN_DEFAULTS.batchSize),
    diffusionBatch: z.number().int().positive().max(65_536).default(TRAIN_DEFAULTS.diffusionBatch),
    seed: z.number().int().nonnegative().max(MAX_SEED).default(TRAIN_DEFAULTS.seed),
    weightDecay: z.number().min(0).max(1).default(TRAIN_DEFAULTS.weightDecay),
    /** Decay of the weight EMA the generator ends with (0: the last weights). */
    emaDecay: z.number().min(0).lt(1).default(TRAIN_DEFAULTS.emaDecay),
    /**
     * One permutation state per training run (default), per checkpoint, or per harvest seed (runs that started from
     * the same initial weights, e.g. run r of every task, share one).
     */
    states: z.enum(['run', 'checkpoint', 'seed']).default(TRAIN_DEFAULTS.states),
    /** Save a resume checkpoint every this many steps (0: never). */
    checkpointEvery: z.number().int().min(0).max(10_000_000).default(TRAIN_DEFAULTS.checkpointEvery),
  })
  .strict();
export type TrainStageConfig = z.output<typeof trainStageConfigSchema>;
export type TrainStageConfigInput = z.input<typeof trainStageConfigSchema>;
