import type { StateDict } from '@rpg/core';

/** A model whose parameters hold NaN or ±Inf: it is reported as such, never scored as an accuracy. */
export interface NonFiniteModel {
  /** The model's position among the models given. */
  index: number;
  /** Its float tensors that hold non-finite values, with how many each. */
  tensors: { name: string; count: number }[];
}

/** The float tensors of `sd` holding NaN or ±Inf, with their counts (empty: every value is finite). */
export function nonFiniteTensors(sd: StateDict): { name: string; count: number }[] {
  const out: { name: string; count: number }[] = [];
  for (const [name, t] of sd) {
    if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) continue;
    let count = 0;
    for (const v of t.data) if (!Number.isFinite(v)) count++;
    if (count > 0) out.push({ name, count });
  }
  return out;
}

/** The non-finite models among `models` (in order). */
export function nonFiniteModels(models: readonly StateDict[]): NonFiniteModel[] {
  return models
    .map((sd, index) => ({ index, tensors: nonFiniteTensors(sd) }))
    .filter((m) => m.tensors.length > 0);
}

/** `tensor "fc.weight" (12 of its values)`, for messages; at most `max` tensors named. */
export function describeNonFinite(m: NonFiniteModel, max = 3): string {
  const named = m.tensors
    .slice(0, max)
    .map((t) => `"${t.name}" (${t.count} value${t.count === 1 ? '' : 's'})`)
    .join(', ');
  const more = m.tensors.length > max ? ` and ${m.tensors.length - max} more tensors` : '';
  return `NaN/Inf in ${named}${more}`;
}
