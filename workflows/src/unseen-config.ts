import { datasetSpecSchema, harvestConfigSchema, numClassesOf } from '@rpg/checkpoint-harvest';
import { MAX_SEED } from '@rpg/core';
import { generateStageConfigSchema, trainStageConfigSchema } from '@rpg/diffusion-decoder';
import { splitTasks, type TaskSplit } from '@rpg/task-embedding';
import { tokenizerConfigSchema } from '@rpg/tokenizer';
import { z } from 'zod';
import {
  ConfigError,
  experimentNameSchema,
  indentedIssues,
  MAX_RUNS,
  readJsonConfig,
} from './pipeline-config.js';

/** The labelled data sets the task pipeline knows, with their class counts (a class-subset task has one bit each). */
const DATASET_CLASSES: Record<string, number> = { mnist: 10 };
/** The class-subset tasks of the largest data set known (10 classes: 2^10 − 2). */
const MAX_TASKS = 1022;

/**
 * An unseen-task experiment as data: binary class-subset tasks of one labelled data set are split into seen and
 * unseen ones; checkpoints are harvested per seen task; one generator is trained on all of them, conditioned on
 * the task embedding; it then generates networks for the unseen tasks from their embedding alone, which are
 * compared with networks trained on those tasks (and with a generator trained without the embedding).
 */
export const unseenConfigSchema = z
  .object({
    name: experimentNameSchema,
    dataset: datasetSpecSchema,
    tasks: z
      .object({
        /** Held-out tasks (the benchmark wants at least 20). */
        unseen: z.number().int().min(1).max(MAX_TASKS),
        /** Seen tasks, harvested for training. */
        seen: z.number().int().min(1).max(MAX_TASKS),
        /** Seed of the seen/unseen split. */
        seed: z.number().int().nonnegative().max(MAX_SEED).default(0),
        /** The first this many seen tasks also get generated and evaluated (the seen-task figures). */
        evaluateSeen: z.number().int().nonnegative().default(10),
      })
      .strict(),
    /** Harvest runs per task; run r of every task uses seed `harvest.seed + r`. */
    runs: z.number().int().positive().max(MAX_RUNS).default(1),
    /**
     * A base network trained once on the full labelled data set (all classes); every task's network starts from
     * its tensors of the same name and shape (the backbone). Leave out to train each task from its seeded init.
     */
    base: harvestConfigSchema.optional(),
    /** How each task's network is trained (2 outputs: negative, positive); also makes the unseen tasks' originals. */
    harvest: harvestConfigSchema,
    /**
     * Optional second reference for the unseen tasks: networks trained from a random initialisation (no base),
     * with this config.
     */
    scratch: harvestConfigSchema.optional(),
    tokenizer: tokenizerConfigSchema,
    /** `prototype.task` (the task-embedding network and its gating) is required. */
    train: trainStageConfigSchema,
    /** Models generated per evaluated task. */
    generate: generateStageConfigSchema,
    /** Also train the same generator without the task embedding and evaluate it on every task. */
    ablation: z.boolean().default(true),
  })
  .strict()
  .superRefine((c, ctx) => {
    const classes = DATASET_CLASSES[c.dataset.kind]!;
    const total = 2 ** classes - 2;
    if (c.tasks.unseen + c.tasks.seen > total) {
      ctx.addIssue({
        code: 'custom',
        path: ['tasks', 'seen'],
        message: `seen ${c.tasks.seen} + unseen ${c.tasks.unseen} is more than the ${total} tasks of ${classes} classes`,
      });
    }
    if (c.tasks.evaluateSeen > c.tasks.seen) {
      ctx.addIssue({
        code: 'custom',
        path: ['tasks', 'evaluateSeen'],
        message: `evaluateSeen ${c.tasks.evaluateSeen} is more than the ${c.tasks.seen} seen tasks`,
      });
    }
    const task = c.train.prototype.task;
    if (!task) {
      ctx.addIssue({
        code: 'custom',
        path: ['train', 'prototype', 'task'],
        message: 'a task-conditioned generator needs a task embedding, e.g. {"inputDim": 10, "gate": "head"}',
      });
    } else if (task.inputDim !== classes) {
      ctx.addIssue({
        code: 'custom',
        path: ['train', 'prototype', 'task', 'inputDim'],
        message: `inputDim must be ${classes}: one bit per class of ${c.dataset.kind}`,
      });
    }
    for (const [field, harvest] of [
      ['harvest', c.harvest],
      ['scratch', c.scratch],
    ] as const) {
      if (harvest && numClassesOf(harvest.network) !== 2) {
        ctx.addIssue({
          code: 'custom',
          path: [field, 'network'],
          message: `a binary task's network needs 2 outputs, this one has ${numClassesOf(harvest.network)}`,
        });
      }
    }
    if (c.base && numClassesOf(c.base.network) !== classes) {
      ctx.addIssue({
        code: 'custom',
        path: ['base', 'network'],
        message: `the base network learns all ${classes} classes of ${c.dataset.kind}; it has ${numClassesOf(c.base.network)} outputs`,
      });
    }
  });

export type UnseenConfig = z.output<typeof unseenConfigSchema>;
export type UnseenConfigInput = z.input<typeof unseenConfigSchema>;

/** Number of classes (bits of a task vector) of the config's data set. */
export function datasetClasses(config: Pick<UnseenConfig, 'dataset'>): number {
  return DATASET_CLASSES[config.dataset.kind]!;
}

/** The config's seen/unseen split of its data set's class-subset tasks (seeded: the same on every call). */
export function unseenSplit(config: UnseenConfig): TaskSplit {
  return splitTasks({
    numClasses: datasetClasses(config),
    unseen: config.tasks.unseen,
    seen: config.tasks.seen,
    seed: config.tasks.seed,
  });
}

/** Validates an unseen-task config; the error lists every bad field by its path (e.g. `train.prototype.task`). */
export function parseUnseenConfig(raw: unknown, source = 'config'): UnseenConfig {
  const parsed = unseenConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`${source} is not a valid unseen-task config:\n${indentedIssues(parsed.error)}`);
  }
  return parsed.data;
}

/** Reads and validates a JSON unseen-task config file. */
export async function loadUnseenConfig(path: string): Promise<UnseenConfig> {
  return parseUnseenConfig(await readJsonConfig(path), path);
}
