import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, readSafetensorsFile } from '@rpg/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  COPIED_FILE,
  detokenize,
  fitTokenizer,
  loadTokenizerState,
  readTokens,
  STATE_FILE,
  saveTokenizerState,
  tokenize,
  writeTokens,
} from '../src/index.js';
import { bits, convNetCheckpoint } from './helpers.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rpg-tokenizer-io-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('state and token files', () => {
  const rng = new Rng(5);
  const ckpts = [convNetCheckpoint(rng), convNetCheckpoint(rng), convNetCheckpoint(rng)];

  for (const granularity of ['layer', 'network', 'channel'] as const) {
    it(`${granularity}: a saved and loaded state tokenizes and detokenizes identically`, async () => {
      const dir = await tempDir();
      const state = fitTokenizer(ckpts, { tokenSize: 8, granularity });
      await saveTokenizerState(dir, state);
      const loaded = await loadTokenizerState(dir);
      expect(loaded.config).toEqual(state.config);
      expect(loaded.layout).toEqual(state.layout);
      expect(loaded.stats).toEqual(state.stats); // float64 statistics survive JSON exactly
      expect(loaded.order).toEqual(state.order);
      expect(loaded.numTokens).toBe(state.numTokens);
      expect([...loaded.copied.keys()]).toEqual([...state.copied.keys()]);
      expect(loaded.copied.get('1.num_batches_tracked')).toEqual(state.copied.get('1.num_batches_tracked'));

      const tokens = tokenize(state, ckpts[2]!);
      expect(bits(tokenize(loaded, ckpts[2]!))).toEqual(bits(tokens));
      const a = detokenize(state, tokens);
      const b = detokenize(loaded, tokens);
      for (const [name, e] of a) expect(b.get(name)).toEqual(e);
    });
  }

  it('writes tokens as one F32 [N, L, k] tensor with NaN padding and names, and reads them back', async () => {
    const dir = await tempDir();
    const state = fitTokenizer(ckpts, { tokenSize: 8 });
    const tokens = ckpts.map((c) => tokenize(state, c));
    const path = join(dir, 'tokens.safetensors');
    await writeTokens(path, tokens, state, { names: ['a', 'b', 'c'] });

    const raw = await readSafetensorsFile(path);
    expect([...raw.tensors.keys()]).toEqual(['tokens']);
    expect(raw.tensors.get('tokens')!.shape).toEqual([3, state.numTokens, 8]);
    expect(raw.tensors.get('tokens')!.dtype).toBe('F32');

    const read = await readTokens(path, state);
    expect([read.count, read.numTokens, read.tokenSize]).toEqual([3, state.numTokens, 8]);
    expect(read.names).toEqual(['a', 'b', 'c']);
    for (const [i, row] of read.rows.entries()) expect(bits(row)).toEqual(bits(tokens[i]!));
    expect(read.tokens.some(Number.isNaN)).toBe(true);

    const other = fitTokenizer(ckpts, { tokenSize: 4 });
    await expect(readTokens(path, other)).rejects.toThrow(
      `tokens are [3, ${state.numTokens}, 8] but the tokenizer makes`,
    );
    await expect(writeTokens(path, [new Float32Array(3)], state)).rejects.toThrow(
      'token set 0 must be a Float32Array',
    );
    await expect(writeTokens(path, tokens, state, { names: ['a'] })).rejects.toThrow(
      '1 names for 3 token sets',
    );
  });

  it('rejects damaged or missing state files with the file name', async () => {
    const dir = await tempDir();
    await expect(loadTokenizerState(dir)).rejects.toThrow(
      `cannot read tokenizer state ${join(dir, STATE_FILE)}`,
    );
    const state = fitTokenizer(ckpts, { tokenSize: 8 });
    await saveTokenizerState(dir, state);
    const json = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8'));
    json.layout[1].offset += 1;
    await writeFile(join(dir, STATE_FILE), JSON.stringify(json));
    await expect(loadTokenizerState(dir)).rejects.toThrow('do not agree; the file is damaged');
    json.layout[1].offset -= 1;
    json.stats['0.weight'].std = -1;
    await writeFile(join(dir, STATE_FILE), JSON.stringify(json));
    await expect(loadTokenizerState(dir)).rejects.toThrow('is not a tokenizer state');
    json.stats['0.weight'].std = 1;
    await writeFile(join(dir, STATE_FILE), JSON.stringify(json));
    await rm(join(dir, COPIED_FILE));
    await expect(loadTokenizerState(dir)).rejects.toThrow(COPIED_FILE);
  });
});
