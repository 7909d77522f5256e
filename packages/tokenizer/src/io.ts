import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readSafetensorsFile, writeSafetensorsFile } from '@rpg/core';
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
/** Name of the one tensor of a tokens file. */
export const TOKENS_TENSOR = 'tokens';

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

export interface TokensFile {
  /** All token rows, row-major [count, numTokens, tokenSize], NaN in the padding. */
  tokens: Float32Array;
  count: number;
  numTokens: number;
  tokenSize: number;
  /** One view [numTokens·tokenSize] per checkpoint (no copy). */
  rows: Float32Array[];
  /** Names given to writeTokens (e.g. the source checkpoints' file names), if any. */
  names?: string[];
}

/**
 * Writes token sets (each [numTokens·tokenSize], from {@link tokenize}) as one safetensors file with one F32 tensor
 * `tokens` [N, numTokens, tokenSize]; NaN padding is kept. `names` (one per set) go into the metadata.
 */
export async function writeTokens(
  path: string,
  tokens: Float32Array[],
  state: TokenizerState,
  options: { names?: string[] } = {},
): Promise<void> {
  const rowLength = state.numTokens * state.config.tokenSize;
  tokens.forEach((t, i) => {
    if (!(t instanceof Float32Array) || t.length !== rowLength) {
      throw new Error(
        `writeTokens: token set ${i} must be a Float32Array of ${state.numTokens}·${state.config.tokenSize} = ` +
          `${rowLength} values, got ${t instanceof Float32Array ? t.length : typeof t}`,
      );
    }
  });
  if (options.names && options.names.length !== tokens.length) {
    throw new Error(`writeTokens: ${options.names.length} names for ${tokens.length} token sets`);
  }
  const data = new Float32Array(tokens.length * rowLength);
  for (const [i, t] of tokens.entries()) data.set(t, i * rowLength);
  const metadata: Record<string, string> = {
    format: 'rpg-tokens',
    numTokens: String(state.numTokens),
    tokenSize: String(state.config.tokenSize),
    granularity: state.config.granularity,
  };
  if (options.names) metadata.names = JSON.stringify(options.names);
  await writeSafetensorsFile(
    path,
    [
      [
        TOKENS_TENSOR,
        { dtype: 'F32', shape: [tokens.length, state.numTokens, state.config.tokenSize], data },
      ],
    ],
    metadata,
  );
}

/** Reads a file written by {@link writeTokens}; with `state`, also checks that its rows fit that tokenizer. */
export async function readTokens(path: string, state?: TokenizerState): Promise<TokensFile> {
  const { tensors, metadata } = await readSafetensorsFile(path);
  const entry = tensors.get(TOKENS_TENSOR);
  if (entry?.dtype !== 'F32' || entry.shape.length !== 3 || !(entry.data instanceof Float32Array)) {
    throw new Error(`${path}: expected an F32 tensor "${TOKENS_TENSOR}" of shape [N, L, k]`);
  }
  const [count, numTokens, tokenSize] = entry.shape as [number, number, number];
  if (state && (numTokens !== state.numTokens || tokenSize !== state.config.tokenSize)) {
    throw new Error(
      `${path}: tokens are [${count}, ${numTokens}, ${tokenSize}] but the tokenizer makes ` +
        `[N, ${state.numTokens}, ${state.config.tokenSize}]`,
    );
  }
  const tokens = entry.data;
  const rowLength = numTokens * tokenSize;
  const rows = Array.from({ length: count }, (_, i) => tokens.subarray(i * rowLength, (i + 1) * rowLength));
  const result: TokensFile = { tokens, count, numTokens, tokenSize, rows };
  if (metadata.names !== undefined) {
    const names = z.array(z.string()).length(count).safeParse(safeJson(metadata.names));
    if (names.success) result.names = names.data;
  }
  return result;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  await writeFile(tmp, text, { flush: true });
  await rename(tmp, path);
}
