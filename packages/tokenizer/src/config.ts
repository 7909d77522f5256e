import { z } from 'zod';

/**
 * Default epsilon added to every tensor's σ.
 *
 * Why 1e-8: a tensor that is constant in every checkpoint has a float64 mean that equals the constant exactly
 * (a sum of n equal float32 values is exact in float64 for n < 2^29, and dividing it by n gives the value back), so
 * `w − μ` is exactly 0 and any positive eps gives token 0 instead of 0/0 = NaN. The eps is added in float64, where
 * it is never lost to rounding (in float32, 1 + 1e-8 would round to 1). It bounds the tokens by |w − μ| / eps, which
 * stays finite in float32 (max 3.4e38) for any |w − μ| below 3.4e30. And it moves a real σ by eps/σ: under 0.01 % for
 * every σ ≥ 1e-4, far below the spread of trained weights.
 */
export const DEFAULT_EPS = 1e-8;

export const granularitySchema = z.enum(['layer', 'network', 'channel']);
export type Granularity = z.infer<typeof granularitySchema>;

export const tokenizerConfigSchema = z
  .object({
    /** Values per token (k); at most 65,536 (the paper's largest generator uses 16,384). */
    tokenSize: z.number().int().positive().max(65_536),
    /**
     * How tensors are cut into tokens:
     * - `layer`: each tensor flattened row-major and padded with NaN to a multiple of k (the method's default);
     * - `network`: all generated tensors flattened into one stream, padded once at the end;
     * - `channel`: each tensor of 2 or more dims cut per output channel (dim 0), each channel padded to a multiple
     *   of k, so a token never mixes output channels; a 1-D tensor (a bias, BatchNorm weight/bias/stats: one value
     *   per output channel) is one channel, as in `layer`: cutting it per element would make every token one value
     *   and k − 1 padding.
     */
    granularity: granularitySchema.default('layer'),
    /** Added to the averaged σ of every tensor (see {@link DEFAULT_EPS}). */
    eps: z.number().positive().default(DEFAULT_EPS),
    /**
     * false: tokens hold the raw values (μ = 0, σ = 1, no running_var transform), so the round trip is the pure
     * layout (bit-exact). For checking layouts and for an ablation; the method normalizes.
     */
    normalize: z.boolean().default(true),
  })
  .strict();

/** The agreed config (see the package contract); `normalize` is an addition that defaults to true. */
export interface TokenizerConfig {
  tokenSize: number;
  granularity: Granularity;
  eps?: number;
  normalize?: boolean;
}

/** What {@link fitTokenizer} accepts: `granularity` may be left out (default 'layer'). */
export type TokenizerConfigInput = z.input<typeof tokenizerConfigSchema>;

/** A validated config with every default filled in; this is what a fitted state holds. */
export interface ResolvedTokenizerConfig extends TokenizerConfig {
  eps: number;
  normalize: boolean;
}

/** Validates a config and fills its defaults; throws an Error that names every bad field. */
export function resolveTokenizerConfig(config: unknown): ResolvedTokenizerConfig {
  const parsed = tokenizerConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new Error(`Invalid tokenizer config:\n${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}
