/**
 * The safetensors format (Hugging Face): writing here, reading in `safetensors-read.ts`, the format's types and
 * rules in `safetensors-format.ts`. Everything is exported from this module.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  checkShape,
  describe,
  elementCount,
  type Fail,
  HOST_IS_LITTLE_ENDIAN,
  ITEM_SIZE,
  isDtype,
  METADATA_KEY,
  type SafetensorsDtype,
  SafetensorsError,
  type SafetensorsErrorCode,
  swapBytes,
  type TensorData,
  type TensorEntry,
  type TensorsInput,
  typeName,
} from './safetensors-format.js';

export {
  DEFAULT_MAX_HEADER_BYTES,
  type ParseOptions,
  type SafetensorsContents,
  type SafetensorsDtype,
  SafetensorsError,
  type SafetensorsErrorCode,
  type TensorData,
  type TensorEntry,
  type TensorsInput,
} from './safetensors-format.js';
export * from './safetensors-read.js';

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/**
 * Serializes tensors to safetensors bytes. Data is laid out contiguously in input order; the
 * header is padded with spaces to a multiple of 8 bytes (as the Python library does), so the data
 * buffer starts 8-byte aligned. `__metadata__` is written only when `metadata` has entries.
 */
export function serializeSafetensors(tensors: TensorsInput, metadata?: Record<string, string>): Uint8Array {
  return serialize(tensors, metadata, '<buffer>');
}

/**
 * Writes atomically: to `path.tmp-<random>`, fsync, then rename over `path`, so a crash leaves
 * either the old file or the complete new one, never a partial file.
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: TensorsInput,
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = serialize(tensors, metadata, path); // validate before touching the disk
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    const handle = await open(tmp, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {}); // it may not exist; the original error is what matters
    throw e;
  }
  await syncDirectory(dirname(path));
}

/** Makes the rename itself durable. Best effort: some platforms (Windows) cannot open directories. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // The file content is already synced; only the directory entry's durability is unconfirmed.
  }
}

function serialize(
  tensors: TensorsInput,
  metadata: Record<string, string> | undefined,
  target: string,
): Uint8Array {
  const fail = (code: SafetensorsErrorCode, what: string): never => {
    throw new SafetensorsError(code, `cannot write ${target}: ${what}`);
  };
  const entries = tensorEntries(tensors, fail);
  const encoded = entries.map(([name, tensor]) => ({
    name,
    tensor,
    bytes: encodeTensor(name, tensor, fail),
  }));

  const { head, dataBytes } = encodeHeader(
    encoded.map(({ name, tensor, bytes }) => [name, tensor.dtype, tensor.shape, bytes.length] as const),
    metadata,
    fail,
  );
  const out = new Uint8Array(head.length + dataBytes);
  out.set(head, 0);
  let position = head.length;
  for (const { bytes } of encoded) {
    out.set(bytes, position);
    position += bytes.length;
  }
  return out;
}

/**
 * The length prefix and JSON header for tensors laid out contiguously in the given order
 * ([name, dtype, shape, byte length] each); `dataBytes` is the size of the data buffer that follows.
 */
function encodeHeader(
  tensors: readonly (readonly [string, SafetensorsDtype, number[], number])[],
  metadata: Record<string, string> | undefined,
  fail: Fail,
): { head: Uint8Array; dataBytes: number } {
  const header: [string, unknown][] = [];
  if (metadata !== undefined) {
    checkMetadataForWrite(metadata, fail);
    if (Object.keys(metadata).length > 0) header.push([METADATA_KEY, metadata]);
  }
  let offset = 0;
  for (const [name, dtype, shape, byteLength] of tensors) {
    header.push([name, { dtype, shape, data_offsets: [offset, offset + byteLength] }]);
    offset += byteLength;
  }
  // Object.fromEntries (not assignment) so a tensor named "__proto__" becomes an ordinary key.
  const json = new TextEncoder().encode(JSON.stringify(Object.fromEntries(header)));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + headerLength);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLength), true);
  head.set(json, 8);
  head.fill(0x20, 8 + json.length, 8 + headerLength); // space padding is valid JSON whitespace
  return { head, dataBytes: offset };
}

/** A tensor's name, dtype and shape, without its data (what a streamed file's header needs). */
export interface TensorSpec {
  dtype: SafetensorsDtype;
  shape: number[];
}

/**
 * The header of a file holding `specs` in order, and where each tensor's bytes start relative to the start of
 * the file, for writers that fill in the data later (see `SafetensorsStreamWriter`).
 */
export function safetensorsLayout(
  specs: Iterable<readonly [string, TensorSpec]>,
  target: string,
  metadata?: Record<string, string>,
): { head: Uint8Array; fileBytes: number; offsets: Map<string, number> } {
  const fail = (code: SafetensorsErrorCode, what: string): never => {
    throw new SafetensorsError(code, `cannot write ${target}: ${what}`);
  };
  const rows: [string, SafetensorsDtype, number[], number][] = [];
  const seen = new Set<string>();
  for (const [name, { dtype, shape }] of specs) {
    if (name === METADATA_KEY)
      fail('RESERVED_TENSOR_NAME', `tensor name "${METADATA_KEY}" is reserved for metadata`);
    if (seen.has(name)) fail('DUPLICATE_TENSOR_NAME', `tensor name "${name}" appears more than once`);
    seen.add(name);
    if (!isDtype(dtype)) fail('UNKNOWN_DTYPE', `tensor "${name}": unknown dtype ${describe(dtype)}`);
    checkShape(shape, `tensor "${name}"`, fail);
    rows.push([name, dtype, shape, Number(elementCount(shape)) * ITEM_SIZE[dtype]]);
  }
  const { head, dataBytes } = encodeHeader(rows, metadata, fail);
  const offsets = new Map<string, number>();
  let position = head.length;
  for (const [name, , , byteLength] of rows) {
    offsets.set(name, position);
    position += byteLength;
  }
  return { head, fileBytes: head.length + dataBytes, offsets };
}

/** Bytes per element of a dtype. */
export function dtypeItemSize(dtype: SafetensorsDtype): number {
  return ITEM_SIZE[dtype];
}

/**
 * The little-endian bytes of `data` stored as `dtype` (floats from Float32Array/Float64Array; other dtypes from
 * the array type the reader returns), for writing part of a tensor.
 */
export function encodeElements(dtype: SafetensorsDtype, data: TensorData, target: string): Uint8Array {
  const fail = (code: SafetensorsErrorCode, what: string): never => {
    throw new SafetensorsError(code, `cannot write ${target}: ${what}`);
  };
  return encodeTensor(target, { dtype, shape: [data.length], data }, fail);
}

function tensorEntries(tensors: TensorsInput, fail: Fail): [string, TensorEntry][] {
  const pairs: Iterable<readonly [string, TensorEntry]> =
    Symbol.iterator in tensors
      ? (tensors as Iterable<readonly [string, TensorEntry]>)
      : Object.entries(tensors);
  const seen = new Set<string>();
  const entries: [string, TensorEntry][] = [];
  for (const [name, tensor] of pairs) {
    if (name === METADATA_KEY)
      fail('RESERVED_TENSOR_NAME', `tensor name "${METADATA_KEY}" is reserved for metadata`);
    if (seen.has(name)) fail('DUPLICATE_TENSOR_NAME', `tensor name "${name}" appears more than once`);
    seen.add(name);
    entries.push([name, tensor]);
  }
  return entries;
}

function checkMetadataForWrite(metadata: Record<string, string>, fail: Fail): void {
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string')
      fail('INVALID_METADATA', `metadata key "${key}" must map to a string, got ${describe(value)}`);
  }
}

/** Validates a tensor and returns its little-endian bytes in the requested dtype. */
function encodeTensor(name: string, tensor: TensorEntry, fail: Fail): Uint8Array {
  const where = `tensor "${name}"`;
  const { dtype, shape, data } = tensor;
  if (!isDtype(dtype)) {
    fail(
      'UNKNOWN_DTYPE',
      `${where}: unknown dtype ${describe(dtype)} (supported: ${Object.keys(ITEM_SIZE).join(', ')})`,
    );
  }
  checkShape(shape, where, fail);
  const typed = toStorageArray(dtype, data);
  if (!typed) {
    fail('WRITE_DATA_TYPE_MISMATCH', `${where}: dtype ${dtype} cannot be written from a ${typeName(data)}`);
  }
  const elements = elementCount(shape);
  if (BigInt(data.length) !== elements) {
    fail(
      'WRITE_DATA_LENGTH_MISMATCH',
      `${where}: data has ${data.length} elements but shape ${describe(shape)} needs ${elements}`,
    );
  }
  return littleEndianBytes(typed, ITEM_SIZE[dtype]);
}

type StorageArray = TensorData | Uint16Array;

/** The array type each non-float dtype must be written from (the type the reader returns). */
const INTEGER_ARRAY_TYPES: Partial<Record<SafetensorsDtype, abstract new (length: number) => TensorData>> = {
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};

/**
 * Converts `data` to the typed array whose memory layout is the dtype's (F16/BF16 as raw
 * Uint16Array bits), or returns undefined when the array type does not fit the dtype.
 * Float64Array input to F16/BF16 is rounded to float32 first (double rounding, rarely off by 1 ulp).
 */
function toStorageArray(dtype: SafetensorsDtype, data: TensorData): StorageArray | undefined {
  if (data instanceof Float32Array || data instanceof Float64Array) {
    switch (dtype) {
      case 'F32':
        return data instanceof Float32Array ? data : Float32Array.from(data);
      case 'F64':
        return data instanceof Float64Array ? data : Float64Array.from(data);
      case 'F16':
        return Uint16Array.from(float32Bits(data), float32BitsToHalfBits);
      case 'BF16':
        return Uint16Array.from(float32Bits(data), float32BitsToBfloat16Bits);
      default:
        return undefined;
    }
  }
  const expected = INTEGER_ARRAY_TYPES[dtype];
  return expected && data instanceof expected ? data : undefined;
}

function float32Bits(data: Float32Array | Float64Array): Uint32Array {
  const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
  return new Uint32Array(f32.buffer, f32.byteOffset, f32.length);
}

/** float32 bits -> binary16 bits, rounding to nearest, ties to even (as numpy's astype does). */
export function float32BitsToHalfBits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) {
    // Inf stays Inf; NaN keeps its top payload bits and is forced quiet so it cannot become Inf.
    return sign | 0x7c00 | (mantissa ? 0x200 | (mantissa >>> 13) : 0);
  }
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00; // too large: Inf
  if (halfExponent <= 0) {
    // Subnormal half (or zero): shift the full 24-bit significand into the 10-bit field.
    if (halfExponent < -10) return sign; // below half the smallest subnormal: rounds to zero
    return sign | roundShift(mantissa | 0x800000, 14 - halfExponent);
  }
  // A carry out of the mantissa correctly bumps the exponent (and 65520 up to Inf).
  return sign | ((halfExponent << 10) + roundShift(mantissa, 13));
}

/** value >> shift, rounded to nearest with ties to even. */
function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}

/** float32 bits -> bfloat16 bits, rounding to nearest, ties to even. */
export function float32BitsToBfloat16Bits(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40; // NaN: keep it a (quiet) NaN
  return roundShift(bits >>> 0, 16) & 0xffff;
}

function littleEndianBytes(array: StorageArray, itemSize: number): Uint8Array {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  if (HOST_IS_LITTLE_ENDIAN || itemSize === 1) return bytes;
  const copy = bytes.slice();
  swapBytes(copy, itemSize);
  return copy;
}
