import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readSafetensorsFile, writeFileAtomic, writeSafetensorsFile } from '@rpg/core';
import { z } from 'zod';
import { tokenizerConfigSchema } from './config.js';
import { planLayout } from './layout.js';
import type { TokenizerState } from './state.js';
import { stateStructure } from './tokenize.js';

/** Files of a saved tokenizer state directory. */
export const STATE_FILE = 'tokenizer.json';
export const COPIED_FILE = 'copied.safetensors';
/** Where the CLI writes the tokens of the fitted checkpoints, next to the state. */
export const TOKENS_FILE = 'tokens.safetensors';

const STATE_FORMAT = 'rpg-tokenizer-state';
const STATE_VERSION = 1;

const stateFileSchema = z.object({
  format: z.literal(STATE_FORMAT),
  version: z.literal(STATE_VERSION),
  config: tokenizerConfigSchema,
  layout: z.array(
    z.object({
      name: z.string(),
      shape: z.array(z.number().int().nonnegative()),
      offset: z.number().int().nonnegative(),
      tokens: z.number().int().nonnegative(),
      numel: z.number().int().nonnegative(),
      transform: z.enum(['standard', 'bn-var']),
      dtype: z.enum(['F32', 'F16', 'BF16', 'F64']),
    }),
  ),
  stats: z.record(
    z.string(),
    z.object({ mean: z.number(), std: z.number().positive(), p: z.number().positive().optional() }),
  ),
  numTokens: z.number().int().nonnegative(),
  order: z.array(z.string()),
});

/** Writes `tokenizer.json` (config, layout, statistics, order) and `copied.safetensors` into `dir` (created if needed). */
export async function saveTokenizerState(dir: string, state: TokenizerState): Promise<void> {
  await mkdir(dir, { recursive: true });
  const file: z.input<typeof stateFileSchema> = {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    config: state.config,
    layout: state.layout,
    stats: state.stats,
    numTokens: state.numTokens,
    order: state.order,
  };
  // JSON keeps float64 numbers exactly (shortest round-trip form), so the statistics load back bit for bit.
  await writeFileAtomic(join(dir, STATE_FILE), `${JSON.stringify(file, null, 1)}\n`);
  await writeSafetensorsFile(join(dir, COPIED_FILE), state.copied);
}

/** Reads a state written by {@link saveTokenizerState}, validating it; errors name the file and the problem. */
export async function loadTokenizerState(dir: string): Promise<TokenizerState> {
  const path = join(dir, STATE_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read tokenizer state ${path}: ${(err as Error).message}`);
  }
  const parsed = stateFileSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${path} is not a tokenizer state:\n${z.prettifyError(parsed.error)}`);
  const { config, layout, stats, numTokens, order } = parsed.data;
  const { tensors: copied } = await readSafetensorsFile(join(dir, COPIED_FILE));
  const state: TokenizerState = { config, layout, stats, copied, numTokens, order };

  // The layout must be the one planLayout gives for these tensors, or detokenize would read the wrong rows.
  const planned = planLayout(layout, config.tokenSize, config.granularity);
  const consistent =
    planned.numTokens === numTokens &&
    planned.layout.every((e, i) => e.offset === layout[i]!.offset && e.tokens === layout[i]!.tokens) &&
    layout.every((e) => e.numel === e.shape.reduce((a, b) => a * b, 1) && stats[e.name] !== undefined) &&
    layout.every((e) => e.transform !== 'bn-var' || stats[e.name]!.p !== undefined);
  if (!consistent)
    throw new Error(`${path}: layout, statistics and numTokens do not agree; the file is damaged`);
  try {
    stateStructure(state);
  } catch (err) {
    throw new Error(`${dir}: ${(err as Error).message}`);
  }
  return state;
}
