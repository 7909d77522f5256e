import { MAX_SEED } from '@rpg/core';
import { z } from 'zod';
import { countParameters, describeSpec, networkSpecSchema } from './networks.js';

/**
 * Upper bounds of a harvest config (the README lists them): each far above what a target network of RPG needs,
 * each far below what would train for days or exhaust memory.
 */
export const HARVEST_LIMITS = {
  epochs: 10_000,
  batchSize: 65_536,
  checkpoints: 100_000,
  lr: 10,
  weightDecay: 1,
  frozen: 10_000,
  /** Parameters of the target network (every checkpoint is this many floats). */
  parameters: 100_000_000,
} as const;

/**
 * Everything that determines a harvest run's numbers except the data set (which is named separately): this is
 * JSON, so it can go into artifact keys and manifests.
 */
export const harvestConfigSchema = z
  .object({
    network: networkSpecSchema,
    seed: z.number().int().nonnegative().max(MAX_SEED),
    /** Training epochs before the collection epoch (the LR decays over these). 0 = collect from the init. */
    epochs: z.number().int().nonnegative().max(HARVEST_LIMITS.epochs),
    batchSize: z.number().int().positive().max(HARVEST_LIMITS.batchSize).default(64),
    lr: z.number().positive().max(HARVEST_LIMITS.lr).default(1e-3),
    optimizer: z.enum(['sgd', 'adam']).default('adam'),
    /** SGD momentum (PyTorch semantics: v = m·v + g, p −= lr·v). Ignored by Adam. */
    momentum: z.number().min(0).lt(1).default(0),
    /** L2 penalty added to the gradient of every trainable tensor (PyTorch `weight_decay`, coupled). */
    weightDecay: z.number().nonnegative().max(HARVEST_LIMITS.weightDecay).default(0),
    /**
     * LR over the training epochs, per step: 'cosine' from lr to finalLr; 'step' ×√(finalLr/lr) at 50% and
     * again at 75% of the steps; 'constant' keeps lr (finalLr must then be left out or equal lr).
     */
    schedule: z.enum(['cosine', 'step', 'constant']).default('cosine'),
    /** LR of the collection epoch; default lr/10 (lr for 'constant'). */
    finalLr: z.number().positive().max(HARVEST_LIMITS.lr).optional(),
    /** State dicts saved, evenly spaced across the collection epoch (the last one at its end). */
    checkpoints: z.number().int().positive().max(HARVEST_LIMITS.checkpoints).default(50),
    /** Batch size for test-set evaluation (does not change the numbers beyond float round-off). */
    evalBatchSize: z.number().int().positive().max(HARVEST_LIMITS.batchSize).default(1000),
    /**
     * Tensors that keep their initial values (e.g. a backbone taken over from a base network, so only the head
     * learns). No default, so configs without it keep their exact form and artifact keys.
     */
    frozen: z.array(z.string().min(1).max(256)).max(HARVEST_LIMITS.frozen).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const parameters = countParameters(c.network);
    if (parameters > HARVEST_LIMITS.parameters) {
      ctx.addIssue({
        code: 'custom',
        path: ['network'],
        message: `${describeSpec(c.network)} has ${parameters} parameters, more than the ${HARVEST_LIMITS.parameters} a harvest takes`,
      });
    }
    if (c.schedule === 'constant' && c.finalLr !== undefined && c.finalLr !== c.lr) {
      ctx.addIssue({
        code: 'custom',
        path: ['finalLr'],
        message: "schedule 'constant' keeps lr; leave finalLr out",
      });
    }
  });

export type HarvestConfigInput = z.input<typeof harvestConfigSchema>;
export type HarvestConfig = z.output<typeof harvestConfigSchema>;
