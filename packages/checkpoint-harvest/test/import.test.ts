import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadBackend, readSafetensorsFile, type StateDict } from '@rpg/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  accuracy,
  CHECKPOINTS_FILE,
  ImportError,
  importCheckpoints,
  listCheckpointFiles,
  loadMnist,
  MLP_MNIST,
  readCheckpointsDir,
} from '../src/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const PYTHON = resolve(HERE, '../../../infra/.cache/venv/bin/python');

/** Checkpoints as PyTorch users write them: numpy arrays saved with the `safetensors` package. */
const MAKE_CHECKPOINTS = `
import os, sys
import numpy as np
from safetensors.numpy import save_file

root = sys.argv[1]
rng = np.random.default_rng(0)

def mlp(hidden=64):
    b1, b2 = 1 / np.sqrt(784), 1 / np.sqrt(hidden)
    return {
        "0.weight": rng.uniform(-b1, b1, (hidden, 784)).astype(np.float32),
        "0.bias": rng.uniform(-b1, b1, (hidden,)).astype(np.float32),
        "2.weight": rng.uniform(-b2, b2, (10, hidden)).astype(np.float32),
        "2.bias": rng.uniform(-b2, b2, (10,)).astype(np.float32),
    }

def save(sub, name, sd):
    os.makedirs(os.path.join(root, sub), exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in sd.items()}, os.path.join(root, sub, name + ".safetensors"))

def cast(sd, dtype):
    return {k: v.astype(dtype) for k, v in sd.items()}

base = [mlp() for _ in range(3)]
for name, sd in zip(["ckpt-1", "ckpt-2", "ckpt-10"], base):
    save("good", name, sd)
    save("good-f16", name, cast(sd, np.float16))
    save("ref-f16", name, cast(cast(sd, np.float16), np.float32))
save("mixed", "a", cast(base[0], np.float64))
save("mixed", "b", cast(base[1], np.float16))
save("mixed", "c", base[2])

renamed = dict(base[1]); renamed["0.weights"] = renamed.pop("0.weight")
save("names", "a", base[0]); save("names", "b", renamed)

narrow = dict(base[1]); narrow["2.weight"] = base[1]["2.weight"][:, :63]
save("shapes", "a", base[0]); save("shapes", "b", narrow)

nan = {k: v.copy() for k, v in base[1].items()}; nan["2.bias"][3] = np.nan
save("nan", "a", base[0]); save("nan", "b", nan)

save("buffer", "a", {**base[0], "version": np.array([1], dtype=np.int64)})
save("buffer", "b", {**base[1], "version": np.array([2], dtype=np.int64)})

save("counters", "a", {**base[0], "bn.num_batches_tracked": np.array(5, dtype=np.int64)})
save("counters", "b", {**base[1], "bn.num_batches_tracked": np.array(9, dtype=np.int64)})

save("small", "a", mlp(32)); save("small", "b", mlp(32))

inf = {k: v.copy() for k, v in base[1].items()}; inf["0.bias"][0] = np.inf
wide = dict(base[2]); wide["2.bias"] = np.zeros(11, dtype=np.float32)
save("multi", "a", base[0]); save("multi", "b", inf); save("multi", "c", wide)
print("ok")
`;

let root = '';
beforeAll(async () => {
  if (!existsSync(PYTHON)) {
    throw new Error(
      `Python venv not found at ${PYTHON}. This test needs numpy and safetensors: run \`bash infra/setup.sh\` from the repo root.`,
    );
  }
  await loadBackend({ log: null });
  root = await mkdtemp(join(tmpdir(), 'rpg-import-'));
  const { stdout } = await promisify(execFile)(PYTHON, ['-c', MAKE_CHECKPOINTS, join(root, 'src')]);
  expect(stdout.trim()).toBe('ok');
  await mkdir(join(root, 'out'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const src = (sub: string) => join(root, 'src', sub);
const out = (name: string) => join(root, 'out', name);

function bits(sd: StateDict, name: string): Buffer {
  const d = sd.get(name)!.data;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

async function expectNothingWritten(): Promise<void> {
  const left = await readdir(join(root, 'out'));
  expect(left.filter((f) => f.startsWith('bad') || f.includes('.tmp-'))).toEqual([]);
}

describe('importCheckpoints', () => {
  it('imports a directory written by Python, in natural name order, measuring accuracy with the network', async () => {
    const mnist = loadMnist({ testSize: 500 });
    const meta = await importCheckpoints([src('good')], out('good'), { network: MLP_MNIST, dataset: mnist });
    expect(meta.network).toEqual(MLP_MNIST);
    expect(meta.dataset).toBe('mnist-10k-seed0-test500');
    expect(meta.runs).toEqual([
      { imported: true, sources: ['ckpt-1.safetensors', 'ckpt-2.safetensors', 'ckpt-10.safetensors'] },
    ]);
    expect(meta.checkpoints.map((c) => [c.file, c.run, c.index, c.step])).toEqual([
      ['run00-ckpt000.safetensors', 0, 0, null],
      ['run00-ckpt001.safetensors', 0, 1, null],
      ['run00-ckpt002.safetensors', 0, 2, null],
    ]);
    const { stateDicts } = await readCheckpointsDir(out('good'));
    for (const [i, name] of ['ckpt-1', 'ckpt-2', 'ckpt-10'].entries()) {
      const original = (await readSafetensorsFile(join(src('good'), `${name}.safetensors`))).tensors;
      const imported = stateDicts[i]!;
      // Python's writer sorts the tensors by name; the collection keeps the network's order.
      expect([...original.keys()]).toEqual(['0.bias', '0.weight', '2.bias', '2.weight']);
      expect([...imported.keys()]).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
      for (const t of imported.keys()) expect(bits(imported, t).equals(bits(original, t))).toBe(true);
      const acc = meta.checkpoints[i]!.testAccuracy!;
      expect(acc).toBe(accuracy(MLP_MNIST, imported, mnist.test));
      expect(acc).toBeGreaterThan(1); // untrained: about chance, but a real number
      expect(acc).toBeLessThan(30);
    }
  });

  it('stores F16 checkpoints as F32 with the exact widened values', async () => {
    const meta = await importCheckpoints([src('good-f16')], out('f16'));
    expect(meta.network).toBeNull();
    expect(meta.checkpoints.every((c) => c.testAccuracy === null)).toBe(true);
    const { stateDicts } = await readCheckpointsDir(out('f16'));
    const refs = await listCheckpointFiles([src('ref-f16')]);
    for (const [i, file] of refs.entries()) {
      const ref = (await readSafetensorsFile(file.name)).tensors;
      // Without a network, the first file's order.
      expect([...stateDicts[i]!.keys()]).toEqual([...ref.keys()]);
      for (const [name, t] of stateDicts[i]!) {
        expect(t.dtype).toBe('F32');
        expect(bits(stateDicts[i]!, name).equals(bits(ref, name))).toBe(true);
      }
    }
  });

  it('accepts mixed float widths (F64, F16, F32) of one architecture and listed files with runs', async () => {
    const files = ['a', 'b', 'c'].map((f) => join(src('mixed'), `${f}.safetensors`));
    const meta = await importCheckpoints(files, out('mixed'), {
      network: MLP_MNIST,
      runs: [1, 0, 1],
      datasetName: 'mnist',
    });
    expect(meta.checkpoints.map((c) => [c.file, c.run, c.index])).toEqual([
      ['run01-ckpt000.safetensors', 1, 0],
      ['run00-ckpt000.safetensors', 0, 0],
      ['run01-ckpt001.safetensors', 1, 1],
    ]);
    expect(meta.runs).toEqual([
      { imported: true, sources: ['b.safetensors'] },
      { imported: true, sources: ['a.safetensors', 'c.safetensors'] },
    ]);
    expect(meta.dataset).toBe('mnist');
    const { stateDicts } = await readCheckpointsDir(out('mixed'));
    expect(stateDicts.every((sd) => [...sd.values()].every((t) => t.dtype === 'F32'))).toBe(true);
  });

  it('warns about differing BatchNorm counters but imports them unchanged (I64)', async () => {
    const warnings: string[] = [];
    await importCheckpoints([src('counters')], out('counters'), { onWarning: (w) => warnings.push(w) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"bn.num_batches_tracked" differs');
    const { stateDicts } = await readCheckpointsDir(out('counters'));
    // (safetensors.numpy stores numpy's 0-d array as shape [1]; the shape is kept as the file has it.)
    const source = (await readSafetensorsFile(join(src('counters'), 'b.safetensors'))).tensors.get(
      'bn.num_batches_tracked',
    )!;
    expect(stateDicts[1]!.get('bn.num_batches_tracked')).toEqual({
      dtype: 'I64',
      shape: source.shape,
      data: BigInt64Array.of(9n),
    });
  });

  const failures: [string, string, RegExp[], boolean][] = [
    [
      'names',
      'mismatched tensor names',
      [/\[NAME_MISMATCH\] .*names\/b\.safetensors: missing "0\.weight"; extra "0\.weights"/],
      false,
    ],
    [
      'shapes',
      'mismatched shapes',
      [/\[SHAPE_MISMATCH\] .*shapes\/b\.safetensors, tensor "2\.weight": shape \[10, 63\], but \[10, 64\]/],
      false,
    ],
    [
      'nan',
      'a NaN',
      [/\[NON_FINITE\] .*nan\/b\.safetensors, tensor "2\.bias": 1 of 10 values are not finite \(1 NaN/],
      false,
    ],
    [
      'buffer',
      'a differing non-float tensor',
      [/\[BUFFER_MISMATCH\] .*buffer\/b\.safetensors, tensor "version": non-float \(I64\) tensor differs/],
      false,
    ],
    [
      'small',
      'another network than the one given',
      [
        /\[NETWORK_MISMATCH\] .*small\/a\.safetensors, tensor "0\.weight": shape \[32, 784\], the network needs \[64, 784\]/,
      ],
      true,
    ],
    [
      'multi',
      'several problems at once',
      [
        /2 problems/,
        /multi\/b\.safetensors, tensor "0\.bias": 1 of 64 values are not finite \(0 NaN, 1 ±Inf\)/,
        /multi\/c\.safetensors, tensor "2\.bias": shape \[11\]/,
      ],
      false,
    ],
  ];
  for (const [sub, what, patterns, withNetwork] of failures) {
    it(`rejects ${what}, naming the file and tensor, and writes nothing`, async () => {
      const attempt = importCheckpoints(
        [src(sub)],
        out(`bad-${sub}`),
        withNetwork ? { network: MLP_MNIST } : {},
      );
      await expect(attempt).rejects.toThrow(ImportError);
      const message = await attempt.catch((err: Error) => err.message);
      expect(message).toMatch(/nothing was written/);
      for (const p of patterns) expect(message).toMatch(p);
      await expectNothingWritten();
    });
  }

  it('refuses a non-empty destination and bad sources before reading anything', async () => {
    await expect(importCheckpoints([src('good')], out('good'))).rejects.toThrow(/not empty/);
    await expect(importCheckpoints([join(root, 'missing')], out('bad-missing'))).rejects.toThrow(
      /missing: no such file or directory/,
    );
    await mkdir(join(root, 'src', 'empty-dir'));
    await expect(importCheckpoints([src('empty-dir')], out('bad-empty'))).rejects.toThrow(
      /holds no \*\.safetensors files/,
    );
    const one = join(src('good'), 'ckpt-1.safetensors');
    await expect(importCheckpoints([one, src('good')], out('bad-twice'))).rejects.toThrow(/listed twice/);
    await expect(importCheckpoints([src('good')], out('bad-runs'), { runs: [0, 2, 2] })).rejects.toThrow(
      /run 1 has no checkpoints/,
    );
    await expect(importCheckpoints([src('good')], out('bad-runs'), { runs: [0] })).rejects.toThrow(
      /1 run numbers for 3/,
    );
    await expect(
      importCheckpoints([src('good')], out('bad-eval'), { dataset: loadMnist({ testSize: 100 }) }),
    ).rejects.toThrow(/needs the network/);
    await expectNothingWritten();
  });

  it('reports a file that is not safetensors', async () => {
    const dir = join(root, 'src', 'garbage');
    await mkdir(dir);
    await writeFile(join(dir, 'x.safetensors'), 'not a safetensors file');
    await expect(importCheckpoints([dir], out('bad-garbage'))).rejects.toThrow(
      /\[UNREADABLE\] .*x\.safetensors: cannot read/,
    );
    await expectNothingWritten();
  });

  it('lists a directory’s checkpoints in natural order, skipping other files', async () => {
    await writeFile(join(src('good'), 'notes.txt'), '');
    const files = await listCheckpointFiles([src('good')]);
    expect(files.map((f) => f.name.slice(src('good').length + 1))).toEqual([
      'ckpt-1.safetensors',
      'ckpt-2.safetensors',
      'ckpt-10.safetensors',
    ]);
    expect(await readdir(out('good'))).toContain(CHECKPOINTS_FILE);
  });
});
