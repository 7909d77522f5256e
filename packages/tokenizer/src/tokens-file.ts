/**
 * The tokens file: one safetensors file with one F32 tensor `tokens` [N, L, k] (NaN in the padding) and the
 * source names in its metadata. Written one checkpoint at a time and read one token row at a time, so neither
 * side ever holds the tokens of all checkpoints: memory stays flat in their number.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { SafetensorsFile, SafetensorsStreamWriter } from '@rpg/core';
import { z } from 'zod';
import type { TokenizerState } from './state.js';

/** Name of the one tensor of a tokens file. */
export const TOKENS_TENSOR = 'tokens';

/** Largest single read (the read system call moves at most about 2 GiB at once). */
const MAX_READ_BYTES = 1 << 30;
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Per checkpoint (by index), the values of copied tensors that differ from the first checkpoint's, as strings (BatchNorm
 * `num_batches_tracked` counts the batches each checkpoint has seen). Detokenizing a training checkpoint restores
 * its own; generated models get the first checkpoint's.
 */
export type CopiedOverrides = Record<string, Record<string, string[]>>;
const copiedOverridesSchema = z.record(z.string(), z.record(z.string(), z.array(z.string())));

/** Where training reads token rows from: a tokens file, or rows in memory. */
export interface TokenRows {
  /** N: checkpoints. */
  count: number;
  /** L: token rows per checkpoint. */
  numTokens: number;
  /** k: values per token. */
  tokenSize: number;
  /** Copies row `position` of checkpoint `checkpoint` (k values, NaN in padding) into `out` at `outOffset`. */
  readRow(checkpoint: number, position: number, out: Float32Array, outOffset: number): void;
}

/** Token rows held in memory, [count, numTokens, tokenSize] row-major. */
export function tokenRowsInMemory(
  tokens: Float32Array,
  count: number,
  numTokens: number,
  tokenSize: number,
): TokenRows {
  if (tokens.length !== count * numTokens * tokenSize) {
    throw new Error(
      `tokens has ${tokens.length} values, expected count·L·k = ${count}·${numTokens}·${tokenSize}`,
    );
  }
  return {
    count,
    numTokens,
    tokenSize,
    readRow(checkpoint, position, out, outOffset) {
      const start = (checkpoint * numTokens + position) * tokenSize;
      out.set(tokens.subarray(start, start + tokenSize), outOffset);
    },
  };
}

/** Writes a tokens file checkpoint by checkpoint; the file appears only when `close` succeeds. */
export class TokensWriter {
  private written = 0;

  private constructor(
    readonly path: string,
    private readonly writer: SafetensorsStreamWriter,
    private readonly rowLength: number,
    readonly count: number,
  ) {}

  /** Opens `path` for `count` checkpoints tokenized by `state`; `names` (one per checkpoint) go into the metadata. */
  static async open(
    path: string,
    state: Pick<TokenizerState, 'numTokens' | 'config'>,
    count: number,
    options: { names?: string[]; copied?: CopiedOverrides } = {},
  ): Promise<TokensWriter> {
    if (!Number.isInteger(count) || count < 1)
      throw new Error(`a tokens file needs ≥ 1 checkpoint, got ${count}`);
    if (options.names && options.names.length !== count) {
      throw new Error(`writeTokens: ${options.names.length} names for ${count} token sets`);
    }
    const { numTokens } = state;
    const k = state.config.tokenSize;
    const metadata: Record<string, string> = {
      format: 'rpg-tokens',
      numTokens: String(numTokens),
      tokenSize: String(k),
      granularity: state.config.granularity,
    };
    if (options.names) metadata.names = JSON.stringify(options.names);
    if (options.copied && Object.keys(options.copied).length > 0)
      metadata.copied = JSON.stringify(options.copied);
    const writer = await SafetensorsStreamWriter.open(
      path,
      [[TOKENS_TENSOR, { dtype: 'F32', shape: [count, numTokens, k] }]],
      metadata,
    );
    return new TokensWriter(path, writer, numTokens * k, count);
  }

  /** Writes the next checkpoint's tokens ([L·k], from `tokenize`). */
  async write(tokens: Float32Array): Promise<void> {
    const i = this.written;
    if (!(tokens instanceof Float32Array) || tokens.length !== this.rowLength) {
      await this.abort();
      throw new Error(
        `writeTokens: token set ${i} must be a Float32Array of ${this.rowLength} values (L·k), got ` +
          `${tokens instanceof Float32Array ? tokens.length : typeof tokens}`,
      );
    }
    if (i >= this.count) throw new Error(`${this.path}: all ${this.count} token sets are already written`);
    try {
      await this.writer.write(TOKENS_TENSOR, i * this.rowLength, tokens);
    } catch (err) {
      await this.abort();
      throw new Error(`cannot write ${this.path}: ${(err as Error).message}`);
    }
    this.written++;
  }

  async close(): Promise<void> {
    if (this.written !== this.count) {
      await this.abort();
      throw new Error(`${this.path}: ${this.written} of ${this.count} token sets were written`);
    }
    try {
      await this.writer.close();
    } catch (err) {
      throw new Error(`cannot write ${this.path}: ${(err as Error).message}`);
    }
  }

  abort(): Promise<void> {
    return this.writer.abort();
  }
}

/** Writes token sets (each [L·k], from `tokenize`) as one tokens file; see {@link TokensWriter}. */
export async function writeTokens(
  path: string,
  tokens: Float32Array[],
  state: Pick<TokenizerState, 'numTokens' | 'config'>,
  options: { names?: string[] } = {},
): Promise<void> {
  const writer = await TokensWriter.open(path, state, tokens.length, options);
  for (const t of tokens) await writer.write(t);
  await writer.close();
}

/** The shape and names of a tokens file, checked against `state` when given. */
interface TokensHeader {
  count: number;
  numTokens: number;
  tokenSize: number;
  /** Byte offset of the first token value in the file. */
  start: number;
  names?: string[];
  copied?: CopiedOverrides;
}

async function readTokensHeader(path: string, state?: TokenizerState): Promise<TokensHeader> {
  const file = await SafetensorsFile.open(path);
  try {
    const entry = file.layout(TOKENS_TENSOR);
    if (entry?.dtype !== 'F32' || entry.shape.length !== 3) {
      throw new Error(`${path}: expected an F32 tensor "${TOKENS_TENSOR}" of shape [N, L, k]`);
    }
    const [count, numTokens, tokenSize] = entry.shape as [number, number, number];
    if (state && (numTokens !== state.numTokens || tokenSize !== state.config.tokenSize)) {
      throw new Error(
        `${path}: tokens are [${count}, ${numTokens}, ${tokenSize}] but the tokenizer makes ` +
          `[N, ${state.numTokens}, ${state.config.tokenSize}]`,
      );
    }
    const header: TokensHeader = { count, numTokens, tokenSize, start: file.header.dataStart + entry.begin };
    const names = file.metadata.names;
    if (names !== undefined) {
      const parsed = z.array(z.string()).length(count).safeParse(safeJson(names));
      if (parsed.success) header.names = parsed.data;
    }
    if (file.metadata.copied !== undefined) {
      const parsed = copiedOverridesSchema.safeParse(safeJson(file.metadata.copied));
      if (!parsed.success) throw new Error(`${path}: its "copied" metadata is not valid`);
      header.copied = parsed.data;
    }
    return header;
  } finally {
    await file.close();
  }
}

/**
 * A tokens file opened for reading row by row (positional reads of k values each: the page cache keeps the hot
 * part in memory, the process does not). Close it when done.
 */
export class TokenRowsFile implements TokenRows {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    private readonly header: TokensHeader,
  ) {
    this.fd = openSync(path, 'r');
  }

  /** Opens a tokens file; with `state`, checks that its rows fit that tokenizer. */
  static async open(path: string, state?: TokenizerState): Promise<TokenRowsFile> {
    return new TokenRowsFile(path, await readTokensHeader(path, state));
  }

  get count(): number {
    return this.header.count;
  }
  get numTokens(): number {
    return this.header.numTokens;
  }
  get tokenSize(): number {
    return this.header.tokenSize;
  }
  get names(): string[] | undefined {
    return this.header.names;
  }
  get copied(): CopiedOverrides | undefined {
    return this.header.copied;
  }

  readRow(checkpoint: number, position: number, out: Float32Array, outOffset: number): void {
    this.readRows(checkpoint, position, 1, out, outOffset);
  }

  /** Copies `rows` consecutive token rows of one checkpoint from `position` into `out` at `outOffset`. */
  readRows(checkpoint: number, position: number, rows: number, out: Float32Array, outOffset: number): void {
    if (this.fd === undefined) throw new Error(`${this.path} is closed`);
    const { count, numTokens, tokenSize: k, start } = this.header;
    if (checkpoint < 0 || checkpoint >= count || position < 0 || rows < 0 || position + rows > numTokens) {
      throw new Error(
        `${this.path}: no token rows ${position}..${position + rows} of checkpoint ${checkpoint} in [${count}, ${numTokens}]`,
      );
    }
    const bytes = new Uint8Array(out.buffer, out.byteOffset + outOffset * 4, rows * k * 4);
    const at = start + (checkpoint * numTokens + position) * k * 4;
    for (let done = 0; done < bytes.length; ) {
      const read = readSync(this.fd, bytes, done, Math.min(MAX_READ_BYTES, bytes.length - done), at + done);
      if (read === 0) throw new Error(`${this.path}: short read at byte ${at + done} (file truncated?)`);
      done += read;
    }
    if (!HOST_IS_LITTLE_ENDIAN) {
      for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
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
  /** Each checkpoint's own values of copied tensors that differ from the first's (see {@link CopiedOverrides}). */
  copied?: CopiedOverrides;
}

/**
 * Reads a whole tokens file into memory (for small sets and inspection; training reads rows through
 * {@link TokenRowsFile}); with `state`, also checks that its rows fit that tokenizer.
 */
export async function readTokens(path: string, state?: TokenizerState): Promise<TokensFile> {
  const rowsFile = await TokenRowsFile.open(path, state);
  try {
    const { count, numTokens, tokenSize, names, copied } = rowsFile;
    const rowLength = numTokens * tokenSize;
    const tokens = new Float32Array(count * rowLength);
    for (let c = 0; c < count; c++) rowsFile.readRows(c, 0, numTokens, tokens, c * rowLength);
    const rows = Array.from({ length: count }, (_, i) => tokens.subarray(i * rowLength, (i + 1) * rowLength));
    return {
      tokens,
      count,
      numTokens,
      tokenSize,
      rows,
      ...(names ? { names } : {}),
      ...(copied ? { copied } : {}),
    };
  } finally {
    rowsFile.close();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
