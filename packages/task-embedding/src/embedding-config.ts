import { z } from 'zod';
import { MAX_TASK_VECTOR } from './descriptor.js';

const positiveInt = (what: string, max: number) =>
  z
    .number({ error: `${what} must be a number` })
    .int(`${what} must be an integer`)
    .positive(`${what} must be > 0`)
    .max(max, `${what} must be at most ${max}`);

/**
 * The task-embedding network and where its output goes. The network is Linear(inputDim → hidden) → SiLU →
 * Linear(hidden → d), d being the recurrent model's width; its output is added to the recurrent model's input:
 * - `gate: 'all'`: at every token position;
 * - `gate: 'head'`: only at the tokens of the last `headLayers` layers (the classifier head: a weight and its
 *   bias are two layers), as the reference implementation does; the rest of the network is then generated
 *   the same for every task.
 */
export const taskEmbeddingConfigSchema = z
  .object({
    /** Length of the task vectors (10 for the class-subset tasks of MNIST). */
    inputDim: positiveInt('inputDim', MAX_TASK_VECTOR),
    hidden: positiveInt('hidden', 4096).default(64),
    gate: z.enum(['all', 'head'], { error: 'gate must be "all" or "head"' }).default('all'),
    /** Tokenized layers (tensors) counted as the head, from the end; used by `gate: 'head'`. */
    headLayers: positiveInt('headLayers', 10_000).default(2),
  })
  .strict();
export type TaskEmbeddingConfig = z.output<typeof taskEmbeddingConfigSchema>;
export type TaskEmbeddingConfigInput = z.input<typeof taskEmbeddingConfigSchema>;

/**
 * The weight of the task embedding at each of the L token positions: 1 everywhere for `gate: 'all'`; for
 * `gate: 'head'`, 1 at the tokens whose layer is one of the last `headLayers` layers and 0 elsewhere.
 * `layerIndices[t]` is token t's layer (the tokenizer's `layerIndex`).
 */
export function gateMask(
  config: Pick<TaskEmbeddingConfig, 'gate' | 'headLayers'>,
  layerIndices: readonly number[],
): Float32Array {
  const mask = new Float32Array(layerIndices.length).fill(1);
  if (config.gate === 'all') return mask;
  const layers = [...new Set(layerIndices)].sort((a, b) => a - b);
  if (config.headLayers >= layers.length) {
    throw new Error(
      `headLayers ${config.headLayers} covers all ${layers.length} tokenized layers: use gate "all", or fewer head layers`,
    );
  }
  const firstHead = layers[layers.length - config.headLayers]!;
  layerIndices.forEach((l, t) => {
    mask[t] = l >= firstHead ? 1 : 0;
  });
  return mask;
}
