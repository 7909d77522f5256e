import { type Rng, tf } from '@rpg/core';
import type { ParamStore } from './param-store.js';

/** Where a token row sits in the network: the tokenizer's `tokenPositions()` gives one per token. */
export interface TokenPosition {
  layerIndex: number;
  indexInLayer: number;
  layerTokens: number;
}

export type PositionKind = '2d' | '1d' | 'learnable';

/**
 * Writes a sinusoid of `pos` into `width` channels of `out` starting at `offset`: channel `2i` is
 * `sin(pos·ω_i)`, `2i+1` is `cos(pos·ω_i)`, `ω_i = exp(−2i·ln(10000)/width)`.
 */
function writeSinusoid(out: Float32Array, offset: number, width: number, pos: number): void {
  for (let c = 0; c < width; c++) {
    const i = c >> 1;
    const angle = pos * Math.exp((-2 * i * Math.log(10000)) / width);
    out[offset + c] = c % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
  }
}

/**
 * 2D sinusoidal embedding `[L, d]` (row-major): the first `d/2` channels encode the index within the layer,
 * the other `d − d/2` the layer index, each with frequencies `exp(−2i·ln(10000)/(d/2))`, interleaved sin/cos.
 */
export function sinusoid2d(positions: readonly TokenPosition[], d: number): Float32Array {
  const half = Math.floor(d / 2);
  const out = new Float32Array(positions.length * d);
  positions.forEach((p, t) => {
    writeSinusoid(out, t * d, half, p.indexInLayer);
    writeSinusoid(out, t * d + half, d - half, p.layerIndex);
  });
  return out;
}

/** 1D sinusoidal embedding `[L, d]` over the global token index. */
export function sinusoid1d(numTokens: number, d: number): Float32Array {
  const out = new Float32Array(numTokens * d);
  for (let t = 0; t < numTokens; t++) writeSinusoid(out, t * d, d, t);
  return out;
}

/**
 * The position part of the recurrent model's input, `[L, d]`, plus a learnable constant `[d]` added to every
 * position. Sinusoids are constants; the 'learnable' kind is a variable initialised N(0, ½) (the same RMS as a
 * sinusoid, so the ablation is not handicapped by scale).
 */
export class PositionEmbedding {
  readonly kind: PositionKind;
  private readonly table: tf.Tensor2D;
  private readonly constant: tf.Variable;
  private readonly owned: boolean;

  constructor(
    kind: PositionKind,
    positions: readonly TokenPosition[],
    d: number,
    store: ParamStore,
    rng: Rng,
    prefix = 'embedding',
  ) {
    this.kind = kind;
    const L = positions.length;
    if (kind === 'learnable') {
      this.table = store.normal(`${prefix}.position`, [L, d], Math.SQRT1_2, rng) as tf.Variable<tf.Rank.R2>;
      this.owned = false;
    } else {
      const values = kind === '2d' ? sinusoid2d(positions, d) : sinusoid1d(L, d);
      this.table = tf.keep(tf.tensor2d(values, [L, d]));
      this.owned = true;
    }
    this.constant = store.fill(`${prefix}.constant`, [d], 0);
  }

  /** `[L, d]`: position table + learnable constant. */
  forward(): tf.Tensor2D {
    return tf.add(this.table, this.constant);
  }

  /** The raw table (constant tensor, or the variable for 'learnable'). */
  values(): tf.Tensor2D {
    return this.table;
  }

  dispose(): void {
    if (this.owned) this.table.dispose();
  }
}

/** Largest per-position state table (states × tokens × d values) a model may hold: 256 MB of F32 before its
 * optimizer moments, gradient and weight average (about five copies in training). */
export const MAX_STATE_TABLE_VALUES = 64 * 1024 * 1024;

/**
 * The permutation-state embedding: one learnable row per state, initialised to 1/d as in the method and added at
 * every position, or (`perPosition`) one per state and position, `[numStates, L, d]` (see
 * `PrototypeConfig.stateEmbedding`).
 */
export class StateEmbedding {
  readonly numStates: number;
  private readonly table: tf.Variable;

  constructor(
    numStates: number,
    d: number,
    store: ParamStore,
    prefix = 'embedding',
    perPosition?: { tokens: number; rng: Rng },
  ) {
    if (!Number.isInteger(numStates) || numStates < 1) {
      throw new Error(`numStates must be a positive integer (one per checkpoint or run), got ${numStates}`);
    }
    this.numStates = numStates;
    if (!perPosition) {
      this.table = store.fill(`${prefix}.state`, [numStates, d], 1 / d);
      return;
    }
    const { tokens, rng } = perPosition;
    if (numStates * tokens * d > MAX_STATE_TABLE_VALUES) {
      throw new Error(
        `a per-position state embedding of ${numStates} states × ${tokens} tokens × d ${d} is ` +
          `${((numStates * tokens * d * 4) / 2 ** 20).toFixed(0)} MiB, over the ` +
          `${(MAX_STATE_TABLE_VALUES * 4) / 2 ** 20} MiB cap: use one state per run (states "run"), a larger ` +
          'token size, or stateEmbedding "shared"',
      );
    }
    // A per-position table starts random, N(0, ½) like the learnable positions: the prototypes of two states
    // then differ at every token from the first step, where a constant start would leave them equal.
    this.table = store.normal(`${prefix}.state`, [numStates, tokens, d], Math.SQRT1_2, rng);
  }

  /** `[B, d]` for a shared table (add it at every position), `[B, L, d]` for a per-position one. */
  forward(states: readonly number[]): tf.Tensor2D | tf.Tensor3D {
    if (states.length === 0) throw new Error('states must name at least one permutation state');
    for (const s of states) {
      if (!Number.isInteger(s) || s < 0 || s >= this.numStates) {
        throw new Error(`permutation state ${s} is out of range: use an integer in [0, ${this.numStates})`);
      }
    }
    return tf.gather(this.table, tf.tensor1d(Int32Array.from(states), 'int32')) as tf.Tensor2D | tf.Tensor3D;
  }
}
