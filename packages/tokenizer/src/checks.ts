import { numel, type SafetensorsDtype, type StateDict, type TensorEntry } from '@rpg/core';
import type { FloatDtype } from './state.js';
import { BN_VAR_SHIFT } from './transform.js';

const FLOAT_DTYPES: ReadonlySet<SafetensorsDtype> = new Set<FloatDtype>(['F32', 'F16', 'BF16', 'F64']);

export const shapeText = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * True for tensors the generator produces: floating point, more than one element, and not a BatchNorm
 * `num_batches_tracked`. Everything else is copied from the first checkpoint.
 */
export function isGenerated(name: string, entry: TensorEntry): boolean {
  return (
    FLOAT_DTYPES.has(entry.dtype) &&
    (entry.data instanceof Float32Array || entry.data instanceof Float64Array) &&
    numel(entry.shape) > 1 &&
    !name.endsWith('num_batches_tracked')
  );
}

/** BatchNorm running variance, which gets the log transform. */
export function isRunningVar(name: string): boolean {
  return name.endsWith('running_var');
}

/** Throws unless the entry's data holds exactly product(shape) elements. */
export function checkEntry(entry: TensorEntry, name: string, where: string): void {
  const expected = numel(entry.shape);
  if (entry.data.length !== expected) {
    throw new Error(
      `${where}: tensor "${name}" has ${entry.data.length} values but its shape ${shapeText(entry.shape)} needs ${expected}`,
    );
  }
}

/**
 * Throws unless `ckpt` has exactly the tensors of `reference` with the same shapes and dtypes. `where` names the
 * checked checkpoint, `refWhere` the reference, in the message.
 */
export function checkSameStructure(
  reference: ReadonlyMap<string, { shape: number[]; dtype: SafetensorsDtype }>,
  ckpt: StateDict,
  where: string,
  refWhere: string,
): void {
  for (const [name, ref] of reference) {
    const entry = ckpt.get(name);
    if (!entry) {
      throw new Error(`${where} lacks tensor "${name}" ${shapeText(ref.shape)} that ${refWhere} has`);
    }
    if (!sameShape(entry.shape, ref.shape)) {
      throw new Error(
        `${where}: tensor "${name}" has shape ${shapeText(entry.shape)} but ${refWhere} has ${shapeText(ref.shape)}`,
      );
    }
    if (entry.dtype !== ref.dtype) {
      throw new Error(`${where}: tensor "${name}" has dtype ${entry.dtype} but ${refWhere} has ${ref.dtype}`);
    }
    checkEntry(entry, name, where);
  }
  for (const [name, entry] of ckpt) {
    if (!reference.has(name)) {
      throw new Error(`${where} has tensor "${name}" ${shapeText(entry.shape)} that ${refWhere} lacks`);
    }
  }
}

/** Throws on the first NaN or ±Infinity (NaN would be mistaken for padding). */
export function checkFinite(values: ArrayLike<number>, name: string, where: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      throw new Error(
        `${where}: tensor "${name}" has a non-finite value (${values[i]}) at flat index ${i}; ` +
          'generated tensors must be finite (NaN marks padding in tokens)',
      );
    }
  }
}

/** The log transform needs var/p + 0.05 > 0, i.e. no variance below −0.05·p. */
export function checkBnVarDomain(name: string, v: ArrayLike<number>, p: number, where: string): void {
  for (let j = 0; j < v.length; j++) {
    if (!(v[j]! / p + BN_VAR_SHIFT > 0)) {
      throw new Error(
        `${where}: BatchNorm variance "${name}" has ${v[j]} at flat index ${j}, outside the log transform's ` +
          `domain (var > ${-BN_VAR_SHIFT}·p = ${-BN_VAR_SHIFT * p}); a running variance must not be negative`,
      );
    }
  }
}
