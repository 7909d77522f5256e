import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  float32BitsToBfloat16Bits,
  float32BitsToHalfBits,
  halfBitsToFloat,
  parseSafetensors,
  readSafetensorsFile,
  type SafetensorsContents,
  SafetensorsError,
  type SafetensorsErrorCode,
  serializeSafetensors,
  type TensorEntry,
  writeSafetensorsFile,
} from '../src/safetensors.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const FIXTURES = join(HERE, 'fixtures');
const PYTHON = resolve(HERE, '../../../infra/.cache/venv/bin/python');

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** Assembles a file from raw header text and data bytes, without any validation. */
function rawFile(headerText: string, data: Uint8Array | number = 0): Uint8Array {
  const header = new TextEncoder().encode(headerText);
  return rawFileFromBytes(header, typeof data === 'number' ? new Uint8Array(data) : data);
}

function rawFileFromBytes(header: Uint8Array, data: Uint8Array = new Uint8Array()): Uint8Array {
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

function jsonFile(header: unknown, data: Uint8Array | number = 0): Uint8Array {
  return rawFile(JSON.stringify(header), data);
}

function withLength(lengthPrefix: bigint, rest: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + rest.length);
  new DataView(out.buffer).setBigUint64(0, lengthPrefix, true);
  out.set(rest, 8);
  return out;
}

function catchError(fn: () => unknown): SafetensorsError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SafetensorsError);
    return e as SafetensorsError;
  }
  throw new Error('expected a SafetensorsError, but nothing was thrown');
}

/** Asserts the error code and that the message mentions every fragment (names, numbers). */
function expectError(fn: () => unknown, code: SafetensorsErrorCode, fragments: (string | number)[]): void {
  const error = catchError(fn);
  expect(error.code).toBe(code);
  for (const fragment of fragments) expect(error.message).toContain(String(fragment));
}

const SRC = 'bad.safetensors';
const parseBad = (bytes: Uint8Array) => () => parseSafetensors(bytes, SRC);

function f32(...values: number[]): Float32Array {
  return new Float32Array(values);
}

function float32Bits(value: number): number {
  return new Uint32Array(new Float32Array([value]).buffer)[0]!;
}

/** Bytes of little-endian uint16 values, for hand-made F16/BF16 data. */
function u16le(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  for (const [i, v] of values.entries()) view.setUint16(i * 2, v, true);
  return out;
}

function entriesOf(contents: SafetensorsContents): Record<string, TensorEntry> {
  return Object.fromEntries(contents.tensors);
}

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
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safetensors-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes atomically (no temp file left behind) and reads back', async () => {
    const path = join(dir, 'model.safetensors');
    await writeFile(path, 'old contents');
    const tensors = { w: { dtype: 'F32' as const, shape: [2], data: f32(1, 2) } };
    await writeSafetensorsFile(path, tensors, { step: '3' });
    expect(await readdir(dir)).toEqual(['model.safetensors']);
    const read = await readSafetensorsFile(path);
    expect(entriesOf(read)).toEqual(tensors);
    expect(read.metadata).toEqual({ step: '3' });
  });

  it('validates before touching the disk, and names the path in errors', async () => {
    const path = join(dir, 'invalid.safetensors');
    const bad = { w: { dtype: 'F32' as const, shape: [3], data: f32(1) } };
    await expect(writeSafetensorsFile(path, bad)).rejects.toThrow(path);
    expect(await readdir(dir)).not.toContain('invalid.safetensors');

    await writeFile(path, new Uint8Array(4));
    await expect(readSafetensorsFile(path)).rejects.toMatchObject({ code: 'FILE_TOO_SHORT' });
    await expect(readSafetensorsFile(path)).rejects.toThrow(path);
  });
});

// ---------------------------------------------------------------------------------------------
// Malformed input: one specific error per problem
// ---------------------------------------------------------------------------------------------

describe('malformed files', () => {
  const okEntry = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };

  it('FILE_TOO_SHORT: fewer than 8 bytes', () => {
    expectError(parseBad(new Uint8Array(5)), 'FILE_TOO_SHORT', [SRC, '5 bytes']);
  });

  it('HEADER_LENGTH_OUT_OF_BOUNDS: header length beyond the end of the file', () => {
    expectError(parseBad(withLength(1000n, new Uint8Array(12))), 'HEADER_LENGTH_OUT_OF_BOUNDS', [
      SRC,
      '1000',
      '12 bytes',
      '20 bytes',
    ]);
  });

  it('HEADER_TOO_LARGE: header length over the cap, default and configured', () => {
    expectError(parseBad(withLength(2n ** 63n, new Uint8Array(2))), 'HEADER_TOO_LARGE', [
      SRC,
      String(2n ** 63n),
      '100000000',
    ]);
    const valid = jsonFile({ a: okEntry }, 8);
    expectError(() => parseSafetensors(valid, SRC, { maxHeaderBytes: 16 }), 'HEADER_TOO_LARGE', [
      SRC,
      valid.length - 8 - 8,
      'limit of 16 bytes',
    ]);
  });

  it('HEADER_INVALID_UTF8: header bytes are not UTF-8', () => {
    const header = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]);
    expectError(parseBad(rawFileFromBytes(header)), 'HEADER_INVALID_UTF8', [SRC, '4-byte header', 'UTF-8']);
  });

  it('HEADER_INVALID_JSON: header is not JSON', () => {
    expectError(parseBad(rawFile('{"a": ')), 'HEADER_INVALID_JSON', [SRC, '6-byte header', 'JSON']);
    // A byte order mark is not JSON whitespace, so it must not be silently dropped.
    expectError(parseBad(rawFile('\ufeff{}')), 'HEADER_INVALID_JSON', [SRC]);
  });

  it('HEADER_NOT_OBJECT: header is JSON but not an object', () => {
    expectError(parseBad(rawFile('[1,2]')), 'HEADER_NOT_OBJECT', [SRC, '[1,2]']);
    expectError(parseBad(rawFile('null')), 'HEADER_NOT_OBJECT', [SRC, 'null']);
  });

  it('INVALID_TENSOR_ENTRY: entry is not an object or lacks a field', () => {
    expectError(parseBad(jsonFile({ weight: 5 })), 'INVALID_TENSOR_ENTRY', [SRC, '"weight"', '5']);
    expectError(parseBad(jsonFile({ weight: [1] })), 'INVALID_TENSOR_ENTRY', [SRC, '"weight"', '[1]']);
    for (const field of ['dtype', 'shape', 'data_offsets'] as const) {
      const { [field]: _dropped, ...rest } = okEntry;
      expectError(parseBad(jsonFile({ weight: rest }, 8)), 'INVALID_TENSOR_ENTRY', [SRC, '"weight"', field]);
    }
  });

  it('UNKNOWN_DTYPE: dtype outside the supported set', () => {
    const entry = { ...okEntry, dtype: 'F8_E4M3' };
    expectError(parseBad(jsonFile({ weight: entry }, 8)), 'UNKNOWN_DTYPE', [
      SRC,
      '"weight"',
      'F8_E4M3',
      'BF16',
    ]);
    expectError(parseBad(jsonFile({ weight: { ...okEntry, dtype: 4 } }, 8)), 'UNKNOWN_DTYPE', [
      '"weight"',
      '4',
    ]);
  });

  it('INVALID_SHAPE: negative, fractional or non-numeric dims', () => {
    for (const shape of [[-2], [1.5, 2], ['2'], 2, null]) {
      expectError(parseBad(jsonFile({ weight: { ...okEntry, shape } }, 8)), 'INVALID_SHAPE', [
        SRC,
        '"weight"',
        JSON.stringify(shape),
      ]);
    }
  });

  it('INVALID_OFFSETS: not two non-negative integers, or begin > end', () => {
    for (const offsets of [[0], [0, 8, 16], [-1, 7], [0, 7.5], ['0', '8'], null]) {
      expectError(
        parseBad(jsonFile({ weight: { ...okEntry, data_offsets: offsets } }, 8)),
        'INVALID_OFFSETS',
        [SRC, '"weight"', JSON.stringify(offsets)],
      );
    }
    const reversed = { dtype: 'F32', shape: [0], data_offsets: [8, 0] };
    expectError(parseBad(jsonFile({ weight: reversed }, 8)), 'INVALID_OFFSETS', [
      SRC,
      '"weight"',
      '[8, 0]',
      'begin > end',
    ]);
  });

  it('SIZE_MISMATCH: byte span differs from product(shape) * itemsize', () => {
    const entry = { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] };
    expectError(parseBad(jsonFile({ weight: entry }, 20)), 'SIZE_MISMATCH', [
      SRC,
      '"weight"',
      '20 bytes',
      '[2,3]',
      '24 bytes',
      '6 elements',
    ]);
    // Huge shapes are compared exactly, not in rounded floating point.
    const huge = { dtype: 'U8', shape: [2 ** 40, 2 ** 40, 3], data_offsets: [0, 8] };
    expectError(parseBad(jsonFile({ big: huge }, 8)), 'SIZE_MISMATCH', ['"big"', String(3n * 2n ** 80n)]);
  });

  it('OFFSETS_OUT_OF_BOUNDS: tensor extends past the data buffer', () => {
    const entry = { dtype: 'F32', shape: [2], data_offsets: [4, 12] };
    expectError(parseBad(jsonFile({ weight: entry }, 10)), 'OFFSETS_OUT_OF_BOUNDS', [
      SRC,
      '"weight"',
      '[4, 12]',
      '10 bytes',
    ]);
  });

  it('OVERLAPPING_TENSORS: two tensors share bytes', () => {
    const header = {
      a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
      b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
    };
    expectError(parseBad(jsonFile(header, 24)), 'OVERLAPPING_TENSORS', [SRC, '"a" [0, 16]', '"b" [8, 24]']);
    // A zero-size tensor inside another one overlaps it too.
    const inside = { a: header.a, z: { dtype: 'F32', shape: [0], data_offsets: [4, 4] } };
    expectError(parseBad(jsonFile(inside, 16)), 'OVERLAPPING_TENSORS', ['"a"', '"z" [4, 4]']);
  });

  it('DATA_GAP: unused bytes before or between tensors', () => {
    const between = {
      a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
    };
    expectError(parseBad(jsonFile(between, 12)), 'DATA_GAP', [
      SRC,
      'gap of 4 bytes',
      '"a" (ends at 4)',
      '"b" (begins at 8)',
    ]);
    const atStart = { b: { dtype: 'F32', shape: [1], data_offsets: [2, 6] } };
    expectError(parseBad(jsonFile(atStart, 6)), 'DATA_GAP', [
      SRC,
      'gap of 2 bytes',
      'start of the data buffer',
      '"b"',
    ]);
  });

  it('TRAILING_BYTES: garbage after the last tensor', () => {
    const header = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } };
    expectError(parseBad(jsonFile(header, 7)), 'TRAILING_BYTES', [
      SRC,
      '3 trailing bytes',
      '"a"',
      'end at 4',
      '7 bytes',
    ]);
    expectError(parseBad(jsonFile({}, 5)), 'TRAILING_BYTES', [SRC, '5 trailing bytes', 'no tensors']);
  });

  it('INVALID_METADATA: __metadata__ is not a string-to-string map', () => {
    expectError(parseBad(jsonFile({ __metadata__: { epoch: 3 } })), 'INVALID_METADATA', [
      SRC,
      '"epoch"',
      '3',
    ]);
    expectError(parseBad(jsonFile({ __metadata__: ['a'] })), 'INVALID_METADATA', [
      SRC,
      '__metadata__',
      '["a"]',
    ]);
    expectError(parseBad(jsonFile({ __metadata__: 'x' })), 'INVALID_METADATA', [SRC, '__metadata__', '"x"']);
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

// ---------------------------------------------------------------------------------------------
// Half-precision conversions
// ---------------------------------------------------------------------------------------------

describe('F16 and BF16', () => {
  it('decodes known F16 values from hand-made bytes', () => {
    const cases: [number, number][] = [
      [0x3c00, 1],
      [0xc100, -2.5],
      [0x7bff, 65504],
      [0x0001, 2 ** -24], // smallest subnormal
      [0x03ff, 1023 * 2 ** -24], // largest subnormal
      [0x0400, 2 ** -14], // smallest normal
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
      [0x7e00, Number.NaN],
      [0x8000, -0],
      [0x2e66, 0.0999755859375],
    ];
    const header = { h: { dtype: 'F16', shape: [cases.length], data_offsets: [0, cases.length * 2] } };
    const parsed = parseSafetensors(jsonFile(header, u16le(cases.map(([bits]) => bits))));
    expect(parsed.tensors.get('h')).toEqual({
      dtype: 'F16',
      shape: [cases.length],
      data: f32(...cases.map(([, v]) => v)),
    });
  });

  it('decodes known BF16 values from hand-made bytes', () => {
    const cases: [number, number][] = [
      [0x3f80, 1],
      [0xc020, -2.5],
      [0x7f7f, 3.3895313892515355e38], // largest finite
      [0x0001, 2 ** -133], // smallest subnormal
      [0x7f80, Infinity],
      [0xff80, -Infinity],
      [0x7fc0, Number.NaN],
      [0x8000, -0],
      [0x3dcd, 0.10009765625],
    ];
    const header = { b: { dtype: 'BF16', shape: [cases.length], data_offsets: [0, cases.length * 2] } };
    const parsed = parseSafetensors(jsonFile(header, u16le(cases.map(([bits]) => bits))));
    expect(parsed.tensors.get('b')!.data).toEqual(f32(...cases.map(([, v]) => v)));
  });

  it('halfBitsToFloat inverts float32BitsToHalfBits on all 65536 bit patterns (NaNs stay NaN)', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = halfBitsToFloat(bits);
      if (Number.isNaN(value))
        expect(Number.isNaN(halfBitsToFloat(float32BitsToHalfBits(float32Bits(value))))).toBe(true);
      else if (float32BitsToHalfBits(float32Bits(value)) !== bits) expect(bits).toBe(-1); // fail loudly, cheaply
    }
  });

  it('encodes F16 with round-to-nearest-even, overflow to Inf and subnormal rounding', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2.5, 0xc100],
      [65504, 0x7bff],
      [65519, 0x7bff], // just below the halfway point to 65536
      [65520, 0x7c00], // halfway rounds to even, which is Inf
      [1e10, 0x7c00],
      [-1e10, 0xfc00],
      [1 + 2 ** -11, 0x3c00], // tie -> even
      [1 + 3 * 2 ** -11, 0x3c02], // tie -> even (up)
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal -> 0
      [1.5 * 2 ** -25, 0x0001],
      [1.5 * 2 ** -24, 0x0002], // tie between subnormals 1 and 2 -> 2
      [1023.5 * 2 ** -24, 0x0400], // rounds up from the largest subnormal to the smallest normal
      [1e-10, 0x0000],
      [-0, 0x8000],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [Number.NaN, 0x7e00],
      [0.1, 0x2e66],
    ];
    for (const [value, bits] of cases)
      expect([value, float32BitsToHalfBits(float32Bits(value))]).toEqual([value, bits]);
  });

  it('encodes BF16 with round-to-nearest-even and keeps NaN a NaN', () => {
    const cases: [number, number][] = [
      [1, 0x3f80],
      [-2.5, 0xc020],
      [1 + 2 ** -8, 0x3f80], // tie -> even
      [1 + 3 * 2 ** -8, 0x3f82], // tie -> even (up)
      [1 + 2 ** -8 + 2 ** -20, 0x3f81], // above the tie
      [3.4028234663852886e38, 0x7f80], // float32 max rounds to Inf
      [Infinity, 0x7f80],
      [-0, 0x8000],
      [Number.NaN, 0x7fc0],
      [0.1, 0x3dcd],
    ];
    for (const [value, bits] of cases)
      expect([value, float32BitsToBfloat16Bits(float32Bits(value))]).toEqual([value, bits]);
    // A NaN whose payload sits only in the low 16 bits must not truncate to Inf.
    expect(float32BitsToBfloat16Bits(0x7f800001)).toBe(0x7fc0);
  });

  it('round-trips F16 and BF16 tensors through the writer', () => {
    const values = f32(1, -2.5, 65504, 2 ** -24, Infinity, Number.NaN, -0);
    const parsed = parseSafetensors(
      serializeSafetensors({
        h: { dtype: 'F16', shape: [7], data: values },
        b: { dtype: 'BF16', shape: [7], data: f32(1, -2.5, 2 ** -133, 2 ** 100, Infinity, Number.NaN, -0) },
      }),
    );
    expect(parsed.tensors.get('h')!.data).toEqual(values);
    expect(parsed.tensors.get('b')!.data).toEqual(
      f32(1, -2.5, 2 ** -133, 2 ** 100, Infinity, Number.NaN, -0),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Interop with the Python reference library
// ---------------------------------------------------------------------------------------------

function readFixture(name: string): Promise<Uint8Array> {
  return readFile(join(FIXTURES, name));
}

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
