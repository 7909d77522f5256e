import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, writeSafetensorsFile } from '@rpg/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fitTokenizer,
  readTokens,
  resolveTokenizerConfig,
  STATE_FILE,
  saveTokenizerState,
  TokenRowsFile,
  tokenize,
  tokenizeFiles,
  tokenRowsInMemory,
  writeTokens,
} from '../src/index.js';
import { convNetCheckpoint } from './helpers.js';

let dir: string;
const rng = new Rng(7);
const checkpoints = Array.from({ length: 5 }, () => convNetCheckpoint(rng));
const files = checkpoints.map((_, i) => ({ path: '', name: `ckpt-${i}.safetensors` }));

/** Tokenizes the test checkpoints in tokens of 16 into `out` (state files and tokens.safetensors). */
const tokenizeInto = (out: string) =>
  tokenizeFiles(files, { tokenSize: 16 }, { stateDir: out, tokensPath: join(out, 'tokens.safetensors') });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rpg-tokenize-files-'));
  for (const [i, ckpt] of checkpoints.entries()) {
    files[i]!.path = join(dir, files[i]!.name);
    await writeSafetensorsFile(files[i]!.path, ckpt);
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('tokenizeFiles (one checkpoint at a time)', () => {
  it.each(['layer', 'channel', 'network'] as const)(
    '%s: writes the same state and token bytes as fitting and tokenizing in memory',
    async (granularity) => {
      const config = { tokenSize: 16, granularity };
      const streamed = join(dir, `streamed-${granularity}`);
      const state = await tokenizeFiles(files, config, {
        stateDir: streamed,
        tokensPath: join(streamed, 'tokens.safetensors'),
      });
      expect(state.layout.some((e) => e.transform === 'bn-var')).toBe(true); // the second pass ran

      const inMemory = join(dir, `memory-${granularity}`);
      const reference = fitTokenizer(checkpoints, config);
      await saveTokenizerState(inMemory, reference);
      await writeTokens(
        join(inMemory, 'tokens.safetensors'),
        checkpoints.map((c) => tokenize(reference, c)),
        reference,
        { names: files.map((f) => f.name) },
      );
      for (const file of [STATE_FILE, 'copied.safetensors', 'tokens.safetensors']) {
        expect(await readFile(join(streamed, file))).toEqual(await readFile(join(inMemory, file)));
      }
    },
  );

  it('reads token rows from the file exactly as they are in memory', async () => {
    const out = join(dir, 'rows');
    await tokenizeInto(out);
    const all = await readTokens(join(out, 'tokens.safetensors'));
    const memory = tokenRowsInMemory(all.tokens, all.count, all.numTokens, all.tokenSize);
    const file = await TokenRowsFile.open(join(out, 'tokens.safetensors'));
    try {
      expect(file.names).toEqual(files.map((f) => f.name));
      const a = new Float32Array(16);
      const b = new Float32Array(16);
      for (const [c, p] of [
        [0, 0],
        [4, all.numTokens - 1],
        [2, 3],
      ] as const) {
        file.readRow(c, p, a, 0);
        memory.readRow(c, p, b, 0);
        expect(new Uint32Array(a.buffer)).toEqual(new Uint32Array(b.buffer)); // NaN padding included
      }
      expect(() => file.readRow(5, 0, a, 0)).toThrow(/no token rows/);
    } finally {
      file.close();
    }
  });

  it('refuses a tokens file whose size does not match its header, naming the file', async () => {
    const out = join(dir, 'cut');
    await tokenizeInto(out);
    const path = join(out, 'tokens.safetensors');
    await truncate(path, (await readFile(path)).length - 64);
    await expect(TokenRowsFile.open(path)).rejects.toThrow(new RegExp(`${path}: .*beyond the data buffer`));
  });

  it('refuses a token size larger than the target needs, suggesting one, and writes nothing', async () => {
    const out = join(dir, 'too-big');
    await expect(
      tokenizeFiles(
        files,
        { tokenSize: 4096 },
        { stateDir: out, tokensPath: join(out, 'tokens.safetensors') },
      ),
    ).rejects.toThrow(
      /token size 4096 is larger than the target needs: the largest tensor holds \d+ values.*at most \d+/,
    );
    await expect(readFile(join(out, 'tokens.safetensors'))).rejects.toThrow(/ENOENT/);
  });

  it('names the file that cannot be read', async () => {
    const bad = join(dir, 'bad.safetensors');
    await writeFile(bad, 'not a checkpoint');
    const out = join(dir, 'bad-out');
    await expect(
      tokenizeFiles(
        [...files, { path: bad, name: 'bad' }],
        { tokenSize: 16 },
        { stateDir: out, tokensPath: join(out, 't') },
      ),
    ).rejects.toThrow(bad);
  });
});

describe('tokenizer config bounds', () => {
  it('refuses a token size beyond 65,536, naming the field', () => {
    expect(() => resolveTokenizerConfig({ tokenSize: 1e9 })).toThrow(/tokenSize/);
    expect(resolveTokenizerConfig({ tokenSize: 65_536 }).tokenSize).toBe(65_536);
  });
});
