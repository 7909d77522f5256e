/**
 * Reader and writer for the safetensors format (Hugging Face).
 *
 * Layout of a file:
 *   - 8 bytes: little-endian u64 N, the length of the JSON header;
 *   - N bytes: UTF-8 JSON object `{ name: { dtype, shape, data_offsets: [begin, end] }, ... }`,
 *     plus an optional `"__metadata__"` entry mapping strings to strings;
 *   - the data buffer: the raw little-endian bytes of every tensor, where `data_offsets` are
 *     relative to the start of this buffer.
 *
 * Reading is strict: every structural problem is reported as a {@link SafetensorsError} with a
 * distinct `code`, and the tensors must tile the data buffer exactly (no overlaps, gaps or
 * trailing bytes), as the reference Rust implementation requires.
 *
 * Decoded data types (see {@link TensorEntry}):
 *   - F32, F16, BF16, F64 -> Float32Array (F16/BF16 widen exactly; F64 is rounded to float32).
 *     `dtype` keeps the on-disk type, so the entry can be written back in that type.
 *   - I64 -> BigInt64Array, I32 -> Int32Array, I16 -> Int16Array, I8 -> Int8Array,
 *     U8 -> Uint8Array, BOOL -> Uint8Array (raw bytes, 0 = false, 1 = true).
 */
import { InputError } from './input-error.js';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** The typed arrays a tensor's elements can live in (see the module comment for which dtype uses which). */
export type TensorData =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

/**
 * One tensor. `data` holds product(shape) elements in row-major order (a scalar has shape []).
 * When writing, float dtypes (F32, F16, BF16, F64) accept a Float32Array or Float64Array; the other
 * dtypes need the exact array type the reader returns for them.
 */
export interface TensorEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  data: TensorData;
}

export interface SafetensorsContents {
  /** Tensors in the order of their data offsets. */
  tensors: Map<string, TensorEntry>;
  /** The `__metadata__` map, or {} when the file has none. */
  metadata: Record<string, string>;
}

export interface ParseOptions {
  /** Largest accepted JSON header, in bytes; protects against absurd allocations. Default 100 MB. */
  maxHeaderBytes?: number;
}

/** Tensors to write: a record, a Map, or any iterable of [name, tensor] pairs (e.g. an array). */
export type TensorsInput = Record<string, TensorEntry> | Iterable<readonly [string, TensorEntry]>;

export type SafetensorsErrorCode =
  // reading
  | 'FILE_TOO_SHORT'
  | 'HEADER_TOO_LARGE'
  | 'HEADER_LENGTH_OUT_OF_BOUNDS'
  | 'HEADER_INVALID_UTF8'
  | 'HEADER_INVALID_JSON'
  | 'HEADER_NOT_OBJECT'
  | 'INVALID_TENSOR_ENTRY'
  | 'UNKNOWN_DTYPE'
  | 'INVALID_SHAPE'
  | 'INVALID_OFFSETS'
  | 'SIZE_MISMATCH'
  | 'OFFSETS_OUT_OF_BOUNDS'
  | 'OVERLAPPING_TENSORS'
  | 'DATA_GAP'
  | 'TRAILING_BYTES'
  | 'NOT_SAFETENSORS'
  | 'INVALID_METADATA'
  // writing (UNKNOWN_DTYPE, INVALID_SHAPE and INVALID_METADATA are reused)
  | 'RESERVED_TENSOR_NAME'
  | 'DUPLICATE_TENSOR_NAME'
  | 'WRITE_DATA_TYPE_MISMATCH'
  | 'WRITE_DATA_LENGTH_MISMATCH';

export class SafetensorsError extends InputError {
  override readonly name = 'SafetensorsError';
  readonly code: SafetensorsErrorCode;

  constructor(code: SafetensorsErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Same limit as the reference implementation. */
export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;

export const METADATA_KEY = '__metadata__';

export const ITEM_SIZE: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(ITEM_SIZE, value);
}

/** Typed arrays use the host byte order; the format is little-endian, so swap on big-endian hosts. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** How the reader and the writer report a problem: throws a SafetensorsError naming the source. */
export type Fail = (code: SafetensorsErrorCode, what: string) => never;

export function checkShape(shape: unknown, where: string, fail: Fail): asserts shape is number[] {
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    fail(
      'INVALID_SHAPE',
      `${where}: shape must be an array of non-negative integers, got ${describe(shape)}`,
    );
  }
}

/** Exact product of the dims (BigInt, so huge shapes cannot round to a matching byte count). */
export function elementCount(shape: number[]): bigint {
  return shape.reduce((product, dim) => product * BigInt(dim), 1n);
}

export function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** "Float32Array", "Array", "Null", ...: robust even for objects without a constructor. */
export function typeName(value: unknown): string {
  return Object.prototype.toString.call(value).slice(8, -1);
}

/** Short JSON rendering of a bad value for error messages. */
export function describe(value: unknown): string {
  const text = value === undefined ? 'undefined' : (JSON.stringify(value) ?? String(value));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Reverses the byte order of every item in place (for big-endian hosts). */
export function swapBytes(bytes: Uint8Array, itemSize: number): void {
  for (let i = 0; i < bytes.length; i += itemSize) bytes.subarray(i, i + itemSize).reverse();
}
