/** safetensors interop with the Python reference library: its fixtures, and a live round trip. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  parseSafetensors,
  readSafetensorsFile,
  type TensorEntry,
  writeSafetensorsFile,
} from '../src/safetensors.js';
import { entriesOf, FIXTURES, f32, PYTHON, readFixture } from './safetensors-helpers.js';

// ---------------------------------------------------------------------------------------------
// Interop with the Python reference library
// ---------------------------------------------------------------------------------------------

describe('fixtures written by Python (make_safetensors_fixtures.py)', () => {
  it('reads every dtype written by safetensors.numpy.save_file, in data-offset order', async () => {
    const { tensors, metadata } = parseSafetensors(
      await readFixture('python_numpy.safetensors'),
      'python_numpy',
    );
    expect(metadata).toEqual({ format: 'np', note: 'h\u00e9llo \u2713' });
    // The Python library orders data by alignment, then name; the map follows the data.
    expect([...tensors.keys()]).toEqual([
      'i64',
      'f64',
      'f32_empty',
      'f32_matrix',
      'f32_scalar',
      'i32',
      'f16',
      'i16',
      'i8',
      'u8',
      'bool',
    ]);
    expect(entriesOf({ tensors, metadata })).toEqual({
      f32_matrix: { dtype: 'F32', shape: [2, 3], data: f32(0, -1.5, 3.25, 0.1, 1e-30, -65536) },
      f32_scalar: { dtype: 'F32', shape: [], data: f32(7.5) },
      f32_empty: { dtype: 'F32', shape: [0, 3], data: f32() },
      f16: {
        dtype: 'F16',
        shape: [10],
        data: f32(1, -2.5, 65504, 2 ** -24, 2 ** -14, Infinity, -Infinity, Number.NaN, -0, 0.0999755859375),
      },
      f64: { dtype: 'F64', shape: [3], data: f32(0.1, -2, Infinity) }, // 1e300 overflows float32
      i64: {
        dtype: 'I64',
        shape: [5],
        data: new BigInt64Array([-(2n ** 63n), -1n, 0n, 2n ** 53n + 1n, 2n ** 63n - 1n]),
      },
      i32: { dtype: 'I32', shape: [2, 2], data: new Int32Array([-(2 ** 31), -1, 0, 2 ** 31 - 1]) },
      i16: { dtype: 'I16', shape: [3], data: new Int16Array([-32768, 12345, 32767]) },
      i8: { dtype: 'I8', shape: [3], data: new Int8Array([-128, 0, 127]) },
      u8: { dtype: 'U8', shape: [3], data: new Uint8Array([0, 1, 255]) },
      bool: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    });
  });

  it('reads the hand-made BF16 file', async () => {
    const parsed = await readSafetensorsFile(join(FIXTURES, 'bf16_handmade.safetensors'));
    expect(parsed.metadata).toEqual({ made_by: 'hand' });
    expect(entriesOf(parsed)).toEqual({
      bf16: {
        dtype: 'BF16',
        shape: [2, 4],
        data: f32(1, -2.5, 3.3895313892515355e38, 2 ** -133, Infinity, -Infinity, Number.NaN, -0),
      },
    });
  });
});

/**
 * Loads our file with safetensors.numpy.load_file, checks every tensor bit for bit against the
 * expected values (F16 is built the numpy way: float32 values cast with astype), checks the
 * metadata, then re-saves everything with save_file.
 */
const PYTHON_ROUND_TRIP = `
import json, sys
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

src, dst, expected_path = sys.argv[1:4]
with open(expected_path) as f:
    expected = json.load(f)
loaded = load_file(src)
assert sorted(loaded) == sorted(expected["tensors"]), (sorted(loaded), sorted(expected["tensors"]))
for name, spec in expected["tensors"].items():
    dtype = np.dtype(spec["dtype"])
    parse = float if np.dtype(spec["build_from"]).kind == "f" else int
    want = np.array([parse(v) for v in spec["values"]], dtype=spec["build_from"]).astype(dtype)
    want = want.reshape(spec["shape"])
    got = loaded[name]
    assert got.dtype == dtype, (name, got.dtype, dtype)
    assert list(got.shape) == spec["shape"], (name, got.shape, spec["shape"])
    assert got.tobytes() == want.tobytes(), (name, got, want)
with safe_open(src, framework="numpy") as f:
    metadata = f.metadata()
assert metadata == expected["metadata"], (metadata, expected["metadata"])
save_file(loaded, dst, metadata=metadata)
print("python checked", len(loaded), "tensors")
`;

/** Numpy dtype of each safetensors dtype (BF16 is absent: numpy cannot represent it). */
const NUMPY_DTYPE: Record<string, string> = {
  F32: 'float32',
  F16: 'float16',
  F64: 'float64',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

/** Exact decimal text of each element; Python's float() and int() parse all of these. */
function valueStrings(data: TensorEntry['data']): string[] {
  return Array.from(data as ArrayLike<number | bigint>, (v) => (Object.is(v, -0) ? '-0.0' : String(v)));
}

describe('live round trip with the Python safetensors library', () => {
  it('python loads our file, checks it, re-saves it, and we read its file back', async () => {
    if (!existsSync(PYTHON)) {
      throw new Error(
        `Python venv not found at ${PYTHON}. This test needs numpy and safetensors: run \`bash infra/setup.sh\` from the repo root.`,
      );
    }
    const tensors: Record<string, TensorEntry> = {
      // A 3-byte tensor first, so everything after it is misaligned in our file.
      'flags.bool': { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
      'layer.0/w\u00e9ight': {
        dtype: 'F32',
        shape: [2, 3],
        data: f32(0.1, -1.5, 1e-40, -0, Infinity, Number.NaN),
      },
      scalar: { dtype: 'F32', shape: [], data: f32(3.25) },
      empty: { dtype: 'F32', shape: [0, 3], data: f32() },
      cube: { dtype: 'F32', shape: [1, 2, 1], data: f32(-7, 8) },
      // Values that exercise F16 rounding; python builds the expectation with numpy's astype.
      half: {
        dtype: 'F16',
        shape: [10],
        data: f32(
          1 + 2 ** -11,
          1 + 3 * 2 ** -11,
          65519,
          65520,
          2 ** -25,
          1.5 * 2 ** -24,
          0.1,
          -1e-5,
          1e-8,
          Number.NaN,
        ),
      },
      double: { dtype: 'F64', shape: [2], data: new Float64Array([0.1, -1e300]) },
      ids: {
        dtype: 'I64',
        shape: [3],
        data: new BigInt64Array([-(2n ** 63n), 2n ** 53n + 1n, 2n ** 63n - 1n]),
      },
      i32: { dtype: 'I32', shape: [2], data: new Int32Array([-(2 ** 31), 2 ** 31 - 1]) },
      i16: { dtype: 'I16', shape: [2], data: new Int16Array([-32768, 32767]) },
      i8: { dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) },
      u8: { dtype: 'U8', shape: [2], data: new Uint8Array([0, 255]) },
    };
    const metadata = { format: 'np', note: 'h\u00e9llo \u2713' };
    const expected = {
      metadata,
      tensors: Object.fromEntries(
        Object.entries(tensors).map(([name, t]) => [
          name,
          {
            dtype: NUMPY_DTYPE[t.dtype],
            // F16 is rounded by numpy from the float32 input; everything else is built directly.
            build_from: t.dtype === 'F16' ? 'float32' : NUMPY_DTYPE[t.dtype],
            shape: t.shape,
            values: valueStrings(t.data),
          },
        ]),
      ),
    };

    const dir = await mkdtemp(join(tmpdir(), 'safetensors-python-'));
    try {
      const ours = join(dir, 'ours.safetensors');
      const theirs = join(dir, 'theirs.safetensors');
      const expectedPath = join(dir, 'expected.json');
      await writeSafetensorsFile(ours, tensors, metadata);
      await writeFile(expectedPath, JSON.stringify(expected));
      let output: string;
      try {
        output = execFileSync(PYTHON, ['-c', PYTHON_ROUND_TRIP, ours, theirs, expectedPath], {
          encoding: 'utf8',
        });
      } catch (e) {
        const { stdout, stderr } = e as { stdout?: string; stderr?: string };
        throw new Error(`python round trip failed:\n${stdout ?? ''}\n${stderr ?? ''}`);
      }
      expect(output).toContain(`python checked ${Object.keys(tensors).length} tensors`);

      // Python re-ordered the data (by alignment, then name); the content must be identical.
      const fromPython = await readSafetensorsFile(theirs);
      const fromUs = await readSafetensorsFile(ours);
      expect(fromPython.metadata).toEqual(metadata);
      expect(entriesOf(fromPython)).toEqual(entriesOf(fromUs));
      expect([...fromPython.tensors.keys()]).not.toEqual([...fromUs.tensors.keys()]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
