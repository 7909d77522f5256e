import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, readSafetensorsFile, writeSafetensorsFile } from '@rpg/core';
import { packageCli } from '@rpg/core/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTokens } from '../src/index.js';
import { convNetCheckpoint, expectSameStateDict } from './helpers.js';

const cli = packageCli(import.meta.dirname);

let root = '';
const names = ['ckpt-2', 'ckpt-10', 'ckpt-1']; // natural order: 1, 2, 10
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rpg-tokenizer-cli-'));
  await mkdir(join(root, 'ckpts'));
  const rng = new Rng(9);
  for (const [i, name] of names.entries()) {
    const ckpt = convNetCheckpoint(rng);
    // Each checkpoint has seen its own number of batches, as in a real run.
    ckpt.set('1.num_batches_tracked', {
      dtype: 'I64',
      shape: [],
      data: new BigInt64Array([BigInt(938 + 10 * i)]),
    });
    await writeSafetensorsFile(join(root, 'ckpts', `${name}.safetensors`), ckpt);
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('rpg-tokenizer CLI', () => {
  it('tokenizes a directory raw and detokenizes it back bit-exactly, each checkpoint with its own batch counter', async () => {
    const out = join(root, 'raw');
    const t = await cli(
      'tokenize',
      join(root, 'ckpts'),
      '--token-size',
      '16',
      '--no-normalize',
      '--out',
      out,
    );
    expect(t.stderr).not.toContain('error');
    expect(t.code).toBe(0);
    expect(t.stdout).toContain('checkpoints: 3');
    expect(t.stdout).toContain('tensors: 12 generated, 2 copied');
    expect(t.stdout).toMatch(/L = \d+ tokens, k = 16 \(granularity layer\)/);
    expect(t.stdout).toMatch(/padding fraction \d+\.\d\d%/);
    expect((await readdir(out)).sort()).toEqual([
      'copied.safetensors',
      'tokenizer.json',
      'tokens.safetensors',
    ]);
    expect((await readTokens(join(out, 'tokens.safetensors'))).names).toEqual([
      'ckpt-1',
      'ckpt-2',
      'ckpt-10',
    ]);

    const back = join(root, 'raw-back');
    const d = await cli('detokenize', out, '--out', back);
    expect(d.code).toBe(0);
    expect(d.stdout).toContain('wrote 3 state dicts');
    for (const name of names) {
      const original = (await readSafetensorsFile(join(root, 'ckpts', `${name}.safetensors`))).tensors;
      const restored = (await readSafetensorsFile(join(back, `${name}.safetensors`))).tensors;
      expect(expectSameStateDict(restored, original)).toEqual([]);
    }
  });

  it('tokenizes listed files with normalization and channel granularity', async () => {
    const out = join(root, 'norm');
    const files = names.map((n) => join(root, 'ckpts', `${n}.safetensors`));
    const t = await cli('tokenize', ...files, '--token-size', '8', '--granularity', 'channel', '--out', out);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/k = 8 \(granularity channel\)/);
    const tokens = await readTokens(join(out, 'tokens.safetensors'));
    expect(tokens.names).toEqual(names);
    const real = tokens.tokens.filter((x) => !Number.isNaN(x));
    expect(real.every((x) => Math.abs(x) < 10)).toBe(true);
  });

  it('prints help and clear errors with exit code 1', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('rpg-tokenizer tokenize <checkpoint.safetensors | dir>...');

    const noK = await cli('tokenize', join(root, 'ckpts'), '--out', join(root, 'x'));
    expect(noK.code).toBe(1);
    expect(noK.stderr).toContain('tokenize needs --token-size <k>');
    expect(noK.stderr).toContain('rpg-tokenizer --help');

    const badK = await cli('tokenize', join(root, 'ckpts'), '--token-size', 'ten', '--out', join(root, 'x'));
    expect(badK.stderr).toContain('--token-size must be a positive number, got "ten"');
    const badG = await cli(
      'tokenize',
      join(root, 'ckpts'),
      '--token-size',
      '4',
      '--granularity',
      'rows',
      '--out',
      join(root, 'x'),
    );
    expect(badG.stderr).toContain('--granularity');

    const missing = await cli('tokenize', join(root, 'nope'), '--token-size', '4', '--out', join(root, 'x'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`cannot read ${join(root, 'nope')}: no such file or directory`);

    const unknown = await cli('frobnicate');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');

    const odd = join(root, 'odd');
    await mkdir(odd);
    const rng = new Rng(1);
    const good = convNetCheckpoint(rng);
    const bad = convNetCheckpoint(rng);
    bad.set('7.bias', { dtype: 'F32', shape: [11], data: new Float32Array(11) });
    await writeSafetensorsFile(join(odd, 'a.safetensors'), good);
    await writeSafetensorsFile(join(odd, 'b.safetensors'), bad);
    const mismatch = await cli('tokenize', odd, '--token-size', '4', '--out', join(root, 'x'));
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toContain(
      `${join(odd, 'b.safetensors')}: tensor "7.bias" has shape [11] but ${join(odd, 'a.safetensors')} has [10]`,
    );

    const noState = await cli('detokenize', join(root, 'ckpts'), '--out', join(root, 'y'));
    expect(noState.code).toBe(1);
    expect(noState.stderr).toContain('cannot read tokenizer state');
  });
});
