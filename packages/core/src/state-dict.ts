import type { TensorEntry } from './safetensors.js';

/**
 * A network's parameters and buffers by PyTorch state-dict name (`0.weight`, `bn.running_var`, ...), in the
 * model's own order. This is what checkpoints, the tokenizer and the evaluator exchange.
 */
export type StateDict = Map<string, TensorEntry>;

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
