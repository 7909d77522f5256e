import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import {
  dtypeItemSize,
  encodeElements,
  safetensorsLayout,
  type TensorData,
  type TensorSpec,
} from './safetensors.js';

/**
 * Writes a safetensors file whose tensors arrive in pieces, in any order, so a writer never holds a whole
 * tensor (generated checkpoints are decoded chunk by chunk). The header is written first, from the tensors'
 * names, dtypes and shapes; each `write` puts a run of elements at its place. `close` checks that every element
 * was written, syncs, and renames the file into place: a failure or `abort` leaves no file at `path`.
 */
export class SafetensorsStreamWriter {
  /** Per tensor, the written element ranges [start, end), sorted and merged. */
  private readonly written = new Map<string, [number, number][]>();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly tmp: string,
    private readonly handle: FileHandle,
    private readonly specs: Map<string, TensorSpec & { offset: number; elements: number }>,
  ) {
    for (const name of specs.keys()) this.written.set(name, []);
  }

  static async open(
    path: string,
    specs: Iterable<readonly [string, TensorSpec]>,
    metadata?: Record<string, string>,
  ): Promise<SafetensorsStreamWriter> {
    const list = [...specs];
    const { head, offsets } = safetensorsLayout(list, path, metadata);
    const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
    const handle = await open(tmp, 'wx');
    try {
      await handle.write(head, 0, head.length, 0);
    } catch (e) {
      await handle.close();
      await unlink(tmp).catch(() => {});
      throw e;
    }
    const resolved = new Map<string, TensorSpec & { offset: number; elements: number }>();
    for (const [name, spec] of list) {
      const elements = spec.shape.reduce((a, b) => a * b, 1);
      resolved.set(name, { ...spec, offset: offsets.get(name)!, elements });
    }
    return new SafetensorsStreamWriter(path, tmp, handle, resolved);
  }

  /** Writes `data` as elements `start ..` of tensor `name` (row-major). Each element must be written once. */
  async write(name: string, start: number, data: TensorData): Promise<void> {
    if (this.closed) throw new Error(`cannot write to ${this.path}: the writer is closed`);
    const spec = this.specs.get(name);
    if (!spec) throw new Error(`cannot write to ${this.path}: it has no tensor "${name}"`);
    if (!Number.isInteger(start) || start < 0 || start + data.length > spec.elements) {
      throw new Error(
        `cannot write to ${this.path}: elements ${start}..${start + data.length} are outside tensor "${name}" ` +
          `(${spec.elements} elements)`,
      );
    }
    if (data.length === 0) return;
    const bytes = encodeElements(spec.dtype, data, `${this.path} (tensor "${name}")`);
    addRange(this.written.get(name)!, start, start + data.length, `${this.path}: tensor "${name}"`);
    await this.handle.write(bytes, 0, bytes.length, spec.offset + start * dtypeItemSize(spec.dtype));
  }

  /** Completes the file: every element must have been written. */
  async close(): Promise<void> {
    const missing = [...this.specs]
      .map(([name, spec]) => [name, spec.elements - covered(this.written.get(name)!)] as const)
      .filter(([, left]) => left !== 0);
    if (missing.length > 0) {
      await this.abort();
      const [name, left] = missing[0]!;
      throw new Error(
        `cannot complete ${this.path}: tensor "${name}" is missing ${left} of its elements` +
          (missing.length > 1 ? ` (and ${missing.length - 1} more tensors are incomplete)` : ''),
      );
    }
    this.closed = true;
    try {
      await this.handle.sync();
      await this.handle.close();
      await rename(this.tmp, this.path);
    } catch (e) {
      await unlink(this.tmp).catch(() => {});
      throw e;
    }
  }

  /** Drops the partial file. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close().catch(() => {});
    await unlink(this.tmp).catch(() => {});
  }
}

/** Adds [start, end) to sorted, merged `ranges`; overlapping an existing range is an error. */
function addRange(ranges: [number, number][], start: number, end: number, where: string): void {
  let i = 0;
  while (i < ranges.length && ranges[i]![1] <= start) i++;
  if (i < ranges.length && ranges[i]![0] < end) {
    throw new Error(`${where}: elements ${start}..${end} overlap elements already written`);
  }
  ranges.splice(i, 0, [start, end]);
  // Merge with the neighbours it touches, so contiguous writes keep one range.
  if (i + 1 < ranges.length && ranges[i + 1]![0] === end) {
    ranges[i]![1] = ranges[i + 1]![1];
    ranges.splice(i + 1, 1);
  }
  if (i > 0 && ranges[i - 1]![1] === start) {
    ranges[i - 1]![1] = ranges[i]![1];
    ranges.splice(i, 1);
  }
}

function covered(ranges: [number, number][]): number {
  return ranges.reduce((sum, [a, b]) => sum + b - a, 0);
}
