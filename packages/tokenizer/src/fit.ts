import { numel, type StateDict, type TensorEntry } from '@rpg/core';
import {
  checkBnVarDomain,
  checkEntry,
  checkFinite,
  checkSameStructure,
  isGenerated,
  isRunningVar,
} from './checks.js';
import { resolveTokenizerConfig, type TokenizerConfigInput } from './config.js';
import { type GeneratedTensor, planLayout } from './layout.js';
import type { FloatDtype, TensorStats, TokenizerState, Transform } from './state.js';
import { bnVarStats, standardStats } from './stats.js';

/**
 * Fits the tokenizer to a set of checkpoints of one architecture: decides which tensors are generated, lays them
 * out in token rows, and computes each generated tensor's normalization (float64, averaged over all checkpoints).
 * Throws when the checkpoints differ in names, shapes or dtypes, or hold non-finite values in generated tensors.
 */
export function fitTokenizer(checkpoints: StateDict[], config: TokenizerConfigInput): TokenizerState {
  const cfg = resolveTokenizerConfig(config);
  if (!Array.isArray(checkpoints) || checkpoints.length === 0) {
    throw new Error('fitTokenizer needs at least one checkpoint');
  }
  const first = checkpoints[0]!;
  for (const [name, entry] of first) checkEntry(entry, name, 'checkpoint 0');
  checkpoints.forEach((ckpt, i) => {
    if (i > 0) checkSameStructure(first, ckpt, `checkpoint ${i}`, 'checkpoint 0');
  });

  const generated: GeneratedTensor[] = [];
  const stats: Record<string, TensorStats> = {};
  const copied: StateDict = new Map();
  for (const [name, entry] of first) {
    if (!isGenerated(name, entry)) {
      copied.set(name, copyEntry(entry));
      continue;
    }
    const values = checkpoints.map((ckpt, i) => {
      const data = ckpt.get(name)!.data as Float32Array | Float64Array;
      checkFinite(data, name, `checkpoint ${i}`);
      return data;
    });
    let transform: Transform = 'standard';
    if (!cfg.normalize) {
      stats[name] = { mean: 0, std: 1 };
    } else if (isRunningVar(name) && values.some((v) => v.some((x) => x !== 0))) {
      // An all-zero running_var (p = 0) has no log transform; it falls back to the standard one.
      transform = 'bn-var';
      stats[name] = bnVarStats(values, cfg.eps);
      values.forEach((v, i) => {
        checkBnVarDomain(name, v, stats[name]!.p!, `checkpoint ${i}`);
      });
    } else {
      stats[name] = standardStats(values, cfg.eps);
    }
    const s = stats[name]!;
    if (![s.mean, s.std, s.p ?? 0].every(Number.isFinite)) {
      throw new Error(
        `tensor "${name}": statistics are not finite (${JSON.stringify(s)}); are the values too large?`,
      );
    }
    generated.push({
      name,
      shape: [...entry.shape],
      numel: numel(entry.shape),
      dtype: entry.dtype as FloatDtype,
      transform,
    });
  }
  if (generated.length === 0) {
    throw new Error(
      'no tensor to generate: every tensor is non-float, has at most one element or is a num_batches_tracked',
    );
  }
  const { layout, numTokens } = planLayout(generated, cfg.tokenSize, cfg.granularity);
  return { config: cfg, layout, stats, copied, numTokens, order: [...first.keys()] };
}

function copyEntry(entry: TensorEntry): TensorEntry {
  return { dtype: entry.dtype, shape: [...entry.shape], data: entry.data.slice() };
}
