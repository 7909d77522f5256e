import { numel, type Rng, type StateDict, type TensorEntry } from '@rpg/core';

export function f32(shape: number[], values: number[] | Float32Array): TensorEntry {
  return { dtype: 'F32', shape, data: Float32Array.from(values) };
}

export function normal(rng: Rng, shape: number[], mean: number, std: number): TensorEntry {
  return { dtype: 'F32', shape, data: Float32Array.from(rng.normalArray(numel(shape), mean, std)) };
}

export function i64Scalar(value: number): TensorEntry {
  return { dtype: 'I64', shape: [], data: BigInt64Array.from([BigInt(value)]) };
}

/** A small conv net's state dict in PyTorch order, with real-looking scales and BatchNorm buffers. */
export function convNetCheckpoint(rng: Rng): StateDict {
  const sd: StateDict = new Map();
  sd.set('0.weight', normal(rng, [8, 3, 3, 3], 0, 0.19));
  sd.set('0.bias', normal(rng, [8], 0.01, 0.05));
  sd.set('1.weight', normal(rng, [8], 1, 0.1));
  sd.set('1.bias', normal(rng, [8], 0, 0.05));
  sd.set('1.running_mean', normal(rng, [8], 0.2, 0.3));
  sd.set(
    '1.running_var',
    f32(
      [8],
      rng.normalArray(8, 0, 1).map((x) => Math.exp(x) * 0.5),
    ),
  );
  sd.set('1.num_batches_tracked', i64Scalar(938));
  sd.set('4.weight', normal(rng, [16, 8, 3, 3], 0, 0.12));
  sd.set('4.bias', f32([16], new Array(16).fill(0)));
  sd.set('7.weight', normal(rng, [10, 64], 0.003, 0.08));
  sd.set('7.bias', normal(rng, [10], -0.02, 0.01));
  sd.set('scale', f32([], [0.5]));
  sd.set('big', normal(rng, [300], 120, 3));
  sd.set('tiny', normal(rng, [50], 0, 1e-6));
  return sd;
}

/** Random shapes: scalars, 1-element, empty and ordinary float tensors, int tensors and num_batches_tracked. */
export function randomArchitecture(
  rng: Rng,
): { name: string; shape: number[]; dtype: TensorEntry['dtype'] }[] {
  const count = 1 + rng.int(8);
  const arch: { name: string; shape: number[]; dtype: TensorEntry['dtype'] }[] = [];
  for (let i = 0; i < count; i++) {
    const rank = rng.int(5);
    const shape = Array.from({ length: rank }, () => (rng.uniform() < 0.15 ? 1 : 1 + rng.int(7)));
    const kind = rng.uniform();
    if (kind < 0.1) arch.push({ name: `${i}.num_batches_tracked`, shape: [], dtype: 'I64' });
    else if (kind < 0.15) arch.push({ name: `${i}.index`, shape, dtype: 'I32' });
    else if (kind < 0.2) arch.push({ name: `${i}.half`, shape, dtype: 'F16' });
    else arch.push({ name: `${i}.weight`, shape, dtype: 'F32' });
  }
  // Make sure at least one tensor is generated.
  arch.push({ name: 'last.weight', shape: [2 + rng.int(5), 1 + rng.int(4)], dtype: 'F32' });
  return arch;
}

export function randomCheckpoint(
  rng: Rng,
  arch: { name: string; shape: number[]; dtype: TensorEntry['dtype'] }[],
): StateDict {
  const sd: StateDict = new Map();
  for (const { name, shape, dtype } of arch) {
    const n = numel(shape);
    if (dtype === 'I64')
      sd.set(name, { dtype, shape, data: BigInt64Array.from({ length: n }, () => BigInt(rng.int(1000))) });
    else if (dtype === 'I32')
      sd.set(name, { dtype, shape, data: Int32Array.from({ length: n }, () => rng.int(100)) });
    else sd.set(name, { dtype, shape, data: Float32Array.from(rng.normalArray(n, rng.normal() * 0.1, 0.5)) });
  }
  return sd;
}

/** Bit patterns, so −0/+0 and NaN payloads count. */
export function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

export function expectSameStateDict(actual: StateDict, expected: StateDict): string[] {
  const problems: string[] = [];
  const names = [...expected.keys()];
  if (JSON.stringify([...actual.keys()]) !== JSON.stringify(names))
    problems.push(`order ${[...actual.keys()]} vs ${names}`);
  for (const [name, e] of expected) {
    const a = actual.get(name);
    if (!a) {
      problems.push(`missing ${name}`);
      continue;
    }
    if (a.dtype !== e.dtype) problems.push(`${name}: dtype ${a.dtype} vs ${e.dtype}`);
    if (JSON.stringify(a.shape) !== JSON.stringify(e.shape))
      problems.push(`${name}: shape ${a.shape} vs ${e.shape}`);
    const same =
      a.data instanceof Float32Array && e.data instanceof Float32Array
        ? bits(a.data).every((b, i) => b === bits(e.data as Float32Array)[i])
        : a.data.length === e.data.length && [...a.data].every((v, i) => v === e.data[i]);
    if (!same) problems.push(`${name}: values differ`);
  }
  return problems;
}
