/**
 * Reading safetensors files (format and decoded types: see `safetensors-format.ts`). Files are read by positional
 * reads — the 8-byte prefix, the header, then each tensor's byte range — never as one buffer, so a file of any size
 * (over 2 GiB too) can be read, and a caller can read one tensor at a time.
 */
import { type FileHandle, open } from 'node:fs/promises';
import {
  checkShape,
  DEFAULT_MAX_HEADER_BYTES,
  describe,
  elementCount,
  type Fail,
  HOST_IS_LITTLE_ENDIAN,
  ITEM_SIZE,
  isDtype,
  isNonNegativeInteger,
  isPlainObject,
  METADATA_KEY,
  type ParseOptions,
  type SafetensorsContents,
  type SafetensorsDtype,
  SafetensorsError,
  type SafetensorsErrorCode,
  swapBytes,
  type TensorData,
  type TensorEntry,
} from './safetensors-format.js';

/** Where one tensor lies in the data buffer (offsets relative to its start), as the header declares it. */
export interface TensorLayout {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** A validated header: the tensors in data order, the metadata, and where the data buffer starts in the file. */
export interface SafetensorsHeader {
  tensors: TensorLayout[];
  metadata: Record<string, string>;
  /** Byte offset of the data buffer in the file: 8 + header length. */
  dataStart: number;
}

/** Largest single read: the read(2) system call moves at most about 2 GiB at once. */
const MAX_READ_BYTES = 1 << 30;

function failFor(source: string): Fail {
  return (code: SafetensorsErrorCode, what: string): never => {
    throw new SafetensorsError(code, `${source}: ${what}`);
  };
}

/** Parses a whole safetensors file held in memory. `source` names it in error messages. */
export function parseSafetensors(
  bytes: Uint8Array,
  source = '<buffer>',
  options: ParseOptions = {},
): SafetensorsContents {
  const fail = failFor(source);
  const headerLength = readHeaderLength(bytes.subarray(0, 8), bytes.length, options, fail);
  const header = parseHeader(bytes.subarray(8, 8 + headerLength), bytes.length, fail);
  const data = bytes.subarray(header.dataStart);
  const tensors = new Map<string, TensorEntry>();
  for (const t of header.tensors) {
    // An explicit copy: Buffer#slice would return a view, and views may be misaligned.
    const raw = new Uint8Array(t.end - t.begin);
    raw.set(data.subarray(t.begin, t.end));
    tensors.set(t.name, { dtype: t.dtype, shape: t.shape, data: decodeOwned(t.dtype, raw) });
  }
  return { tensors, metadata: header.metadata };
}

/**
 * A safetensors file opened for reading: the header is read and validated at `open`, tensors are read on demand
 * by positional reads. Close it when done.
 */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly header: SafetensorsHeader,
    private readonly byName: Map<string, TensorLayout>,
  ) {}

  /** Opens `path` and validates its header; I/O errors (e.g. ENOENT) propagate unchanged. */
  static async open(path: string, options: ParseOptions = {}): Promise<SafetensorsFile> {
    const handle = await open(path, 'r');
    try {
      const fail = failFor(path);
      const { size } = await handle.stat();
      const prefix = await readAt(handle, 0, Math.min(8, size));
      const headerLength = readHeaderLength(prefix, size, options, fail);
      const header = parseHeader(await readAt(handle, 8, headerLength), size, fail);
      return new SafetensorsFile(path, handle, header, new Map(header.tensors.map((t) => [t.name, t])));
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }

  /** The tensor names, in data order. */
  names(): string[] {
    return this.header.tensors.map((t) => t.name);
  }

  layout(name: string): TensorLayout | undefined {
    return this.byName.get(name);
  }

  /** Reads and decodes one tensor. */
  async read(name: string): Promise<TensorEntry> {
    const t = this.byName.get(name);
    if (!t) throw new Error(`${this.path} has no tensor "${name}"`);
    const raw = await this.readBytes(t.begin, t.end - t.begin);
    return { dtype: t.dtype, shape: [...t.shape], data: decodeOwned(t.dtype, raw) };
  }

  /** Every tensor, in data order, and the metadata. */
  async readAll(): Promise<SafetensorsContents> {
    const tensors = new Map<string, TensorEntry>();
    for (const t of this.header.tensors) tensors.set(t.name, await this.read(t.name));
    return { tensors, metadata: this.metadata };
  }

  /** `length` bytes of the data buffer from `offset` (relative to its start), in a fresh buffer. */
  readBytes(offset: number, length: number): Promise<Uint8Array> {
    return readAt(this.handle, this.header.dataStart + offset, length);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** Reads and parses a whole file by positional reads; I/O errors (e.g. ENOENT) propagate unchanged. */
export async function readSafetensorsFile(
  path: string,
  options: ParseOptions = {},
): Promise<SafetensorsContents> {
  const file = await SafetensorsFile.open(path, options);
  try {
    return await file.readAll();
  } finally {
    await file.close();
  }
}

/** Exactly `length` bytes at `position`, in pieces the system call accepts. */
async function readAt(handle: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const want = Math.min(MAX_READ_BYTES, length - done);
    const { bytesRead } = await handle.read(out, done, want, position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
  return out;
}

/**
 * A PyTorch checkpoint saved with `torch.save` is a zip archive (PyTorch ≥ 1.6) or a pickle stream; either
 * would otherwise read as an absurd header length.
 */
function pytorchKind(prefix: Uint8Array): string | undefined {
  if (prefix[0] === 0x50 && prefix[1] === 0x4b && prefix[2] === 0x03 && prefix[3] === 0x04) return 'zip';
  if (prefix[0] === 0x80 && prefix[1] !== undefined && prefix[1] >= 2 && prefix[1] <= 5) return 'pickle';
  return undefined;
}

/** The conversion a PyTorch user runs to get a safetensors file from a `torch.save` file. */
export const PYTORCH_CONVERSION =
  'python -c "import sys, torch; from safetensors.torch import save_file; ' +
  "save_file(torch.load(sys.argv[1], map_location='cpu'), sys.argv[2])\" IN.pt OUT.safetensors";

function readHeaderLength(prefix: Uint8Array, fileSize: number, options: ParseOptions, fail: Fail): number {
  if (fileSize < 8) {
    fail('FILE_TOO_SHORT', `file is ${fileSize} bytes, shorter than the 8-byte header length prefix`);
  }
  const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const length = view.getBigUint64(0, true);
  const available = fileSize - 8;
  if (length > BigInt(maxHeaderBytes) || length > BigInt(available)) {
    // A file that is no safetensors file at all: say what it is rather than quote an absurd header length.
    const kind = pytorchKind(prefix);
    if (kind) {
      fail(
        'NOT_SAFETENSORS',
        `this is a PyTorch checkpoint (torch.save ${kind} format), not a safetensors file. Convert it with ` +
          `${PYTORCH_CONVERSION}`,
      );
    }
  }
  // Checked before the bounds so that a garbage prefix reports the cap, as the reference does.
  if (length > BigInt(maxHeaderBytes)) {
    fail('HEADER_TOO_LARGE', `header length ${length} exceeds the limit of ${maxHeaderBytes} bytes`);
  }
  if (length > BigInt(available)) {
    fail(
      'HEADER_LENGTH_OUT_OF_BOUNDS',
      `header length ${length} exceeds the ${available} bytes after the 8-byte prefix (file is ${fileSize} bytes)`,
    );
  }
  return Number(length);
}

/** Validates the header bytes of a file of `fileSize` bytes: every entry, and that the tensors tile the data. */
function parseHeader(raw: Uint8Array, fileSize: number, fail: Fail): SafetensorsHeader {
  const header = decodeHeader(raw, fail);
  const dataStart = 8 + raw.length;
  const dataLength = fileSize - dataStart;
  const metadata = parseMetadata(header[METADATA_KEY], fail);
  const tensors = Object.entries(header)
    .filter(([name]) => name !== METADATA_KEY)
    .map(([name, entry]) => parseEntry(name, entry, dataLength, fail));
  checkTiling(tensors, dataLength, fail);
  return { tensors, metadata, dataStart };
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

/** Views a tensor's bytes, held in a fresh (hence aligned) buffer of their own, as the decoded type. */
function decodeOwned(dtype: SafetensorsDtype, raw: Uint8Array): TensorData {
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
