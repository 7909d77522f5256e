import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, serializeSafetensors } from '@rpg/core';
import { describe, expect, it } from 'vitest';
import { DetokenizingWriter, detokenize, fitTokenizer, type Granularity, tokenize } from '../src/index.js';
import { convNetCheckpoint } from './helpers.js';

describe('DetokenizingWriter', () => {
  const rng = new Rng(4);
  const ckpts = Array.from({ length: 4 }, () => convNetCheckpoint(rng));

  for (const granularity of ['layer', 'network', 'channel'] as Granularity[]) {
    it(`${granularity}: chunk by chunk, in any chunk size, gives the bytes of detokenize + write`, async () => {
      const state = fitTokenizer(ckpts, { tokenSize: 16, granularity });
      const tokens = tokenize(state, ckpts[2]!);
      const expected = serializeSafetensors(detokenize(state, tokens));
      const dir = await mkdtemp(join(tmpdir(), 'rpg-detok-'));
      for (const chunk of [1, 3, state.numTokens]) {
        const path = join(dir, `c${chunk}.safetensors`);
        const writer = await DetokenizingWriter.open(state, path);
        for (let row = 0; row < state.numTokens; row += chunk) {
          const rows = Math.min(chunk, state.numTokens - row);
          await writer.writeRows(row, tokens.slice(row * 16, (row + rows) * 16));
        }
        await writer.close();
        expect(new Uint8Array(await readFile(path))).toEqual(expected);
      }
    });
  }

  it('refuses to complete a file when token rows are missing, and leaves nothing', async () => {
    const state = fitTokenizer(ckpts, { tokenSize: 16, granularity: 'layer' });
    const tokens = tokenize(state, ckpts[0]!);
    const dir = await mkdtemp(join(tmpdir(), 'rpg-detok-'));
    const writer = await DetokenizingWriter.open(state, join(dir, 'x.safetensors'));
    await writer.writeRows(0, tokens.slice(0, 16 * (state.numTokens - 1)));
    await expect(writer.writeRows(state.numTokens - 1, new Float32Array(8))).rejects.toThrow(/whole rows/);
    await expect(writer.writeRows(state.numTokens, new Float32Array(16))).rejects.toThrow(/outside/);
    await expect(writer.close()).rejects.toThrow(/is missing \d+ of its elements/);
    expect(await readdir(dir)).toEqual([]);
  });
});
