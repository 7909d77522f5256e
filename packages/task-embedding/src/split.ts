import { issueLines, MAX_SEED, Rng } from '@rpg/core';
import { z } from 'zod';
import { type ClassSubsetTask, MAX_SUBSET_CLASSES, TaskError, taskFromMask } from './descriptor.js';

/**
 * Every class-subset task of `numClasses` classes: one per bit mask 1 … 2^n − 2 (all-zeros and all-ones have a
 * single label and are left out), in mask order. 10 classes give 1022 tasks.
 */
export function allClassSubsetTasks(numClasses: number): ClassSubsetTask[] {
  if (!Number.isInteger(numClasses) || numClasses < 2 || numClasses > MAX_SUBSET_CLASSES) {
    throw new TaskError(`numClasses must be an integer in [2, ${MAX_SUBSET_CLASSES}], got ${numClasses}`);
  }
  if (numClasses > 16) {
    throw new TaskError(
      `numClasses ${numClasses} gives ${2 ** numClasses - 2} tasks; enumerate at most 16 classes (65,534 tasks)`,
    );
  }
  const out: ClassSubsetTask[] = [];
  for (let mask = 1; mask < 2 ** numClasses - 1; mask++) out.push(taskFromMask(numClasses, mask));
  return out;
}

/** How the class-subset tasks of one data set are divided into seen (training) and unseen (held-out) tasks. */
export const taskSplitConfigSchema = z
  .object({
    /** Classes of the labelled data set (10 for MNIST: 1022 tasks). */
    numClasses: z
      .number({ error: 'numClasses must be a number' })
      .int('numClasses must be an integer')
      .min(2, 'numClasses must be at least 2')
      .max(16, 'numClasses must be at most 16'),
    /** Held-out tasks: the generator never sees their checkpoints. */
    unseen: z.number({ error: 'unseen must be a number' }).int('unseen must be an integer').min(1),
    /** Seen tasks to harvest checkpoints for; default all the remaining ones. */
    seen: z.number({ error: 'seen must be a number' }).int('seen must be an integer').min(1).optional(),
    seed: z
      .number({ error: 'seed must be a number' })
      .int('seed must be an integer')
      .nonnegative()
      .max(MAX_SEED, `seed must be at most ${MAX_SEED}`),
  })
  .strict()
  .superRefine((c, ctx) => {
    const total = 2 ** c.numClasses - 2;
    if (c.unseen >= total) {
      ctx.addIssue({
        code: 'custom',
        path: ['unseen'],
        message: `unseen ${c.unseen} leaves no seen task (${c.numClasses} classes have ${total} tasks)`,
      });
    } else if (c.seen !== undefined && c.unseen + c.seen > total) {
      ctx.addIssue({
        code: 'custom',
        path: ['seen'],
        message: `seen ${c.seen} + unseen ${c.unseen} is more than the ${total} tasks of ${c.numClasses} classes`,
      });
    }
  });
export type TaskSplitConfig = z.output<typeof taskSplitConfigSchema>;
export type TaskSplitConfigInput = z.input<typeof taskSplitConfigSchema>;

export interface TaskSplit {
  seen: ClassSubsetTask[];
  unseen: ClassSubsetTask[];
}

/**
 * Divides the class-subset tasks at random but reproducibly: the list of all tasks (mask order) is shuffled with
 * `Rng(seed)`; the first `unseen` are held out, the next `seen` (default: the rest) are for training. Same
 * config → the same split on every machine; a larger `seen` keeps the smaller one's tasks as its prefix.
 */
export function splitTasks(config: TaskSplitConfigInput): TaskSplit {
  const r = taskSplitConfigSchema.safeParse(config);
  if (!r.success) {
    throw new TaskError(`invalid task split: ${issueLines(r.error).join('; ')}`);
  }
  const c = r.data;
  const all = allClassSubsetTasks(c.numClasses);
  const order = new Rng(c.seed).fork('task-split').shuffle(all.map((_, i) => i));
  const unseen = order.slice(0, c.unseen).map((i) => all[i]!);
  const seenEnd = c.seen === undefined ? order.length : c.unseen + c.seen;
  const seen = order.slice(c.unseen, seenEnd).map((i) => all[i]!);
  return { seen, unseen };
}
