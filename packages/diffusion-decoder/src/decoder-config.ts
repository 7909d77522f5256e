import { z } from 'zod';

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
