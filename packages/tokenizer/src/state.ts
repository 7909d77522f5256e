import type { StateDict } from '@rpg/core';
import type { ResolvedTokenizerConfig } from './config.js';

/** How a generated tensor's values are mapped before standardizing. */
export type Transform = 'standard' | 'bn-var';

/** The dtypes a generated tensor can have. */
export type FloatDtype = 'F32' | 'F16' | 'BF16' | 'F64';

/** Where one generated tensor lives in the token matrix [numTokens, tokenSize]. */
export interface LayerLayout {
  /** State-dict name. */
  name: string;
  shape: number[];
  /**
   * First token row holding this tensor's values. For granularity 'network' tensors share rows: this is the row of
   * its first value, and a tensor may start in the middle of it.
   */
  offset: number;
  /** Token rows holding this tensor's values (for 'network': rows it touches, which may be shared). */
  tokens: number;
  /** Number of real (non-padding) values: product of `shape`. */
  numel: number;
  transform: Transform;
  /** Floating dtype of the original tensor (an addition to the contract), so detokenize gives it back. */
  dtype: FloatDtype;
}

/**
 * Normalization of one generated tensor: standard `x = (w − mean)/std`; bn-var
 * `x = (log(w/p + 0.05) − mean)/std`. `std` is the averaged σ plus eps, i.e. the divisor actually used.
 */
export interface TensorStats {
  mean: number;
  std: number;
  p?: number;
}

export interface TokenizerState {
  config: ResolvedTokenizerConfig;
  /** The generated tensors, in the model's own order. */
  layout: LayerLayout[];
  /** By tensor name, one per generated tensor. */
  stats: Record<string, TensorStats>;
  /** Tensors that are not generated (non-float, 1 element or less, BatchNorm num_batches_tracked), from the first checkpoint. */
  copied: StateDict;
  /** L: token rows per checkpoint. */
  numTokens: number;
  /** Every tensor name (generated and copied) in the original order (an addition to the contract). */
  order: string[];
}
