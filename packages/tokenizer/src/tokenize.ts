import { numel, type SafetensorsDtype, type StateDict, type TensorEntry } from '@rpg/core';
import { checkBnVarDomain, checkFinite, checkSameStructure } from './checks.js';
import { layoutSegments } from './layout.js';
import type { TokenizerState } from './state.js';
import { decodeRun, encodeRun } from './transform.js';

/** The names, shapes and dtypes of every tensor the state was fitted on, in the original order. */
export function stateStructure(
  state: TokenizerState,
): Map<string, { shape: number[]; dtype: SafetensorsDtype }> {
  const known = new Map<string, { shape: number[]; dtype: SafetensorsDtype }>();
  for (const entry of state.layout) known.set(entry.name, { shape: entry.shape, dtype: entry.dtype });
  for (const [name, entry] of state.copied) known.set(name, { shape: entry.shape, dtype: entry.dtype });
  const ordered = new Map<string, { shape: number[]; dtype: SafetensorsDtype }>();
  for (const name of state.order) {
    const entry = known.get(name);
    if (!entry)
      throw new Error(
        `tokenizer state lists tensor "${name}" in its order but neither generates nor copies it`,
      );
    ordered.set(name, entry);
  }
  if (ordered.size !== known.size) {
    throw new Error('tokenizer state: its order does not list every generated and copied tensor');
  }
  return ordered;
}

/**
 * One checkpoint → normalized tokens, row-major [numTokens, tokenSize], NaN in the padding. The checkpoint must have
 * the tensors (names, shapes, dtypes) the tokenizer was fitted on.
 */
export function tokenize(state: TokenizerState, ckpt: StateDict, where = 'checkpoint'): Float32Array {
  checkSameStructure(stateStructure(state), ckpt, where, 'the fitted tokenizer');
  const k = state.config.tokenSize;
  const out = new Float32Array(state.numTokens * k).fill(Number.NaN);
  const segments = layoutSegments(state.layout, k, state.config.granularity);
  state.layout.forEach((entry, i) => {
    const data = ckpt.get(entry.name)!.data as Float32Array | Float64Array;
    checkFinite(data, entry.name, where);
    const stats = state.stats[entry.name];
    if (!stats) throw new Error(`tokenizer state has no statistics for "${entry.name}"`);
    if (entry.transform === 'bn-var') checkBnVarDomain(entry.name, data, stats.p!, where);
    for (const s of segments[i]!) encodeRun(data, s.source, s.length, out, s.start, stats, entry.transform);
  });
  return out;
}

/**
 * Tokens [numTokens·tokenSize] → a full state dict: generated tensors un-normalized from their real positions
 * (padding is ignored), copied tensors from the state, all in the original order.
 */
export function detokenize(state: TokenizerState, tokens: Float32Array): StateDict {
  const k = state.config.tokenSize;
  if (!(tokens instanceof Float32Array) || tokens.length !== state.numTokens * k) {
    throw new Error(
      `detokenize needs a Float32Array of ${state.numTokens}·${k} = ${state.numTokens * k} values, got ` +
        `${tokens instanceof Float32Array ? tokens.length : typeof tokens}`,
    );
  }
  const segments = layoutSegments(state.layout, k, state.config.granularity);
  const generated = new Map<string, TensorEntry>();
  state.layout.forEach((entry, i) => {
    const stats = state.stats[entry.name];
    if (!stats) throw new Error(`tokenizer state has no statistics for "${entry.name}"`);
    const data = new Float32Array(numel(entry.shape));
    for (const s of segments[i]!)
      decodeRun(tokens, s.start, s.length, data, s.source, stats, entry.transform);
    generated.set(entry.name, { dtype: entry.dtype, shape: [...entry.shape], data });
  });
  const out: StateDict = new Map();
  for (const name of state.order) {
    const entry = generated.get(name) ?? state.copied.get(name);
    if (!entry) throw new Error(`tokenizer state lists tensor "${name}" but neither generates nor copies it`);
    out.set(
      name,
      generated.has(name) ? entry : { dtype: entry.dtype, shape: [...entry.shape], data: entry.data.slice() },
    );
  }
  return out;
}

/** 1 where a token value is real, 0 where it is NaN padding. */
export function paddingMask(tokens: Float32Array): Float32Array {
  const mask = new Float32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) mask[i] = Number.isNaN(tokens[i]!) ? 0 : 1;
  return mask;
}
