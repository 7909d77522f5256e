/** safetensors in TypeScript: round trips, the file helpers, what the writer refuses. */
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  parseSafetensors,
  readSafetensorsFile,
  serializeSafetensors,
  type TensorEntry,
  writeSafetensorsFile,
} from '../src/safetensors.js';
import { entriesOf, expectError, f32, readFixture } from './safetensors-helpers.js';
import { useTempDir } from './support.js';

// ---------------------------------------------------------------------------------------------
// Round trips in TypeScript
// ---------------------------------------------------------------------------------------------

describe('round trip', () => {
  const tensors: Record<string, TensorEntry> = {
    matrix: { dtype: 'F32', shape: [2, 3], data: f32(0, -1.5, 3.25, 0.1, -0, Number.NaN) },
    odd: { dtype: 'F32', shape: [1, 1, 5], data: f32(Infinity, -Infinity, 1e-40, 3.4e38, 7) },
    scalar: { dtype: 'F32', shape: [], data: f32(42.5) },
    empty: { dtype: 'F32', shape: [0, 3], data: f32() },
    ids: {
      dtype: 'I64',
      shape: [4],
      data: new BigInt64Array([-(2n ** 63n), -1n, 2n ** 53n + 1n, 2n ** 63n - 1n]),
    },
    counts: { dtype: 'I32', shape: [3], data: new Int32Array([-(2 ** 31), 0, 2 ** 31 - 1]) },
    bytes: { dtype: 'U8', shape: [3], data: new Uint8Array([0, 128, 255]) },
  };
  const metadata = { format: 'pt', note: 'h\u00e9llo \u2713', empty: '' };

  it('reads back exactly what it wrote, with metadata', () => {
    const parsed = parseSafetensors(serializeSafetensors(tensors, metadata));
    expect(parsed.metadata).toEqual(metadata);
    expect(entriesOf(parsed)).toEqual(tensors); // toEqual distinguishes -0 from 0 and matches NaN
    expect([...parsed.tensors.keys()]).toEqual(Object.keys(tensors));
  });

  it('accepts a Map and an array of pairs, and writes no metadata entry when none is given', () => {
    const fromMap = serializeSafetensors(new Map(Object.entries(tensors)));
    const fromPairs = serializeSafetensors(Object.entries(tensors));
    expect(fromMap).toEqual(serializeSafetensors(tensors));
    expect(fromPairs).toEqual(fromMap);
    expect(parseSafetensors(fromMap).metadata).toEqual({});
    expect(new TextDecoder().decode(fromMap)).not.toContain('__metadata__');
  });

  it('lays data out contiguously in insertion order and pads the header with spaces to 8 bytes', () => {
    const bytes = serializeSafetensors(tensors, metadata);
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
    expect(headerText).toMatch(/^\{.*\} *$/);
    const header = JSON.parse(headerText) as Record<string, { data_offsets: [number, number] }>;
    expect(Object.keys(header)).toEqual(['__metadata__', ...Object.keys(tensors)]);
    let cursor = 0;
    for (const name of Object.keys(tensors)) {
      const [begin, end] = header[name]!.data_offsets;
      expect(begin).toBe(cursor);
      cursor = end;
    }
    expect(8 + headerLength + cursor).toBe(bytes.length);
  });

  it('writes a tensor named "__proto__" as an ordinary key', () => {
    const parsed = parseSafetensors(
      serializeSafetensors(new Map([['__proto__', { dtype: 'F32', shape: [1], data: f32(1) }]])),
    );
    expect([...parsed.tensors.keys()]).toEqual(['__proto__']);
  });

  it('writes every dtype it reads, so a parsed file can be written back unchanged', async () => {
    const first = parseSafetensors(await readFixture('python_numpy.safetensors'));
    const second = parseSafetensors(serializeSafetensors(first.tensors, first.metadata));
    expect(entriesOf(second)).toEqual(entriesOf(first));
    expect(second.metadata).toEqual(first.metadata);
  });

  it('converts Float64Array input for float dtypes, and writes from a subarray view', () => {
    const backing = f32(9, 9, 1.5, 2.5, 9);
    const parsed = parseSafetensors(
      serializeSafetensors({
        view: { dtype: 'F32', shape: [2], data: backing.subarray(2, 4) },
        wide: { dtype: 'F32', shape: [1], data: new Float64Array([0.1]) },
        double: { dtype: 'F64', shape: [1], data: f32(0.5) },
      }),
    );
    expect(parsed.tensors.get('view')!.data).toEqual(f32(1.5, 2.5));
    expect(parsed.tensors.get('wide')!.data).toEqual(f32(Math.fround(0.1)));
    expect(parsed.tensors.get('double')).toEqual({ dtype: 'F64', shape: [1], data: f32(0.5) });
  });

  it('copies misaligned data into aligned arrays (odd offsets in the file and in the input buffer)', () => {
    // A 3-byte U8 tensor first puts the F32 and I64 data at odd offsets in the data buffer.
    const bytes = serializeSafetensors({
      pad: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
      x: { dtype: 'F32', shape: [2], data: f32(1.25, -8) },
      y: { dtype: 'I64', shape: [1], data: new BigInt64Array([-5n]) },
    });
    // ...and the whole file sits at an odd offset of a larger Node Buffer.
    const shifted = Buffer.alloc(bytes.length + 5);
    shifted.set(bytes, 3);
    const parsed = parseSafetensors(shifted.subarray(3, 3 + bytes.length));
    expect(parsed.tensors.get('x')!.data).toEqual(f32(1.25, -8));
    expect(parsed.tensors.get('y')!.data).toEqual(new BigInt64Array([-5n]));
    // The decoded arrays own their memory: mutating the input does not change them.
    shifted.fill(0);
    expect(parsed.tensors.get('pad')!.data).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('accepts an empty file with no tensors', () => {
    expect(parseSafetensors(serializeSafetensors({}))).toEqual({ tensors: new Map(), metadata: {} });
  });
});

describe('file helpers', () => {
  const dir = useTempDir('safetensors-test-');

  it('writes atomically (no temp file left behind) and reads back', async () => {
    const path = join(dir(), 'model.safetensors');
    await writeFile(path, 'old contents');
    const tensors = { w: { dtype: 'F32' as const, shape: [2], data: f32(1, 2) } };
    await writeSafetensorsFile(path, tensors, { step: '3' });
    expect(await readdir(dir())).toEqual(['model.safetensors']);
    const read = await readSafetensorsFile(path);
    expect(entriesOf(read)).toEqual(tensors);
    expect(read.metadata).toEqual({ step: '3' });
  });

  it('validates before touching the disk, and names the path in errors', async () => {
    const path = join(dir(), 'invalid.safetensors');
    const bad = { w: { dtype: 'F32' as const, shape: [3], data: f32(1) } };
    await expect(writeSafetensorsFile(path, bad)).rejects.toThrow(path);
    expect(await readdir(dir())).not.toContain('invalid.safetensors');

    await writeFile(path, new Uint8Array(4));
    await expect(readSafetensorsFile(path)).rejects.toMatchObject({ code: 'FILE_TOO_SHORT' });
    await expect(readSafetensorsFile(path)).rejects.toThrow(path);
  });
});

describe('writer validation', () => {
  const write =
    (tensors: Parameters<typeof serializeSafetensors>[0], metadata?: Record<string, string>) => () =>
      serializeSafetensors(tensors, metadata);

  it('WRITE_DATA_LENGTH_MISMATCH: data length differs from product(shape)', () => {
    expectError(
      write({ w: { dtype: 'F32', shape: [2, 3], data: f32(1, 2, 3) } }),
      'WRITE_DATA_LENGTH_MISMATCH',
      ['"w"', '3 elements', '[2,3]', 'needs 6'],
    );
    expectError(write({ s: { dtype: 'F32', shape: [], data: f32() } }), 'WRITE_DATA_LENGTH_MISMATCH', [
      '"s"',
      '0 elements',
      'needs 1',
    ]);
  });

  it('RESERVED_TENSOR_NAME and DUPLICATE_TENSOR_NAME', () => {
    const t: TensorEntry = { dtype: 'U8', shape: [1], data: new Uint8Array(1) };
    expectError(write({ __metadata__: t }), 'RESERVED_TENSOR_NAME', ['"__metadata__"']);
    expectError(
      write([
        ['a', t],
        ['a', t],
      ]),
      'DUPLICATE_TENSOR_NAME',
      ['"a"'],
    );
  });

  it('WRITE_DATA_TYPE_MISMATCH: typed array does not fit the dtype', () => {
    expectError(
      write({ w: { dtype: 'I64', shape: [1], data: new Int32Array(1) } }),
      'WRITE_DATA_TYPE_MISMATCH',
      ['"w"', 'I64', 'Int32Array'],
    );
    expectError(
      write({ w: { dtype: 'F32', shape: [1], data: new Int32Array(1) } }),
      'WRITE_DATA_TYPE_MISMATCH',
      ['F32', 'Int32Array'],
    );
  });

  it('rejects unknown dtypes, bad shapes and non-string metadata', () => {
    const data = f32(1);
    const badDtype = { dtype: 'F8' as 'F32', shape: [1], data };
    expectError(write({ w: badDtype }), 'UNKNOWN_DTYPE', ['"w"', 'F8']);
    expectError(write({ w: { dtype: 'F32', shape: [-1], data } }), 'INVALID_SHAPE', ['"w"', '[-1]']);
    const metadata = { epoch: 3 } as unknown as Record<string, string>;
    expectError(write({ w: { dtype: 'F32', shape: [1], data } }, metadata), 'INVALID_METADATA', [
      '"epoch"',
      '3',
    ]);
  });
});
