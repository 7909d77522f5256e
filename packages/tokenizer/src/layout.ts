import type { Granularity } from './config.js';
import type { FloatDtype, LayerLayout, TokenizerState, Transform } from './state.js';

/** A run of one tensor's values in the flat token buffer [numTokens·tokenSize]: values start .. start+length. */
export interface Segment {
  /** Index in the flat token buffer. */
  start: number;
  /** Number of real values. */
  length: number;
  /** Index in the tensor's own row-major data. */
  source: number;
}

export interface GeneratedTensor {
  name: string;
  shape: number[];
  numel: number;
  dtype: FloatDtype;
  transform: Transform;
}

/**
 * Output channels a tensor is cut into under granularity 'channel': dim 0 for 2 or more dims, else 1 (a 1-D tensor
 * already holds one value per output channel; see the config's `granularity`).
 */
export function channelCount(shape: readonly number[]): number {
  return shape.length >= 2 ? shape[0]! : 1;
}

const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/** Assigns token rows to the generated tensors, in their order. */
export function planLayout(
  tensors: readonly GeneratedTensor[],
  tokenSize: number,
  granularity: Granularity,
): { layout: LayerLayout[]; numTokens: number } {
  const layout: LayerLayout[] = [];
  if (granularity === 'network') {
    let start = 0;
    for (const t of tensors) {
      const offset = Math.floor(start / tokenSize);
      const end = start + t.numel;
      layout.push({ ...entryBase(t), offset, tokens: ceilDiv(end, tokenSize) - offset });
      start = end;
    }
    return { layout, numTokens: ceilDiv(start, tokenSize) };
  }
  let row = 0;
  for (const t of tensors) {
    const channels = granularity === 'channel' ? channelCount(t.shape) : 1;
    const tokens = channels * ceilDiv(t.numel / channels, tokenSize);
    layout.push({ ...entryBase(t), offset: row, tokens });
    row += tokens;
  }
  return { layout, numTokens: row };
}

function entryBase(t: GeneratedTensor): Omit<LayerLayout, 'offset' | 'tokens'> {
  return { name: t.name, shape: [...t.shape], numel: t.numel, transform: t.transform, dtype: t.dtype };
}

/** For every layout entry, the runs of its values in the flat token buffer (see {@link planLayout}). */
export function layoutSegments(
  layout: readonly LayerLayout[],
  tokenSize: number,
  granularity: Granularity,
): Segment[][] {
  if (granularity === 'network') {
    let start = 0;
    return layout.map((entry) => {
      const segment = { start, length: entry.numel, source: 0 };
      start += entry.numel;
      return [segment];
    });
  }
  return layout.map((entry) => {
    const channels = granularity === 'channel' ? channelCount(entry.shape) : 1;
    const perChannel = entry.numel / channels;
    const rowsPerChannel = ceilDiv(perChannel, tokenSize);
    const segments: Segment[] = [];
    for (let c = 0; c < channels; c++) {
      segments.push({
        start: (entry.offset + c * rowsPerChannel) * tokenSize,
        length: perChannel,
        source: c * perChannel,
      });
    }
    return segments;
  });
}

/** Position of one token row, for the recurrent model's position embedding. */
export interface TokenPosition {
  /** Index of the generated tensor in the layout (always 0 for granularity 'network': one stream). */
  layerIndex: number;
  /** Row index within that tensor (within the stream for 'network'). */
  indexInLayer: number;
  /** Rows of that tensor (of the stream for 'network'). */
  layerTokens: number;
}

/** One position per token row, in row order. */
export function tokenPositions(
  state: Pick<TokenizerState, 'config' | 'layout' | 'numTokens'>,
): TokenPosition[] {
  const positions: TokenPosition[] = [];
  if (state.config.granularity === 'network') {
    for (let row = 0; row < state.numTokens; row++) {
      positions.push({ layerIndex: 0, indexInLayer: row, layerTokens: state.numTokens });
    }
    return positions;
  }
  state.layout.forEach((entry, layerIndex) => {
    for (let j = 0; j < entry.tokens; j++)
      positions.push({ layerIndex, indexInLayer: j, layerTokens: entry.tokens });
  });
  return positions;
}

/** Fraction of the token values that are NaN padding. */
export function paddingFraction(state: Pick<TokenizerState, 'config' | 'layout' | 'numTokens'>): number {
  const total = state.numTokens * state.config.tokenSize;
  const real = state.layout.reduce((sum, entry) => sum + entry.numel, 0);
  return total === 0 ? 0 : 1 - real / total;
}
