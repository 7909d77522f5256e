import { sha256Hex, stableStringify } from '@rpg/core';
import { z } from 'zod';
import type { TokenizerState } from './state.js';

/**
 * What a generator must know of the tokenizer it was trained on to refuse another one: the token shape, and
 * hashes of the layout (which tensors, shapes, order) and of the normalization (statistics of those checkpoints).
 */
export const tokenizerFingerprintSchema = z
  .object({
    numTokens: z.number().int().positive(),
    tokenSize: z.number().int().positive(),
    granularity: z.string(),
    layoutSha256: z.string().regex(/^[0-9a-f]{64}$/),
    statsSha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();
export type TokenizerFingerprint = z.infer<typeof tokenizerFingerprintSchema>;

export function tokenizerFingerprint(state: TokenizerState): TokenizerFingerprint {
  const layout = state.layout.map(({ name, shape, dtype, transform }) => ({ name, shape, dtype, transform }));
  return {
    numTokens: state.numTokens,
    tokenSize: state.config.tokenSize,
    granularity: state.config.granularity,
    layoutSha256: sha256Hex(stableStringify({ layout, order: state.order })),
    statsSha256: sha256Hex(
      stableStringify({ stats: state.stats, eps: state.config.eps, normalize: state.config.normalize }),
    ),
  };
}

/** How `state` differs from the tokenizer `expected` describes, in words; undefined when it is the same. */
export function tokenizerDifference(
  expected: TokenizerFingerprint,
  state: TokenizerState,
): string | undefined {
  const actual = tokenizerFingerprint(state);
  if (actual.numTokens !== expected.numTokens || actual.tokenSize !== expected.tokenSize) {
    return (
      `it makes ${actual.numTokens} tokens of ${actual.tokenSize} values, the generator ` +
      `${expected.numTokens} tokens of ${expected.tokenSize}`
    );
  }
  if (actual.granularity !== expected.granularity || actual.layoutSha256 !== expected.layoutSha256) {
    return 'its layout differs (other tensors, shapes, order or granularity): it is another network';
  }
  if (actual.statsSha256 !== expected.statsSha256) {
    return (
      'its normalization statistics differ: it was fitted on other checkpoints, so the generated values would ' +
      'be un-normalized with the wrong mean and scale'
    );
  }
  return undefined;
}
