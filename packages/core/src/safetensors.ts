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
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

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
  | 'INVALID_METADATA'
  // writing (UNKNOWN_DTYPE, INVALID_SHAPE and INVALID_METADATA are reused)
  | 'RESERVED_TENSOR_NAME'
  | 'DUPLICATE_TENSOR_NAME'
  | 'WRITE_DATA_TYPE_MISMATCH'
  | 'WRITE_DATA_LENGTH_MISMATCH';

export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
  readonly code: SafetensorsErrorCode;

  constructor(code: SafetensorsErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Same limit as the reference implementation. */
export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

const ITEM_SIZE: Record<SafetensorsDtype, number> = {
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

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(ITEM_SIZE, value);
}

/** Typed arrays use the host byte order; the format is little-endian, so swap on big-endian hosts. */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/** Parses a whole safetensors file held in memory. `source` names it in error messages. */
export function parseSafetensors(
  bytes: Uint8Array,
  source = '<buffer>',
  options: ParseOptions = {},
): SafetensorsContents {
  const fail = (code: SafetensorsErrorCode, what: string): never => {
    throw new SafetensorsError(code, `${source}: ${what}`);
  };
  const headerLength = readHeaderLength(bytes, options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES, fail);
  const header = decodeHeader(bytes.subarray(8, 8 + headerLength), fail);
  const data = bytes.subarray(8 + headerLength);

  const metadata = parseMetadata(header[METADATA_KEY], fail);
  const layouts = Object.entries(header)
    .filter(([name]) => name !== METADATA_KEY)
    .map(([name, entry]) => parseEntry(name, entry, data.length, fail));
  checkTiling(layouts, data.length, fail);

  const tensors = new Map<string, TensorEntry>();
  for (const t of layouts) {
    tensors.set(t.name, {
      dtype: t.dtype,
      shape: t.shape,
      data: decodeTensor(t.dtype, data, t.begin, t.end),
    });
  }
  return { tensors, metadata };
}

/** Reads and parses a file; I/O errors (e.g. ENOENT) propagate unchanged. */
export async function readSafetensorsFile(
  path: string,
  options: ParseOptions = {},
): Promise<SafetensorsContents> {
  return parseSafetensors(await readFile(path), path, options);
}

type Fail = (code: SafetensorsErrorCode, what: string) => never;

interface TensorLayout {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

function readHeaderLength(bytes: Uint8Array, maxHeaderBytes: number, fail: Fail): number {
  if (bytes.length < 8) {
    fail('FILE_TOO_SHORT', `file is ${bytes.length} bytes, shorter than the 8-byte header length prefix`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getBigUint64(0, true);
  // Checked before the bounds so that a garbage prefix reports the cap, as the reference does.
  if (length > BigInt(maxHeaderBytes)) {
    fail('HEADER_TOO_LARGE', `header length ${length} exceeds the limit of ${maxHeaderBytes} bytes`);
  }
  const available = bytes.length - 8;
  if (length > BigInt(available)) {
    fail(
      'HEADER_LENGTH_OUT_OF_BOUNDS',
      `header length ${length} exceeds the ${available} bytes after the 8-byte prefix (file is ${bytes.length} bytes)`,
    );
  }
  return Number(length);
}

function decodeHeader(raw: Uint8Array, fail: Fail): Record<string, unknown> {
  let text = '';
  try {
    // ignoreBOM keeps a leading BOM in the text, so JSON.parse rejects it instead of it passing silently.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
  } catch {
    fail('HEADER_INVALID_UTF8', `the ${raw.length}-byte header is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail('HEADER_INVALID_JSON', `the ${raw.length}-byte header is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(header)) {
    fail('HEADER_NOT_OBJECT', `header must be a JSON object, got ${describe(header)}`);
  }
  return header as Record<string, unknown>;
}

function parseMetadata(value: unknown, fail: Fail): Record<string, string> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) {
    fail('INVALID_METADATA', `"${METADATA_KEY}" must be an object of strings, got ${describe(value)}`);
  }
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') {
      fail('INVALID_METADATA', `"${METADATA_KEY}" key "${key}" must map to a string, got ${describe(v)}`);
    }
  }
  // Object.fromEntries defines own properties, so a "__proto__" key stays plain data.
  return Object.fromEntries(Object.entries(value as Record<string, string>));
}

/** Validates one header entry on its own: fields, dtype, shape, offsets, size and bounds. */
function parseEntry(name: string, entry: unknown, dataLength: number, fail: Fail): TensorLayout {
  const where = `tensor "${name}"`;
  if (!isPlainObject(entry)) {
    fail('INVALID_TENSOR_ENTRY', `${where}: entry must be an object, got ${describe(entry)}`);
  }
  const fields = entry as Record<string, unknown>;
  for (const field of ['dtype', 'shape', 'data_offsets']) {
    if (!Object.hasOwn(fields, field)) fail('INVALID_TENSOR_ENTRY', `${where}: entry lacks "${field}"`);
  }
  const { dtype, shape, data_offsets: offsets } = fields;
  if (!isDtype(dtype)) {
    fail(
      'UNKNOWN_DTYPE',
      `${where}: unknown dtype ${describe(dtype)} (supported: ${Object.keys(ITEM_SIZE).join(', ')})`,
    );
  }
  checkShape(shape, where, fail);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    fail(
      'INVALID_OFFSETS',
      `${where}: data_offsets must be two non-negative integers, got ${describe(offsets)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail('INVALID_OFFSETS', `${where}: data_offsets [${begin}, ${end}] has begin > end`);

  const elements = elementCount(shape);
  const expected = elements * BigInt(ITEM_SIZE[dtype]);
  if (BigInt(end - begin) !== expected) {
    fail(
      'SIZE_MISMATCH',
      `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape ${describe(shape)} of ${dtype} ` +
        `needs ${expected} bytes (${elements} elements x ${ITEM_SIZE[dtype]} bytes)`,
    );
  }
  if (end > dataLength) {
    fail(
      'OFFSETS_OUT_OF_BOUNDS',
      `${where}: data_offsets [${begin}, ${end}] extend beyond the data buffer of ${dataLength} bytes`,
    );
  }
  return { name, dtype, shape: [...shape], begin, end };
}

/**
 * The tensors must cover the data buffer exactly, back to back. Sorting by (begin, end) puts a
 * zero-size tensor before a tensor starting at the same offset, so it is not mistaken for an overlap.
 * Sorts `layouts` in place; that is the order the reader returns.
 */
function checkTiling(layouts: TensorLayout[], dataLength: number, fail: Fail): void {
  layouts.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: TensorLayout | undefined;
  for (const t of layouts) {
    if (t.begin < cursor && previous) {
      fail(
        'OVERLAPPING_TENSORS',
        `tensors "${previous.name}" [${previous.begin}, ${previous.end}] and "${t.name}" [${t.begin}, ${t.end}] overlap`,
      );
    }
    if (t.begin > cursor) {
      const after = previous ? `"${previous.name}" (ends at ${cursor})` : 'the start of the data buffer';
      fail(
        'DATA_GAP',
        `gap of ${t.begin - cursor} bytes between ${after} and "${t.name}" (begins at ${t.begin})`,
      );
    }
    cursor = t.end;
    previous = t;
  }
  if (cursor < dataLength) {
    const last = previous ? `the last tensor "${previous.name}"` : 'the header, which declares no tensors';
    fail(
      'TRAILING_BYTES',
      `${dataLength - cursor} trailing bytes after ${last}: tensors end at ${cursor}, data buffer is ${dataLength} bytes`,
    );
  }
}

/** Copies the tensor's bytes into a fresh (hence aligned) buffer and views it as the decoded type. */
function decodeTensor(dtype: SafetensorsDtype, data: Uint8Array, begin: number, end: number): TensorData {
  // An explicit copy: Buffer#slice would return a view, and views may be misaligned.
  const raw = new Uint8Array(end - begin);
  raw.set(data.subarray(begin, end));
  if (!HOST_IS_LITTLE_ENDIAN) swapBytes(raw, ITEM_SIZE[dtype]);
  const buffer = raw.buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buffer);
    case 'F64':
      return Float32Array.from(new Float64Array(buffer));
    case 'F16':
      return Float32Array.from(new Uint16Array(buffer), halfBitsToFloat);
    case 'BF16':
      return bfloat16BitsToFloat32(new Uint16Array(buffer));
    case 'I64':
      return new BigInt64Array(buffer);
    case 'I32':
      return new Int32Array(buffer);
    case 'I16':
      return new Int16Array(buffer);
    case 'I8':
      return new Int8Array(buffer);
    case 'U8':
    case 'BOOL':
      return raw;
  }
}

/** IEEE 754 binary16 bits -> number (exact). */
export function halfBitsToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero or subnormal
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** bfloat16 is the top half of a float32, so widening is a 16-bit shift of the bit pattern. */
function bfloat16BitsToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i]! << 16;
  return out;
}

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

function swapBytes(bytes: Uint8Array, itemSize: number): void {
  for (let i = 0; i < bytes.length; i += itemSize) bytes.subarray(i, i + itemSize).reverse();
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

function checkShape(shape: unknown, where: string, fail: Fail): asserts shape is number[] {
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    fail(
      'INVALID_SHAPE',
      `${where}: shape must be an array of non-negative integers, got ${describe(shape)}`,
    );
  }
}

/** Exact product of the dims (BigInt, so huge shapes cannot round to a matching byte count). */
function elementCount(shape: number[]): bigint {
  return shape.reduce((product, dim) => product * BigInt(dim), 1n);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** "Float32Array", "Array", "Null", ...: robust even for objects without a constructor. */
function typeName(value: unknown): string {
  return Object.prototype.toString.call(value).slice(8, -1);
}

/** Short JSON rendering of a bad value for error messages. */
function describe(value: unknown): string {
  const text = value === undefined ? 'undefined' : (JSON.stringify(value) ?? String(value));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
