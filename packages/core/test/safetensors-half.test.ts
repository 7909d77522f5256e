/** safetensors F16 and BF16: the half-precision conversions. */
import { describe, expect, it } from 'vitest';
import {
  float32BitsToBfloat16Bits,
  float32BitsToHalfBits,
  halfBitsToFloat,
  parseSafetensors,
  serializeSafetensors,
} from '../src/safetensors.js';
import { f32, float32Bits, jsonFile, u16le } from './safetensors-helpers.js';

// ---------------------------------------------------------------------------------------------
// Half-precision conversions
// ---------------------------------------------------------------------------------------------

/** The one tensor of a hand-made `dtype` file whose raw 16-bit values are the cases' bits. */
function parseHalfBits(dtype: 'F16' | 'BF16', cases: [number, number][]) {
  const header = { t: { dtype, shape: [cases.length], data_offsets: [0, cases.length * 2] } };
  return parseSafetensors(jsonFile(header, u16le(cases.map(([bits]) => bits)))).tensors.get('t')!;
}

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
    expect(parseHalfBits('F16', cases)).toEqual({
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
    expect(parseHalfBits('BF16', cases).data).toEqual(f32(...cases.map(([, v]) => v)));
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
