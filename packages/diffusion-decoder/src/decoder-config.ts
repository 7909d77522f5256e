import { z } from 'zod';

/** The step MLP's hidden width when training does not set one and the token is larger (see `stepHidden`). */
export const MAX_DEFAULT_STEP_HIDDEN = 1024;

/** The step MLP width training uses when none is given: k up to {@link MAX_DEFAULT_STEP_HIDDEN}, else that cap. */
export function defaultStepHidden(tokenSize: number): number | undefined {
  return tokenSize > MAX_DEFAULT_STEP_HIDDEN ? MAX_DEFAULT_STEP_HIDDEN : undefined;
}

/** The token decoder's configuration (validated once, at the edge). */
export const decoderConfigSchema = z
  .object({
    /** k: values per token (the 1D signal length). */
    tokenSize: z.number().int().positive(),
    /** Width of the prototype vectors that condition the decoder. */
    d: z.number().int().positive(),
    /** Channel widths, first and last 1, symmetric, e.g. [1, 32, 64, 128, 64, 32, 1]. */
    channels: z.array(z.number().int().positive()).min(3).default([1, 32, 64, 128, 64, 32, 1]),
    /** Convolution width (odd, so 'same' padding is symmetric as in PyTorch's padding = kernel // 2). */
    kernel: z.number().int().positive().default(7),
    /**
     * 'per-layer': every conv has its own condition Linear(d→k) and time MLP (default);
     * 'shared': one of each for the whole network.
     */
    conditioning: z.enum(['per-layer', 'shared']).default('per-layer'),
    /**
     * What the network outputs: the noise ε (RPG's default), the clean token x₀, or v = √ᾱ·ε − √(1−ᾱ)·x₀.
     * Samplers always see ε̂, converted from the output.
     */
    prediction: z.enum(['epsilon', 'x0', 'v']).default('epsilon'),
    /**
     * Hidden width h of each step MLP (Linear(256→h), SiLU, Linear(h→k)); absent: k, the method's. Its h×k weights
     * per conv are most of a large token's decoder (h = k = 4,096 with 4 convs: 67 M parameters), so training
     * defaults to at most {@link MAX_DEFAULT_STEP_HIDDEN}.
     */
    stepHidden: z.number().int().positive().max(65_536).optional(),
  })
  .superRefine((cfg, ctx) => {
    const ch = cfg.channels;
    if (ch[0] !== 1 || ch[ch.length - 1] !== 1) {
      ctx.addIssue({ code: 'custom', path: ['channels'], message: 'channels must start and end with 1' });
    }
    if (ch.length % 2 === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['channels'],
        message: 'channels needs an odd length (an even number of convs)',
      });
    }
    for (let i = 0; i < ch.length; i++) {
      if (ch[i] !== ch[ch.length - 1 - i]) {
        ctx.addIssue({
          code: 'custom',
          path: ['channels'],
          message: `channels must be symmetric, got [${ch.join(', ')}]`,
        });
        break;
      }
    }
    if (cfg.kernel % 2 === 0)
      ctx.addIssue({ code: 'custom', path: ['kernel'], message: 'kernel must be odd' });
  });

/** A resolved decoder configuration (every field present). */
export type DecoderConfig = z.infer<typeof decoderConfigSchema>;
/** What callers may pass: `channels`, `kernel` and `conditioning` have defaults. */
export type DecoderConfigInput = z.input<typeof decoderConfigSchema>;
