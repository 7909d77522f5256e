import type { StateDict, TensorEntry } from '@rpg/core';

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

export function isFloatTensor(entry: TensorEntry): boolean {
  return FLOAT_DTYPES.has(entry.dtype);
}

/**
 * Whether a tensor is one RPG generates (the rest are copied from the first checkpoint): a float tensor with
 * more than one element that is not BatchNorm's `num_batches_tracked`.
 */
export function isGeneratedTensor(name: string, entry: TensorEntry): boolean {
  return isFloatTensor(entry) && entry.data.length > 1 && !name.endsWith('num_batches_tracked');
}

/** BatchNorm running variances get the log transform of the method (`p`, `log(var/p + 0.05)`). */
export function isBnVar(name: string): boolean {
  return name.endsWith('running_var');
}

/**
 * All generated tensors of a state dict concatenated in the dict's order, as float32: the vector the L2
 * distances are measured on (raw parameter space; copied tensors are equal across models and left out).
 */
export function flattenParams(sd: StateDict): Float32Array {
  let total = 0;
  for (const [name, e] of sd) if (isGeneratedTensor(name, e)) total += e.data.length;
  const out = new Float32Array(total);
  let offset = 0;
  for (const [name, e] of sd) {
    if (!isGeneratedTensor(name, e)) continue;
    out.set(e.data as Float32Array | Float64Array, offset);
    offset += e.data.length;
  }
  return out;
}

/** Throws unless `sd` has exactly the tensor names and shapes of `reference` (a generated model must fit the net). */
export function assertSameLayout(reference: StateDict, sd: StateDict, what: string): void {
  if (sd.size !== reference.size) {
    throw new Error(`${what} has ${sd.size} tensors, the originals have ${reference.size}`);
  }
  for (const [name, ref] of reference) {
    const e = sd.get(name);
    if (!e) throw new Error(`${what} lacks tensor '${name}'`);
    if (e.shape.length !== ref.shape.length || e.shape.some((d, i) => d !== ref.shape[i])) {
      throw new Error(`${what}: tensor '${name}' has shape [${e.shape}], expected [${ref.shape}]`);
    }
  }
}

/** Whether every generated (float) value of `sd` is finite; a diverged generator can produce NaN or ±Inf. */
export function isFiniteModel(sd: StateDict): boolean {
  for (const [name, e] of sd) {
    if (!isGeneratedTensor(name, e)) continue;
    const data = e.data as Float32Array | Float64Array;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return false;
  }
  return true;
}
