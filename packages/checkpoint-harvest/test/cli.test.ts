import { readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageCli, useTempDir } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { MLP_MNIST, readCheckpointsDir } from '../src/index.js';

const cli = packageCli(import.meta.dirname);

const root = useTempDir('rpg-harvest-cli-');

describe('rpg-checkpoint-harvest CLI', () => {
  it('prints help for the tool and for every command (exit 0)', async () => {
    const [all, none, harvest, imp, inspect] = await Promise.all([
      cli('--help'),
      cli(),
      cli('harvest', '--help'),
      cli('import', '--help'),
      cli('inspect', '--help'),
    ]);
    for (const r of [all, none, harvest, imp, inspect]) expect(r.code).toBe(0);
    expect(all.stdout).toContain('Usage:');
    expect(all.stdout).toMatch(/harvest --network.*import <checkpoint.*inspect <dir>/s);
    expect(none.stdout).toBe(all.stdout);
    expect(harvest.stdout).toContain('--final-lr <x>');
    expect(harvest.stdout).not.toContain('inspect <dir>');
    expect(imp.stdout).toContain('--evaluate');
    expect(inspect.stdout).toContain('rpg-checkpoint-harvest inspect <dir>');
  });

  it('rejects bad arguments with exit 1 and a message naming the argument', async () => {
    const out = join(root(), 'never');
    const cases: [string[], RegExp][] = [
      [
        ['harvest', '--network', 'mlp', '--out', out, '--epochs', 'abc'],
        /--epochs must be an integer in 0…10000, got "abc"/,
      ],
      [
        ['harvest', '--network', 'mlp', '--out', out, '--lr', '0'],
        /--lr must be a number in \(0, 10\], got "0"/,
      ],
      [
        ['harvest', '--network', 'mlp', '--out', out, '--test-size', '10000'],
        /--test-size must be an integer in 1…9999/,
      ],
      [
        ['harvest', '--network', 'resnet', '--out', out],
        /--network must be a preset \(mlp, cnn-s, cnn-m\) or a network spec file/,
      ],
      [['harvest', '--network', 'mlp'], /--out <dir> is required/],
      [['harvest', '--out', out], /--network is required/],
      [
        ['harvest', '--network', 'mlp', '--out', out, '--optimizer', 'rmsprop'],
        /--optimizer must be adam or sgd, got "rmsprop"/,
      ],
      [['harvest', '--network', 'mlp', '--out', out, '--evaluate'], /--evaluate does not apply to harvest/],
      [
        ['harvest', '--network', 'mlp', '--out', out, 'extra'],
        /harvest takes no positional arguments, got "extra"/,
      ],
      [['harvest', '--network', 'mlp', '--out', out, '--bogus', '1'], /Unknown option '--bogus'/],
      [['import', '--out', out], /import needs checkpoint files or directories/],
      [['import', root(), '--out', out, '--evaluate'], /--evaluate needs --network/],
      [['import', root(), '--out', out, '--runs', '2'], /--runs does not apply to import/],
      [['inspect', root(), root()], /inspect needs exactly one collection directory, got 2/],
      [['train'], /unknown command "train"/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(...args)));
    results.forEach((r, i) => {
      expect(r.code, cases[i]![0].join(' ')).toBe(1);
      expect(r.stderr).toMatch(cases[i]![1]);
      expect(r.stderr).toContain('rpg-checkpoint-harvest --help');
    });
    expect(await readdir(root())).toEqual([]);
  });

  it('names a bad spec file and the field that is wrong', async () => {
    const spec = join(root(), 'bad-spec.json');
    await writeFile(spec, JSON.stringify({ type: 'mlp', sizes: [784] }));
    const [bad, missing] = await Promise.all([
      cli('harvest', '--network', spec, '--out', join(root(), 'never')),
      cli('harvest', '--network', join(root(), 'missing.json'), '--out', join(root(), 'never')),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--network .*bad-spec\.json: invalid network spec at "sizes"/);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /--network .*missing\.json is neither a preset \(mlp, cnn-s, cnn-m\) nor an existing file/,
    );
    await unlink(spec);
  });

  it('harvests a tiny collection, inspects it, refuses to overwrite it, and re-imports it with the same accuracies', async () => {
    const dir = join(root(), 'harvest');
    const h = await cli(
      'harvest',
      '--network',
      'mlp',
      '--out',
      dir,
      '--runs',
      '2',
      '--seed',
      '5',
      '--epochs',
      '0',
      '--checkpoints',
      '3',
      '--test-size',
      '500',
      '--final-lr',
      '0.002',
    );
    expect(h.stderr).not.toContain('rpg-checkpoint-harvest: error');
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('network: mlp 784-64-10 (50,890 parameters)');
    expect(h.stdout).toContain('data: mnist-10k-seed0-test500 (9500 train, 500 test)');
    expect(h.stdout).toMatch(
      /run 0 \(seed 5\): converged \d+\.\d\d%, 3 checkpoints max \/ avg \/ min [\d.]+ \/ [\d.]+ \/ [\d.]+%/,
    );
    expect(h.stdout).toMatch(/run 1 \(seed 6\)/);
    expect(h.stdout).toContain(`wrote 6 checkpoints (2 runs) to ${dir}`);
    expect(h.stderr).toMatch(/run 2\/2 +\[#+\] +149\/149/); // the progress bar
    expect(await readdir(root())).toEqual(['harvest']); // no temporary directory left

    const { meta, stateDicts } = await readCheckpointsDir(dir);
    expect(meta.network).toEqual(MLP_MNIST);
    expect(meta.dataset).toBe('mnist-10k-seed0-test500');
    expect(meta.runs.map((r) => r.seed)).toEqual([5, 6]);
    expect(meta.checkpoints.map((c) => c.step)).toEqual([49, 99, 149, 49, 99, 149]);
    for (const c of meta.checkpoints) expect(c.testAccuracy).toBeGreaterThan(60); // chance: 10%
    expect(stateDicts).toHaveLength(6);

    const inspect = await cli('inspect', dir);
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toContain('network: mlp 784-64-10 (50,890 parameters)');
    expect(inspect.stdout).toContain('checkpoints: 6 in 2 runs');
    expect(inspect.stdout).toMatch(
      /run 1: 3 checkpoints, seed 6, converged [\d.]+%, accuracy max \/ avg \/ min/,
    );
    expect(inspect.stdout).toContain('  0.weight  F32 [64, 784]');
    expect(inspect.stdout).toContain('consistent: yes (6 files checked)');

    const again = await cli(
      'harvest',
      '--network',
      'mlp',
      '--out',
      dir,
      '--epochs',
      '0',
      '--checkpoints',
      '1',
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/harvest is not empty .*give a new or empty directory/);
    expect((await readCheckpointsDir(dir)).meta).toEqual(meta);

    const imported = join(root(), 'imported');
    const imp = await cli(
      'import',
      dir,
      '--out',
      imported,
      '--network',
      'mlp',
      '--evaluate',
      '--test-size',
      '500',
    );
    expect(imp.code).toBe(0);
    expect(imp.stdout).toContain(`imported 6 checkpoints to ${imported}`);
    expect(imp.stdout).toMatch(/test accuracy on mnist-10k-seed0-test500: max \/ avg \/ min/);
    const back = await readCheckpointsDir(imported);
    expect(back.meta.checkpoints.map((c) => c.testAccuracy)).toEqual(
      meta.checkpoints.map((c) => c.testAccuracy),
    );
    expect(back.meta.runs[0]!.sources).toEqual(meta.checkpoints.map((c) => c.file));

    await unlink(join(imported, 'run00-ckpt004.safetensors'));
    const broken = await cli('inspect', imported);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/unreadable checkpoints:\n {2}- run00-ckpt004\.safetensors/);
  });
});
