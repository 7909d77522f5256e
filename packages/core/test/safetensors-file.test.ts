import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  readSafetensorsFile,
  SafetensorsError,
  SafetensorsFile,
  serializeSafetensors,
} from '../src/index.js';
import { useTempDir } from './support.js';

const dir = useTempDir('rpg-st-file-');

/** A file whose header declares `tensors` (name → [dtype, shape, bytes]) back to back; data left sparse. */
async function sparseFile(path: string, tensors: [string, string, number[], number][]): Promise<number[]> {
  const header: Record<string, unknown> = {};
  const begins: number[] = [];
  let offset = 0;
  for (const [name, dtype, shape, bytes] of tensors) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    begins.push(offset);
    offset += bytes;
  }
  let json = JSON.stringify(header);
  while (json.length % 8 !== 0) json += ' ';
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  const handle = await open(path, 'w');
  await handle.write(Buffer.concat([prefix, Buffer.from(json)]), 0, 8 + json.length, 0);
  await handle.truncate(8 + json.length + offset);
  await handle.close();
  return begins.map((b) => 8 + json.length + b);
}

describe('SafetensorsFile (positional reads)', () => {
  it('reads a tensor that lies past 2 GiB, without reading the file as one buffer', async () => {
    const path = join(dir(), 'big.safetensors');
    const padBytes = 2 ** 31 + 4096; // past what one Buffer read of the whole file could hold
    const [, xAt] = await sparseFile(path, [
      ['pad', 'U8', [padBytes], padBytes],
      ['x', 'F32', [4], 16],
    ]);
    const values = new Float32Array([1.5, -2, 3.25, 1e-3]);
    const handle = await open(path, 'r+');
    await handle.write(new Uint8Array(values.buffer), 0, 16, xAt!);
    await handle.close();

    const file = await SafetensorsFile.open(path);
    try {
      expect(file.names()).toEqual(['pad', 'x']);
      expect(file.layout('x')).toMatchObject({ begin: padBytes, end: padBytes + 16 });
      const x = await file.read('x');
      expect(x.shape).toEqual([4]);
      expect(Array.from(x.data as Float32Array)).toEqual(Array.from(values));
      await expect(file.read('nope')).rejects.toThrow(/has no tensor "nope"/);
    } finally {
      await file.close();
    }
  });

  it('reads the same tensors as parsing the whole buffer', async () => {
    const tensors = new Map([
      ['a', { dtype: 'F16' as const, shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }],
      ['b', { dtype: 'I64' as const, shape: [2], data: new BigInt64Array([5n, -7n]) }],
    ]);
    const path = join(dir(), 'small.safetensors');
    await writeFile(path, serializeSafetensors(tensors, { k: 'v' }));
    const read = await readSafetensorsFile(path);
    expect(read.metadata).toEqual({ k: 'v' });
    expect(Array.from(read.tensors.get('a')!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(read.tensors.get('b')!.data as BigInt64Array)).toEqual([5n, -7n]);
  });

  it('refuses a header whose tensors extend past the end of the file', async () => {
    const path = join(dir(), 'truncated.safetensors');
    await sparseFile(path, [['x', 'F32', [4], 16]]);
    const handle = await open(path, 'r+');
    await handle.truncate((await handle.stat()).size - 4);
    await handle.close();
    await expect(SafetensorsFile.open(path)).rejects.toMatchObject({ code: 'OFFSETS_OUT_OF_BOUNDS' });
  });

  it.each([
    ['zip (torch.save since PyTorch 1.6)', [0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 9, 9]],
    ['pickle (legacy torch.save)', [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20]],
  ])('says a PyTorch %s checkpoint is not safetensors and how to convert it', async (_, bytes) => {
    const path = join(dir(), 'model.pt');
    await writeFile(path, Buffer.from(bytes));
    const err = await readSafetensorsFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as SafetensorsError).code).toBe('NOT_SAFETENSORS');
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).toMatch(/PyTorch checkpoint .* save_file\(torch\.load/);
  });
});
