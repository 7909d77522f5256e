import type { StateDict, TensorEntry } from '@rpg/core';
import { type NetworkSpec, parameterLayout } from './networks.js';

/** Why a set of checkpoints cannot be used as one collection. */
export type CheckpointIssueCode =
  | 'NAME_MISMATCH'
  | 'SHAPE_MISMATCH'
  | 'DTYPE_MISMATCH'
  | 'NON_FINITE'
  | 'BUFFER_MISMATCH'
  | 'NETWORK_MISMATCH'
  | 'EMPTY_CHECKPOINT'
  /** The file is not a readable safetensors file (reported by importers, not by `checkCheckpoints`). */
  | 'UNREADABLE';

export interface CheckpointIssue {
  code: CheckpointIssueCode;
  /** The checkpoint (file name, or `run r checkpoint i`) the problem is in. */
  where: string;
  /** The tensor, when the problem is about one. */
  tensor?: string;
  detail: string;
}

export const FLOAT_DTYPES: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16', 'F64']);

/**
 * Counters whose value legitimately differs between checkpoints of one run (PyTorch BatchNorm counts the
 * training batches it has seen); they only matter for `momentum=None`, and the tokenizer copies them from the
 * first checkpoint.
 */
export function isBatchCounter(name: string): boolean {
  return name === 'num_batches_tracked' || name.endsWith('.num_batches_tracked');
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function sameData(a: TensorEntry, b: TensorEntry): boolean {
  if (a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

function listNames(names: string[], max = 8): string {
  const shown = names.slice(0, max).map((n) => JSON.stringify(n));
  return names.length > max ? `${shown.join(', ')} and ${names.length - max} more` : shown.join(', ');
}

/**
 * Checks that the checkpoints are one architecture: the same tensor names (compared with the first one, the
 * reference), shapes and dtypes (float widths may differ: F16/BF16/F64 are all read as float32), finite float
 * values, and equal non-float tensors (batch counters excepted: see {@link isBatchCounter}; those differences
 * come back in `warnings`). With `network`, also that the names and shapes are exactly its
 * {@link parameterLayout}. Returns every problem found, not just the first.
 */
export function checkCheckpoints(
  items: { where: string; stateDict: StateDict }[],
  network?: NetworkSpec,
): { issues: CheckpointIssue[]; warnings: string[] } {
  const issues: CheckpointIssue[] = [];
  const warnings: string[] = [];
  const first = items[0];
  if (!first) return { issues, warnings };

  for (const { where, stateDict } of items) {
    if (stateDict.size === 0) issues.push({ code: 'EMPTY_CHECKPOINT', where, detail: 'holds no tensors' });
    for (const [name, t] of stateDict) {
      if (!FLOAT_DTYPES.has(t.dtype)) continue;
      let bad = 0;
      let nan = 0;
      for (let i = 0; i < t.data.length; i++) {
        const v = t.data[i] as number;
        if (!Number.isFinite(v)) {
          bad++;
          if (Number.isNaN(v)) nan++;
        }
      }
      if (bad > 0) {
        issues.push({
          code: 'NON_FINITE',
          where,
          tensor: name,
          detail: `${bad} of ${t.data.length} values are not finite (${nan} NaN, ${bad - nan} ±Inf)`,
        });
      }
    }
  }

  const ref = first.stateDict;
  const differingCounters = new Map<string, string[]>();
  for (const { where, stateDict } of items.slice(1)) {
    const missing = [...ref.keys()].filter((n) => !stateDict.has(n));
    const extra = [...stateDict.keys()].filter((n) => !ref.has(n));
    if (missing.length > 0 || extra.length > 0) {
      const parts = [];
      if (missing.length > 0) parts.push(`missing ${listNames(missing)}`);
      if (extra.length > 0) parts.push(`extra ${listNames(extra)}`);
      issues.push({
        code: 'NAME_MISMATCH',
        where,
        detail: `${parts.join('; ')} (compared with ${first.where})`,
      });
    }
    for (const [name, a] of ref) {
      const b = stateDict.get(name);
      if (!b) continue;
      if (!sameShape(a.shape, b.shape)) {
        issues.push({
          code: 'SHAPE_MISMATCH',
          where,
          tensor: name,
          detail: `shape ${shapeText(b.shape)}, but ${shapeText(a.shape)} in ${first.where}`,
        });
        continue;
      }
      const aFloat = FLOAT_DTYPES.has(a.dtype);
      if (aFloat !== FLOAT_DTYPES.has(b.dtype) || (!aFloat && a.dtype !== b.dtype)) {
        issues.push({
          code: 'DTYPE_MISMATCH',
          where,
          tensor: name,
          detail: `dtype ${b.dtype}, but ${a.dtype} in ${first.where}`,
        });
        continue;
      }
      if (!aFloat && !sameData(a, b)) {
        if (isBatchCounter(name)) {
          const list = differingCounters.get(name) ?? [];
          list.push(where);
          differingCounters.set(name, list);
        } else {
          issues.push({
            code: 'BUFFER_MISMATCH',
            where,
            tensor: name,
            detail: `non-float (${b.dtype}) tensor differs from ${first.where}; such tensors are copied, not generated, so they must be equal in every checkpoint`,
          });
        }
      }
    }
  }
  for (const [name, wheres] of differingCounters) {
    warnings.push(
      `"${name}" differs between checkpoints (${listNames(wheres, 3)} vs ${first.where}); it is not generated: generated models get the first checkpoint's value, detokenized ones their own`,
    );
  }

  if (network) {
    const layout = parameterLayout(network);
    const expected = new Set(layout.map((e) => e.name));
    // Only the first checkpoint: the others were compared with it above.
    {
      const { where, stateDict } = first;
      const missing = layout.filter((e) => !stateDict.has(e.name)).map((e) => e.name);
      const extra = [...stateDict.keys()].filter((n) => !expected.has(n));
      if (missing.length > 0 || extra.length > 0) {
        const parts = [];
        if (missing.length > 0) parts.push(`missing ${listNames(missing)}`);
        if (extra.length > 0) parts.push(`extra ${listNames(extra)}`);
        issues.push({ code: 'NETWORK_MISMATCH', where, detail: `${parts.join('; ')} for the given network` });
      }
      for (const e of layout) {
        const t = stateDict.get(e.name);
        if (!t) continue;
        if (!sameShape(t.shape, e.shape)) {
          issues.push({
            code: 'NETWORK_MISMATCH',
            where,
            tensor: e.name,
            detail: `shape ${shapeText(t.shape)}, the network needs ${shapeText(e.shape)}`,
          });
        } else if (
          (e.dtype === 'F32') !== FLOAT_DTYPES.has(t.dtype) ||
          (e.dtype === 'I64' && t.dtype !== 'I64')
        ) {
          issues.push({
            code: 'NETWORK_MISMATCH',
            where,
            tensor: e.name,
            detail: `dtype ${t.dtype}, the network needs ${e.dtype}`,
          });
        }
      }
    }
  }
  return { issues, warnings };
}

/** One line per issue, for error messages. */
export function formatIssues(issues: CheckpointIssue[], max = 20): string {
  const lines = issues
    .slice(0, max)
    .map((i) => `  - [${i.code}] ${i.where}${i.tensor ? `, tensor "${i.tensor}"` : ''}: ${i.detail}`);
  if (issues.length > max) lines.push(`  … and ${issues.length - max} more`);
  return lines.join('\n');
}
