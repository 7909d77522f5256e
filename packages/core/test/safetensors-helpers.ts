/** Byte-level builders and error checks the safetensors tests share. */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import {
  parseSafetensors,
  type SafetensorsContents,
  SafetensorsError,
  type SafetensorsErrorCode,
  type TensorEntry,
} from '../src/safetensors.js';
import { thrownBy } from './support.js';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const FIXTURES = join(HERE, 'fixtures');
export const PYTHON = resolve(HERE, '../../../infra/.cache/venv/bin/python');

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** Assembles a file from raw header text and data bytes, without any validation. */
export function rawFile(headerText: string, data: Uint8Array | number = 0): Uint8Array {
  const header = new TextEncoder().encode(headerText);
  return rawFileFromBytes(header, typeof data === 'number' ? new Uint8Array(data) : data);
}

export function rawFileFromBytes(header: Uint8Array, data: Uint8Array = new Uint8Array()): Uint8Array {
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

export function jsonFile(header: unknown, data: Uint8Array | number = 0): Uint8Array {
  return rawFile(JSON.stringify(header), data);
}

export function withLength(lengthPrefix: bigint, rest: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + rest.length);
  new DataView(out.buffer).setBigUint64(0, lengthPrefix, true);
  out.set(rest, 8);
  return out;
}

export function catchError(fn: () => unknown): SafetensorsError {
  return thrownBy(SafetensorsError, fn);
}

/** Asserts the error code and that the message mentions every fragment (names, numbers). */
export function expectError(
  fn: () => unknown,
  code: SafetensorsErrorCode,
  fragments: (string | number)[],
): void {
  const error = catchError(fn);
  expect(error.code).toBe(code);
  for (const fragment of fragments) expect(error.message).toContain(String(fragment));
}

export const SRC = 'bad.safetensors';
export const parseBad = (bytes: Uint8Array) => () => parseSafetensors(bytes, SRC);

export function f32(...values: number[]): Float32Array {
  return new Float32Array(values);
}

export function float32Bits(value: number): number {
  return new Uint32Array(new Float32Array([value]).buffer)[0]!;
}

/** Bytes of little-endian uint16 values, for hand-made F16/BF16 data. */
export function u16le(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  for (const [i, v] of values.entries()) view.setUint16(i * 2, v, true);
  return out;
}

export function entriesOf(contents: SafetensorsContents): Record<string, TensorEntry> {
  return Object.fromEntries(contents.tensors);
}

/** A file of test/fixtures (written by make_safetensors_fixtures.py). */
export function readFixture(name: string): Promise<Uint8Array> {
  return readFile(join(FIXTURES, name));
}
