/** Malformed safetensors input: one specific error per problem. */
import { describe, it } from 'vitest';
import { parseSafetensors } from '../src/safetensors.js';
import {
  expectError,
  jsonFile,
  parseBad,
  rawFile,
  rawFileFromBytes,
  SRC,
  withLength,
} from './safetensors-helpers.js';

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
