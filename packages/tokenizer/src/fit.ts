import { numel, type SafetensorsDtype, type StateDict, type TensorEntry } from '@rpg/core';
import {
  checkBnVarDomain,
  checkEntry,
  checkFinite,
  checkSameStructure,
  isGenerated,
  isRunningVar,
} from './checks.js';
import { type ResolvedTokenizerConfig, resolveTokenizerConfig, type TokenizerConfigInput } from './config.js';
import { channelCount, type GeneratedTensor, planLayout } from './layout.js';
import type { FloatDtype, TensorStats, TokenizerState } from './state.js';
import { meanOf, meanStd } from './stats.js';
import { BN_VAR_P_FACTOR, BN_VAR_SHIFT } from './transform.js';

/** Running sums of one generated tensor's per-checkpoint statistics, added in checkpoint order. */
interface Sums {
  mean: number;
  std: number;
  /** running_var only: sum of the per-checkpoint mean variance, and whether any value is non-zero. */
  meanVar: number;
  nonZero: boolean;
  /** running_var with the log transform: sums of the transformed values' statistics (second pass). */
  logMean: number;
  logStd: number;
}

/**
 * Fits a tokenizer one checkpoint at a time, so memory holds one checkpoint whatever their number: `add` every
 * checkpoint (in order), then — only when {@link needsSecondPass} (BatchNorm running variances, whose log
 * transform needs p from all checkpoints first) — `addSecond` every checkpoint again in the same order, then
 * `finish`. The statistics are the same sums, in the same order, as {@link fitTokenizer} computes: bit for bit.
 */
export class TokenizerFit {
  readonly config: ResolvedTokenizerConfig;
  private structure: Map<string, { shape: number[]; dtype: SafetensorsDtype }> | undefined;
  private readonly order: string[] = [];
  private readonly generated: GeneratedTensor[] = [];
  private readonly copied: StateDict = new Map();
  private readonly sums = new Map<string, Sums>();
  private count = 0;
  /** How the first checkpoint, the one every other is checked against, is named in messages. */
  private firstWhere = 'checkpoint 0';
  private secondCount = 0;
  private p: Map<string, number> | undefined;

  constructor(config: TokenizerConfigInput) {
    this.config = resolveTokenizerConfig(config);
  }

  /** First pass: checks the checkpoint against the first one and adds its statistics. */
  add(ckpt: StateDict, where = `checkpoint ${this.count}`): void {
    if (this.p) throw new Error('TokenizerFit: add() after the second pass has started');
    if (!this.structure) this.takeStructure(ckpt, where);
    else checkSameStructure(this.structure, ckpt, where, this.firstWhere);
    for (const t of this.generated) {
      const data = ckpt.get(t.name)!.data as Float32Array | Float64Array;
      checkFinite(data, t.name, where);
      const s = this.sums.get(t.name)!;
      if (!this.config.normalize) continue;
      const { mean, std } = meanStd(data);
      s.mean += mean;
      s.std += std;
      if (isRunningVar(t.name)) {
        s.meanVar += meanOf(data);
        s.nonZero ||= data.some((x) => x !== 0);
      }
    }
    this.count++;
  }

  /** Whether the checkpoints must be passed again through {@link addSecond} before {@link finish}. */
  get needsSecondPass(): boolean {
    return this.bnVarNames().length > 0;
  }

  /** Second pass (see {@link needsSecondPass}): the same checkpoints in the same order. */
  addSecond(ckpt: StateDict, where = `checkpoint ${this.secondCount}`): void {
    if (this.secondCount >= this.count) {
      throw new Error(
        `TokenizerFit: the second pass got more than the ${this.count} checkpoints of the first`,
      );
    }
    this.p ??= new Map(
      this.bnVarNames().map((name) => [name, (BN_VAR_P_FACTOR * this.sums.get(name)!.meanVar) / this.count]),
    );
    if (this.structure) checkSameStructure(this.structure, ckpt, where, this.firstWhere);
    for (const [name, p] of this.p) {
      const v = ckpt.get(name)!.data as Float32Array | Float64Array;
      const logged = new Float64Array(v.length);
      for (let i = 0; i < v.length; i++) logged[i] = Math.log(v[i]! / p + BN_VAR_SHIFT);
      const { mean, std } = meanStd(logged);
      const s = this.sums.get(name)!;
      s.logMean += mean;
      s.logStd += std;
      checkBnVarDomain(name, v, p, where);
    }
    this.secondCount++;
  }

  /** The fitted state; throws when a pass is incomplete or the token size does not suit the tensors. */
  finish(): TokenizerState {
    if (this.count === 0) throw new Error('fitTokenizer needs at least one checkpoint');
    if (this.needsSecondPass && this.secondCount !== this.count) {
      throw new Error(
        `TokenizerFit: the second pass saw ${this.secondCount} of the ${this.count} checkpoints; ` +
          'BatchNorm running variances need it',
      );
    }
    const n = this.count;
    const { eps } = this.config;
    const stats: Record<string, TensorStats> = {};
    const generated = this.generated.map((t) => {
      const s = this.sums.get(t.name)!;
      const p = this.p?.get(t.name);
      if (!this.config.normalize) stats[t.name] = { mean: 0, std: 1 };
      else if (p !== undefined) stats[t.name] = { mean: s.logMean / n, std: s.logStd / n + eps, p };
      else stats[t.name] = { mean: s.mean / n, std: s.std / n + eps };
      const st = stats[t.name]!;
      if (![st.mean, st.std, st.p ?? 0].every(Number.isFinite)) {
        throw new Error(
          `tensor "${t.name}": statistics are not finite (${JSON.stringify(st)}); are the values too large?`,
        );
      }
      return { ...t, transform: p === undefined ? ('standard' as const) : ('bn-var' as const) };
    });
    const { layout, numTokens } = planLayout(generated, this.config.tokenSize, this.config.granularity);
    return { config: this.config, layout, stats, copied: this.copied, numTokens, order: [...this.order] };
  }

  private takeStructure(first: StateDict, where: string): void {
    this.firstWhere = where;
    this.structure = new Map();
    for (const [name, entry] of first) {
      checkEntry(entry, name, where);
      this.structure.set(name, { shape: [...entry.shape], dtype: entry.dtype });
      this.order.push(name);
      if (!isGenerated(name, entry)) {
        this.copied.set(name, copyEntry(entry));
        continue;
      }
      this.generated.push({
        name,
        shape: [...entry.shape],
        numel: numel(entry.shape),
        dtype: entry.dtype as FloatDtype,
        transform: 'standard',
      });
      this.sums.set(name, { mean: 0, std: 0, meanVar: 0, nonZero: false, logMean: 0, logStd: 0 });
    }
    if (this.generated.length === 0) {
      throw new Error(
        'no tensor to generate: every tensor is non-float, has at most one element or is a num_batches_tracked',
      );
    }
  }

  /** Running variances that get the log transform: an all-zero one (p = 0) falls back to the standard one. */
  private bnVarNames(): string[] {
    if (!this.config.normalize) return [];
    return this.generated
      .filter((t) => isRunningVar(t.name) && this.sums.get(t.name)!.nonZero)
      .map((t) => t.name);
  }
}

/**
 * Fits the tokenizer to a set of checkpoints of one architecture held in memory: decides which tensors are
 * generated, lays them out in token rows, and computes each generated tensor's normalization (float64, averaged
 * over all checkpoints). Throws when the checkpoints differ in names, shapes or dtypes, or hold non-finite values
 * in generated tensors. For checkpoints on disk, {@link TokenizerFit} reads one at a time.
 */
export function fitTokenizer(checkpoints: StateDict[], config: TokenizerConfigInput): TokenizerState {
  const fit = new TokenizerFit(config);
  if (!Array.isArray(checkpoints) || checkpoints.length === 0) {
    throw new Error('fitTokenizer needs at least one checkpoint');
  }
  for (const ckpt of checkpoints) fit.add(ckpt);
  if (fit.needsSecondPass) for (const ckpt of checkpoints) fit.addSecond(ckpt);
  return fit.finish();
}

/**
 * A token larger than the biggest unit it is cut from (a tensor; a channel; the whole stream) would be mostly
 * NaN padding: refused, with the token size that would fit.
 */
export function checkTokenSize(state: Pick<TokenizerState, 'config' | 'layout'>): void {
  const tensors = state.layout;
  const { tokenSize, granularity } = state.config;
  const unit = (t: (typeof tensors)[number]) =>
    granularity === 'channel' ? t.numel / channelCount(t.shape) : t.numel;
  const largest =
    granularity === 'network' ? tensors.reduce((s, t) => s + t.numel, 0) : Math.max(...tensors.map(unit));
  const fits = 2 ** Math.ceil(Math.log2(largest));
  if (tokenSize <= fits) return;
  const what =
    granularity === 'network'
      ? 'all generated tensors together hold'
      : `the largest ${granularity === 'channel' ? 'channel' : 'tensor'} holds`;
  throw new Error(
    `token size ${tokenSize} is larger than the target needs: ${what} ${largest} values, so every token ` +
      `would be mostly padding. Use a token size of at most ${fits} (tokenizer.tokenSize).`,
  );
}

function copyEntry(entry: TensorEntry): TensorEntry {
  return { dtype: entry.dtype, shape: [...entry.shape], data: entry.data.slice() };
}
