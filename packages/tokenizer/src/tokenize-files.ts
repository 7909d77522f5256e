import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type ProgressSink,
  readSafetensorsFile,
  type StateDict,
  silentProgress,
  type TensorEntry,
} from '@rpg/core';
import { isGenerated } from './checks.js';
import type { TokenizerConfigInput } from './config.js';
import { checkTokenSize, TokenizerFit } from './fit.js';
import type { TokenizerState } from './state.js';
import { saveTokenizerState } from './state-file.js';
import { tokenize } from './tokenize.js';
import { type CopiedOverrides, TokensWriter } from './tokens-file.js';

/** One checkpoint file to tokenize: its path (named in messages) and its name in the tokens file. */
export interface CheckpointFile {
  path: string;
  name: string;
}

/**
 * Fits the tokenizer on checkpoint files and writes its state into `stateDir` and the tokens of every file into
 * `tokensPath`, reading one checkpoint at a time: a statistics pass (a second one only for BatchNorm running
 * variances), then a tokenize-and-write pass. Peak memory is a small multiple of one checkpoint, whatever their
 * number; the result is the same, bit for bit, as fitting and tokenizing them all in memory.
 */
export async function tokenizeFiles(
  files: readonly CheckpointFile[],
  config: TokenizerConfigInput,
  out: { stateDir: string; tokensPath: string },
  progress: ProgressSink = silentProgress,
): Promise<TokenizerState> {
  if (files.length === 0) throw new Error('no checkpoint to tokenize');
  const fit = new TokenizerFit(config);
  let total = 2 * files.length;
  let done = 0;
  const each = async (
    what: string,
    visit: (ckpt: StateDict, file: CheckpointFile) => Promise<void> | void,
  ) => {
    for (const file of files) {
      await visit(await readCheckpoint(file), file);
      progress({ stage: 'tokenize', step: ++done, total, note: what });
    }
  };
  const copied = new CopiedTracker();
  await each('statistics', (ckpt, file) => {
    fit.add(ckpt, file.path);
    copied.add(ckpt);
  });
  if (fit.needsSecondPass) {
    total += files.length;
    await each('BatchNorm statistics', (ckpt, file) => fit.addSecond(ckpt, file.path));
  }
  const state = fit.finish();
  checkTokenSize(state);

  await mkdir(dirname(out.tokensPath), { recursive: true });
  const writer = await TokensWriter.open(out.tokensPath, state, files.length, {
    names: files.map((f) => f.name),
    copied: copied.overrides,
  });
  try {
    await each('tokens', (ckpt, file) => writer.write(tokenize(state, ckpt, file.path)));
    await writer.close();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  await saveTokenizerState(out.stateDir, state);
  return state;
}

async function readCheckpoint(file: CheckpointFile): Promise<StateDict> {
  try {
    return (await readSafetensorsFile(file.path)).tensors;
  } catch (err) {
    const message = (err as Error).message;
    throw new Error(message.includes(file.path) ? message : `cannot read ${file.path}: ${message}`);
  }
}

/** Small copied tensors (counters) at most this big are kept per checkpoint where they differ from the first's. */
const MAX_OVERRIDE_ELEMENTS = 64;

/** Collects {@link CopiedOverrides}: checkpoint i's small copied tensors that differ from checkpoint 0's. */
class CopiedTracker {
  readonly overrides: CopiedOverrides = {};
  private first: Map<string, TensorEntry> | undefined;
  private index = 0;

  add(ckpt: StateDict): void {
    const i = this.index++;
    if (!this.first) {
      this.first = new Map(
        [...ckpt].filter(([name, e]) => !isGenerated(name, e) && e.data.length <= MAX_OVERRIDE_ELEMENTS),
      );
      return;
    }
    for (const [name, ref] of this.first) {
      const data = ckpt.get(name)?.data;
      if (!data || data.every((v, j) => v === ref.data[j])) continue;
      const own = this.overrides[String(i)] ?? {};
      own[name] = Array.from(data as ArrayLike<number | bigint>, String);
      this.overrides[String(i)] = own;
    }
  }
}

/** `sd` with each checkpoint-specific copied value of {@link CopiedOverrides} put back (same dtypes). */
export function withCopiedOverrides(
  sd: StateDict,
  overrides: Record<string, string[]> | undefined,
): StateDict {
  for (const [name, values] of Object.entries(overrides ?? {})) {
    const entry = sd.get(name);
    if (!entry || entry.data.length !== values.length) continue;
    const data =
      entry.data instanceof BigInt64Array
        ? BigInt64Array.from(values, (v) => BigInt(v))
        : new (entry.data.constructor as new (a: number[]) => TensorEntry['data'])(values.map(Number));
    sd.set(name, { ...entry, data });
  }
  return sd;
}
