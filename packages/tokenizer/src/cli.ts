/**
 * rpg-tokenizer: checkpoints (safetensors) <-> tokens, one stage of the pipeline run by hand.
 * This file parses and validates the arguments with light imports only, so `--help` and usage errors are quick;
 * the commands (which load @rpg/core and with it tfjs) are imported once the arguments are good.
 */
import { parseToolCommand, positiveFlag, rejectFlags, runCli, UsageError } from '@rpg/core/cli-kit';
import { z } from 'zod';
import { DEFAULT_EPS, granularitySchema } from './config.js';

const HELP = `rpg-tokenizer: cut checkpoints into normalized tokens and back (RPG tokenization)

From the repository root, run it as "pnpm exec rpg-tokenizer ...".

Usage:
  rpg-tokenizer tokenize <checkpoint.safetensors | dir>... --token-size <k> --out <dir> [options]
      Fits the tokenizer on the checkpoints (every *.safetensors of a directory, in natural name order), then
      writes to <dir>: tokenizer.json (config, layout, statistics), copied.safetensors (tensors that are copied,
      not generated) and tokens.safetensors (F32 "tokens" [N, L, k], NaN = padding). Prints L, k and the padding.
      --token-size <k>        values per token (positive integer), e.g. 256
      --granularity <g>       layer (default): each tensor padded to a multiple of k
                              network: all tensors in one stream, padded once
                              channel: each output channel padded to a multiple of k
      --eps <e>               added to every tensor's σ (default ${DEFAULT_EPS})
      --no-normalize          keep raw values in the tokens (no μ/σ, no running_var transform)

  rpg-tokenizer detokenize <dir> --out <dir> [--tokens <file>]
      Reads the tokenizer state in <dir> and the tokens (default <dir>/tokens.safetensors), and writes one
      safetensors state dict per token set to --out, named after the source checkpoints when known.

  rpg-tokenizer --help
`;

const options = {
  'token-size': { type: 'string' },
  granularity: { type: 'string' },
  eps: { type: 'string' },
  'no-normalize': { type: 'boolean' },
  out: { type: 'string' },
  tokens: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const tokenizeArgsSchema = z.object({
  tokenSize: positiveFlag('token-size').refine(Number.isInteger, '--token-size must be an integer'),
  granularity: granularitySchema.default('layer'),
  eps: positiveFlag('eps').optional(),
});

async function main(argv: string[]): Promise<void> {
  const parsed = parseToolCommand(argv, options, HELP);
  if (!parsed) return;
  const { values, command, rest } = parsed;
  if (command === 'tokenize') {
    rejectFlags(values, ['tokens'], 'tokenize');
    if (rest.length === 0)
      throw new UsageError('tokenize needs checkpoint files or a directory of .safetensors');
    if (values['token-size'] === undefined) throw new UsageError('tokenize needs --token-size <k>, e.g. 256');
    if (!values.out) throw new UsageError('tokenize needs --out <dir> for the state and tokens');
    const args = tokenizeArgsSchema.safeParse({
      tokenSize: values['token-size'],
      granularity: values.granularity,
      eps: values.eps,
    });
    if (!args.success) {
      throw new UsageError(
        args.error.issues
          .map((i) => (i.path[0] === 'granularity' ? `--granularity: ${i.message}` : i.message))
          .join('; '),
      );
    }
    const { runTokenize } = await import('./commands.js');
    await runTokenize({ inputs: rest, ...args.data, normalize: !values['no-normalize'], out: values.out });
    return;
  }
  if (command === 'detokenize') {
    rejectFlags(values, ['token-size', 'granularity', 'eps', 'no-normalize'], 'detokenize');
    if (rest.length !== 1)
      throw new UsageError(`detokenize needs exactly one tokenizer directory, got ${rest.length}`);
    if (!values.out) throw new UsageError('detokenize needs --out <dir> for the state dicts');
    const { runDetokenize } = await import('./commands.js');
    await runDetokenize({
      dir: rest[0]!,
      out: values.out,
      ...(values.tokens ? { tokens: values.tokens } : {}),
    });
    return;
  }
  throw new UsageError(`unknown command "${command ?? ''}"; use "tokenize" or "detokenize"`);
}

await runCli('rpg-tokenizer', () => main(process.argv.slice(2)), { errorPrefix: 'error: ' });
