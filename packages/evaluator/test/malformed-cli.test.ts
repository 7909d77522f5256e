import { existsSync } from 'node:fs';
import { mkdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initStateDict, type NetworkSpec } from '@rpg/checkpoint-harvest';
import { Rng, writeSafetensorsFile } from '@rpg/core';
import { packageCli, useTempDir } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';

const cli = packageCli(import.meta.dirname, { timeout: 60_000 });
const run = (args: string[]) => cli(...args);

const spec: NetworkSpec = { type: 'mlp', sizes: [784, 10] };
const root = useTempDir('rpg-malformed-eval-');

describe('rpg-evaluator, malformed input', () => {
  it('accuracy: a NaN model is reported as non-finite, not scored; exit 1', async () => {
    const dir = join(root(), 'models');
    await mkdir(dir);
    const good = initStateDict(spec, new Rng(1));
    const nan = initStateDict(spec, new Rng(2));
    (nan.get('0.weight')!.data as Float32Array).fill(Number.NaN, 0, 7);
    await writeSafetensorsFile(join(dir, 'm0.safetensors'), good);
    await writeSafetensorsFile(join(dir, 'm1.safetensors'), nan);
    const specFile = join(root(), 'spec.json');
    await writeFile(specFile, JSON.stringify(spec));
    const r = await run(['accuracy', '--network', specFile, '--test-size', '200', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^m0\.safetensors {2}\d+\.\d\d%$/m);
    expect(r.stdout).toContain('m1.safetensors  NON-FINITE: NaN/Inf in "0.weight" (7 values); not scored');
    expect(r.stdout).toMatch(/^1 checkpoint\(s\) on /m);
    expect(r.stderr).toContain('1 of 2 models have non-finite parameters (NaN or Inf) and were not scored');
  });

  it('out-of-range flags and oversized files: exit 1, the flag or file named, nothing written', async () => {
    const out = join(root(), 'never');
    const o = ['--originals', root(), '--generated', root(), '--out', out];
    const huge = join(root(), 'huge-spec.json');
    await writeFile(huge, '');
    await truncate(huge, 5 * 1024 * 1024);
    const results = await Promise.all([
      run(['evaluate', ...o, '--seed=-1']),
      run(['evaluate', ...o, '--noise-per-sigma', '1000000000']),
      run(['evaluate', ...o, '--sigmas', '0.01,,0.05']),
      run(['evaluate', ...o, '--sigmas', '0.01,100']),
      run(['evaluate', ...o, '--title', 't'.repeat(201)]),
      run(['accuracy', '--test-size', '10000', '--network', 'mlp', root()]),
      run(['accuracy', '--network', huge, root()]),
    ]);
    const expected = [
      '--seed must be an integer in 0…4294967295, got "-1"',
      '--noise-per-sigma must be an integer in 1…10000, got "1000000000"',
      '--sigmas must be at most 20 comma-separated numbers in 0…10, got "0.01,,0.05"',
      '--sigmas must be at most 20 comma-separated numbers in 0…10, got "0.01,100"',
      '--title must be at most 200 characters, got 201',
      '--test-size must be an integer in 1…9999, got "10000"',
      `network spec ${huge} is 5.0 MB; a network spec file may be at most 1.0 MB`,
    ];
    results.forEach((r, i) => {
      expect(r.code, expected[i]).toBe(1);
      expect(r.stderr).toContain(expected[i]);
    });
    expect(existsSync(out)).toBe(false);
  });
});
