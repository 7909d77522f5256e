import { issueLines } from '@rpg/core';
import { InputError } from '@rpg/core/input-error';
import { z } from 'zod';

/** Largest class count of a class-subset task: a subset is kept as a bit mask in one 32-bit integer. */
export const MAX_SUBSET_CLASSES = 30;
/** Longest task vector (a feature task's `values`, the embedding's `inputDim`). */
export const MAX_TASK_VECTOR = 4096;

/**
 * A binary task over a labelled data set: an example is positive (label 1) when its class is in `positive`,
 * negative (label 0) otherwise. Its vector is `numClasses` bits, bit c = 1 when class c is positive. A subset
 * that is empty or holds every class has one label only and is rejected.
 */
export const classSubsetTaskSchema = z
  .object({
    kind: z.literal('class-subset'),
    numClasses: z
      .number({ error: 'numClasses must be a number' })
      .int('numClasses must be an integer')
      .min(2, 'numClasses must be at least 2')
      .max(MAX_SUBSET_CLASSES, `numClasses must be at most ${MAX_SUBSET_CLASSES}`),
    /** The positive classes, ascending, each once. */
    positive: z
      .array(z.number({ error: 'positive must hold class numbers' }).int('classes are integers'))
      .max(MAX_SUBSET_CLASSES, `positive holds at most ${MAX_SUBSET_CLASSES} classes`),
  })
  .strict()
  .superRefine((t, ctx) => {
    t.positive.forEach((c, i) => {
      if (c < 0 || c >= t.numClasses) {
        ctx.addIssue({
          code: 'custom',
          path: ['positive', i],
          message: `class ${c} is outside [0, ${t.numClasses})`,
        });
      } else if (i > 0 && c <= t.positive[i - 1]!) {
        ctx.addIssue({
          code: 'custom',
          path: ['positive', i],
          message: `classes must be ascending and distinct (${t.positive[i - 1]} then ${c})`,
        });
      }
    });
    if (t.positive.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['positive'],
        message: 'no positive class: the task would have one label only',
      });
    } else if (t.positive.length >= t.numClasses) {
      ctx.addIssue({
        code: 'custom',
        path: ['positive'],
        message: `every class is positive: the task would have one label only (leave at least one of ${t.numClasses} out)`,
      });
    }
  });
export type ClassSubsetTask = z.infer<typeof classSubsetTaskSchema>;

/**
 * Any other task, described by a fixed-length vector of features (e.g. statistics of a data set). The generator
 * only sees the vector; `name` identifies the task in reports and artifact keys.
 */
export const vectorTaskSchema = z
  .object({
    kind: z.literal('vector'),
    name: z
      .string({ error: 'name must be a string' })
      .max(128, 'name: at most 128 characters')
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'name: letters, digits, ".", "_" and "-" only'),
    values: z
      .array(z.number({ error: 'values must be numbers' }).refine(Number.isFinite, 'values must be finite'))
      .min(1, 'values must not be empty')
      .max(MAX_TASK_VECTOR, `values: at most ${MAX_TASK_VECTOR} numbers`),
  })
  .strict();
export type VectorTask = z.infer<typeof vectorTaskSchema>;

export const taskDescriptorSchema = z.discriminatedUnion('kind', [classSubsetTaskSchema, vectorTaskSchema], {
  error: (issue) =>
    issue.code === 'invalid_union' ? 'kind must be "class-subset" or "vector"' : 'a task must be an object',
});
export type TaskDescriptor = z.infer<typeof taskDescriptorSchema>;

export class TaskError extends InputError {
  override readonly name = 'TaskError';
}

/** Validates an untrusted descriptor; the error names every bad field, e.g. `positive.2: class 12 is outside [0, 10)`. */
export function parseTaskDescriptor(raw: unknown, source = 'task'): TaskDescriptor {
  const r = taskDescriptorSchema.safeParse(raw);
  if (!r.success) {
    throw new TaskError(`${source} is not a valid task descriptor: ${issueLines(r.error).join('; ')}`);
  }
  return r.data;
}

/** Length of the task's vector (the task-embedding network's input width). */
export function taskInputDim(task: TaskDescriptor): number {
  return task.kind === 'class-subset' ? task.numClasses : task.values.length;
}

/** The vector the embedding network reads: the subset's bits (class 0 first), or the given values. */
export function taskVector(task: TaskDescriptor): Float32Array {
  if (task.kind === 'vector') return Float32Array.from(task.values);
  const v = new Float32Array(task.numClasses);
  for (const c of task.positive) v[c] = 1;
  return v;
}

/** The subset's bits as text, class 0 first: `{1, 3}` of 10 classes is `0101000000`. */
export function subsetBits(task: ClassSubsetTask): string {
  return Array.from(taskVector(task), (b) => (b ? '1' : '0')).join('');
}

/** A short stable name, usable in file names and artifact keys: `subset-0101000000` or `vector-<name>`. */
export function taskId(task: TaskDescriptor): string {
  return task.kind === 'class-subset' ? `subset-${subsetBits(task)}` : `vector-${task.name}`;
}

/** The class-subset task of `numClasses` classes whose bit mask is `mask` (bit c = class c positive). */
export function taskFromMask(numClasses: number, mask: number): ClassSubsetTask {
  const positive: number[] = [];
  for (let c = 0; c < numClasses; c++) if ((mask >>> c) & 1) positive.push(c);
  return classSubsetTaskSchema.parse({ kind: 'class-subset', numClasses, positive });
}

/** The bit mask of a class-subset task (inverse of {@link taskFromMask}). */
export function taskMask(task: ClassSubsetTask): number {
  return task.positive.reduce((m, c) => (m | (1 << c)) >>> 0, 0);
}

/**
 * The new label of every original class under a class-subset task: `labels[c]` is 1 for a positive class,
 * 0 otherwise (what a binary data set for the task uses).
 */
export function subsetLabelMap(task: ClassSubsetTask): Int32Array {
  const labels = new Int32Array(task.numClasses);
  for (const c of task.positive) labels[c] = 1;
  return labels;
}
