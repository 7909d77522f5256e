import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensorsFile, serializeSafetensors, type TensorEntry } from '../src/safetensors.js';
import { SafetensorsStreamWriter } from '../src/safetensors-stream.js';

const tensors: [string, TensorEntry][] = [
  ['0.weight', { dtype: 'F32', shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 7) }],
  ['0.bias', { dtype: 'F16', shape: [3], data: Float32Array.of(0.5, -1.25, 3) }],
  ['bn.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.of(42n) }],
  ['1.weight', { dtype: 'BF16', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }],
];
const specs = tensors.map(([name, t]) => [name, { dtype: t.dtype, shape: t.shape }] as const);

describe('SafetensorsStreamWriter', () => {
  it('writes pieces in any order into the same bytes the one-shot writer produces', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rpg-stream-'));
    const path = join(dir, 'a.safetensors');
    const writer = await SafetensorsStreamWriter.open(path, specs);
    const w = tensors[0]![1].data as Float32Array;
    await writer.write('1.weight', 2, Float32Array.of(3, 4));
    await writer.write('0.weight', 6, w.subarray(6));
    await writer.write('0.bias', 0, tensors[1]![1].data);
    await writer.write('0.weight', 0, w.subarray(0, 6));
    await writer.write('bn.num_batches_tracked', 0, BigInt64Array.of(42n));
    await writer.write('1.weight', 0, Float32Array.of(1, 2));
    expect(await readdir(dir)).toHaveLength(1); // only the temporary file until close
    await writer.close();
    expect(new Uint8Array(await readFile(path))).toEqual(serializeSafetensors(tensors));
    expect((await readSafetensorsFile(path)).tensors.get('0.bias')!.data).toEqual(
      Float32Array.of(0.5, -1.25, 3),
    );
  });

  it('refuses an incomplete file, an overlap, or an unknown tensor, leaving nothing behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rpg-stream-'));
    const path = join(dir, 'b.safetensors');
    const writer = await SafetensorsStreamWriter.open(path, specs);
    await writer.write('0.weight', 0, new Float32Array(5));
    await expect(writer.write('0.weight', 4, new Float32Array(2))).rejects.toThrow(/overlap/);
    await expect(writer.write('2.weight', 0, new Float32Array(1))).rejects.toThrow(/no tensor "2.weight"/);
    await expect(writer.write('0.bias', 2, new Float32Array(2))).rejects.toThrow(/outside tensor "0.bias"/);
    await expect(writer.close()).rejects.toThrow(/tensor "0.weight" is missing 7 of its elements/);
    expect(await readdir(dir)).toEqual([]);
  });
});
