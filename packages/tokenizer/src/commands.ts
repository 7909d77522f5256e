/** The CLI's commands (see cli.ts for the argument parsing). */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { terminalProgress, writeSafetensorsFile } from '@rpg/core';
import type { Granularity } from './config.js';
import { paddingFraction } from './layout.js';
import { COPIED_FILE, loadTokenizerState, STATE_FILE, TOKENS_FILE } from './state-file.js';
import { detokenize } from './tokenize.js';
import { tokenizeFiles, withCopiedOverrides } from './tokenize-files.js';
import { readTokens } from './tokens-file.js';

export interface TokenizeCommand {
  /** Checkpoint files and/or directories of *.safetensors. */
  inputs: string[];
  tokenSize: number;
  granularity: Granularity;
  eps?: number;
  normalize: boolean;
  out: string;
}

/** Fits the tokenizer on the checkpoints, writes state + tokens to `out`, prints a summary on stdout. */
export async function runTokenize(cmd: TokenizeCommand): Promise<void> {
  const files = await checkpointFiles(cmd.inputs);
  const state = await tokenizeFiles(
    files.map((path) => ({ path, name: basename(path).replace(/\.safetensors$/, '') })),
    {
      tokenSize: cmd.tokenSize,
      granularity: cmd.granularity,
      normalize: cmd.normalize,
      ...(cmd.eps === undefined ? {} : { eps: cmd.eps }),
    },
    { stateDir: cmd.out, tokensPath: join(cmd.out, TOKENS_FILE) },
    terminalProgress(),
  );

  const k = cmd.tokenSize;
  const real = state.layout.reduce((sum, e) => sum + e.numel, 0);
  const lines = [
    `checkpoints: ${files.length}`,
    `tensors: ${state.layout.length} generated, ${state.copied.size} copied`,
    `L = ${state.numTokens} tokens, k = ${k} (granularity ${cmd.granularity})`,
    `values: ${real} real of ${state.numTokens * k}, padding fraction ${(paddingFraction(state) * 100).toFixed(2)}%`,
    `wrote ${join(cmd.out, STATE_FILE)}, ${join(cmd.out, COPIED_FILE)}, ${join(cmd.out, TOKENS_FILE)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

export interface DetokenizeCommand {
  /** A directory written by runTokenize (or saveTokenizerState). */
  dir: string;
  /** Tokens file; default `<dir>/tokens.safetensors`. */
  tokens?: string;
  out: string;
}

/** Writes one safetensors state dict per token set of the tokens file into `out`. */
export async function runDetokenize(cmd: DetokenizeCommand): Promise<void> {
  const state = await loadTokenizerState(cmd.dir);
  const tokens = await readTokens(cmd.tokens ?? join(cmd.dir, TOKENS_FILE), state);
  const names = outputNames(tokens.names, tokens.count);
  await mkdir(cmd.out, { recursive: true });
  const progress = terminalProgress();
  for (const [i, row] of tokens.rows.entries()) {
    const sd = withCopiedOverrides(detokenize(state, row), tokens.copied?.[String(i)]);
    await writeSafetensorsFile(join(cmd.out, `${names[i]}.safetensors`), sd);
    progress({ stage: 'detokenize', step: i + 1, total: tokens.count });
  }
  process.stdout.write(`wrote ${tokens.count} state dicts to ${cmd.out}\n`);
}

/** The source names when they are safe, distinct file names; else checkpoint-000, checkpoint-001, ... */
function outputNames(names: string[] | undefined, count: number): string[] {
  const safe = (n: string) => /^[\w.-]+$/.test(n) && n !== '.' && n !== '..';
  if (names?.every(safe) && new Set(names).size === names.length) return names;
  const width = Math.max(3, String(count - 1).length);
  return Array.from({ length: count }, (_, i) => `checkpoint-${String(i).padStart(width, '0')}`);
}

const naturalOrder = new Intl.Collator('en', { numeric: true }).compare;

/** Files as given; a directory contributes its *.safetensors in natural name order (ckpt-2 before ckpt-10). */
async function checkpointFiles(inputs: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const input of inputs) {
    let isDirectory: boolean;
    try {
      isDirectory = (await stat(input)).isDirectory();
    } catch {
      throw new Error(`cannot read ${input}: no such file or directory`);
    }
    if (!isDirectory) {
      files.push(input);
      continue;
    }
    const found = (await readdir(input)).filter((f) => f.endsWith('.safetensors')).sort(naturalOrder);
    if (found.length === 0) throw new Error(`directory ${input} has no .safetensors files`);
    files.push(...found.map((f) => join(input, f)));
  }
  return files;
}
