import { tf } from '@rpg/core';

/**
 * The selective state-space recurrence of Mamba2 (one group of B/C shared by all heads), without the `D·x` skip:
 *
 *   S_t = exp(Δ_t·A)·S_{t−1} + Δ_t·x_t ⊗ B_t        (S: [H, P, N] per sequence)
 *   y_t = S_t · C_t
 *
 * Shapes: `x [B, L, H, P]`, `dt [B, L, H]` (Δ, already positive), `a [H]` (A, negative),
 * `bMat [B, L, N]`, `cMat [B, L, N]` → `y [B, L, H, P]`.
 */
export interface ScanInputs {
  x: tf.Tensor4D;
  dt: tf.Tensor3D;
  a: tf.Tensor1D;
  bMat: tf.Tensor3D;
  cMat: tf.Tensor3D;
}

function checkShapes({ x, dt, a, bMat, cMat }: ScanInputs): void {
  const [B, L, H] = x.shape;
  const ok =
    dt.shape[0] === B &&
    dt.shape[1] === L &&
    dt.shape[2] === H &&
    a.shape[0] === H &&
    bMat.shape[0] === B &&
    bMat.shape[1] === L &&
    cMat.shape[0] === B &&
    cMat.shape[1] === L &&
    cMat.shape[2] === bMat.shape[2];
  if (!ok) {
    throw new Error(
      `scan shapes do not agree: x [${x.shape}], dt [${dt.shape}], A [${a.shape}], B [${bMat.shape}], C [${cMat.shape}]`,
    );
  }
}

/** Reference: the recurrence one time step at a time (slow: a few ops per token; for tests and tiny L). */
export function sequentialScan(inputs: ScanInputs): tf.Tensor4D {
  checkShapes(inputs);
  return tf.tidy(() => {
    const { x, dt, a, bMat, cMat } = inputs;
    const [batch, len, heads, headDim] = x.shape;
    const n = bMat.shape[2];
    const xs = tf.unstack(x, 1) as tf.Tensor3D[]; // [B, H, P]
    const dts = tf.unstack(dt, 1) as tf.Tensor2D[]; // [B, H]
    const bs = tf.unstack(bMat, 1) as tf.Tensor2D[]; // [B, N]
    const cs = tf.unstack(cMat, 1) as tf.Tensor2D[];
    let s: tf.Tensor = tf.zeros([batch, heads, headDim, n]);
    const ys: tf.Tensor[] = [];
    for (let t = 0; t < len; t++) {
      const dtT = dts[t]!;
      const decay = tf.exp(tf.mul(dtT, a)).reshape([batch, heads, 1, 1]);
      const input = tf.mul(
        tf.mul(xs[t]!, dtT.reshape([batch, heads, 1])).expandDims(3),
        bs[t]!.reshape([batch, 1, 1, n]),
      );
      s = tf.add(tf.mul(s, decay), input);
      ys.push(tf.sum(tf.mul(s, cs[t]!.reshape([batch, 1, 1, n])), 3));
    }
    return tf.stack(ys, 1) as tf.Tensor4D;
  });
}

export interface ChunkedScanOptions {
  /** Chunk length Q (default 64). */
  chunkSize?: number;
  /**
   * How states pass between chunks: 'matrix' (one masked matmul over chunks, O(#chunks²)), 'loop' (one short
   * step per chunk, O(#chunks)), or 'auto' (matrix up to 128 chunks).
   */
  interChunk?: 'auto' | 'matrix' | 'loop';
}

/**
 * The same recurrence in the chunked "SSD" form (Mamba2's state-space duality): inside each chunk of Q steps the
 * output is a masked quadratic form `y = (M ∘ C Bᵀ)(Δ·x)` with `M[t,s] = exp(cumsum(ΔA)[t] − cumsum(ΔA)[s])
 * = exp(Σ_{s<j≤t} Δ_j A)` for `s ≤ t` (computed as the sum itself, for precision); each chunk's final state is
 * carried into the next. A handful of large ops instead of a loop over L.
 */
export function chunkedScan(inputs: ScanInputs, options: ChunkedScanOptions = {}): tf.Tensor4D {
  return tf.tidy(() => scanChunks(inputs, options, undefined, false).y);
}

/**
 * {@link chunkedScan} continuing from `initialState` `[B, H, P, N]` (the state before the first step; absent:
 * zeros), also returning the state after the last step: a sequence scanned block by block, each block starting
 * from the previous one's final state, gives the whole sequence's outputs.
 */
export function chunkedScanCarry(
  inputs: ScanInputs,
  options: ChunkedScanOptions = {},
  initialState?: tf.Tensor4D,
): { y: tf.Tensor4D; state: tf.Tensor4D } {
  return tf.tidy(() => {
    const { y, state } = scanChunks(inputs, options, initialState, true);
    return { y, state: state! };
  });
}

function scanChunks(
  inputs: ScanInputs,
  options: ChunkedScanOptions,
  initialState: tf.Tensor4D | undefined,
  wantState: boolean,
): { y: tf.Tensor4D; state?: tf.Tensor4D } {
  checkShapes(inputs);
  const q = options.chunkSize ?? 64;
  if (!Number.isInteger(q) || q < 1) throw new Error(`chunkSize must be a positive integer, got ${q}`);
  {
    let { x, dt, bMat, cMat } = inputs;
    const { a } = inputs;
    const [batch, len, heads, headDim] = x.shape;
    const n = bMat.shape[2];
    const nc = Math.ceil(len / q);
    const padded = nc * q;
    if (padded !== len) {
      // Zero-padding the tail: it only feeds later (discarded) steps, and Δ = 0 there.
      const extra = padded - len;
      x = tf.pad(x, [
        [0, 0],
        [0, extra],
        [0, 0],
        [0, 0],
      ]);
      dt = tf.pad(dt, [
        [0, 0],
        [0, extra],
        [0, 0],
      ]);
      bMat = tf.pad(bMat, [
        [0, 0],
        [0, extra],
        [0, 0],
      ]);
      cMat = tf.pad(cMat, [
        [0, 0],
        [0, extra],
        [0, 0],
      ]);
    }
    const hp = heads * headDim;
    const dtc = dt.reshape([batch, nc, q, heads]);
    const xdt = tf.mul(x.reshape([batch, nc, q, heads, headDim]), dtc.expandDims(4)); // Δ·x [B, nc, Q, H, P]
    const bc = bMat.reshape([batch * nc, q, n]);
    const cc = cMat.reshape([batch * nc, q, n]);

    // Log-decays ΔA per step, laid out [B, nc, H, Q]. Every segment sum below is a direct (masked) cumsum of
    // ΔA, never a difference of two long cumsums, so precision does not degrade as decays accumulate. (cumsum runs
    // on the last axis only: tfjs 4.22's cumsum gradient is wrong for any other axis.)
    const dA = tf.transpose(tf.mul(dtc, a), [0, 1, 3, 2]);
    const cum = tf.cumsum(dA, 3); // Σ_{j ≤ t} ΔA_j                         [B, nc, H, Q]
    const toEnd = tf.cumsum(dA, 3, true, true); // Σ_{t < j ≤ Q−1} ΔA_j     [B, nc, H, Q]

    // 1) Intra-chunk (diagonal blocks): y[t] = Σ_{s ≤ t} M[t,s] (C_t·B_s) (Δ·x)_s, built transposed ([s, t]):
    //    segT[s, t] = Σ_{s < j ≤ t} ΔA_j = cumsum over t of ΔA_t·[t > s].
    const upper = tf.linalg.bandPart(tf.ones([q, q]), 0, -1); // [s, t]: 1 where s ≤ t
    const strictUpper = tf.sub(upper, tf.eye(q)); // 1 where s < t
    const segT = tf.cumsum(tf.mul(dA.expandDims(3), strictUpper), 4); // [B, nc, H, Q(s), Q(t)]
    const mT = tf.mul(tf.exp(segT), upper);
    const bcT = tf.matMul(bc, cc, false, true).reshape([batch, nc, 1, q, q]); // [s, t] = B_s·C_t
    const wT = tf.mul(mT, bcT).reshape([batch * nc * heads, q, q]);
    const xh = tf.transpose(xdt, [0, 1, 3, 2, 4]).reshape([batch * nc * heads, q, headDim]);
    const yDiag = tf.transpose(
      tf.matMul(wT, xh, true, false).reshape([batch, nc, heads, q, headDim]),
      [0, 1, 3, 2, 4],
    );

    // 2) Each chunk's own final state: S_c = Σ_s exp(Σ_{s<j≤Q−1} ΔA_j) (Δ·x)_s ⊗ B_s   → [B·nc, H·P, N].
    const decayToEnd = tf.transpose(tf.exp(toEnd), [0, 1, 3, 2]); // [B, nc, Q, H]
    const xd = tf.mul(xdt, decayToEnd.expandDims(4)).reshape([batch * nc, q, hp]);
    const chunkStates = tf.matMul(xd, bc, true, false).reshape([batch, nc, hp * n]) as tf.Tensor3D;

    // 3) States entering each chunk.
    // Total log-decay of each chunk [B, nc, H].
    const chunkDecay = tf
      .slice(cum, [0, 0, 0, q - 1], [batch, nc, heads, 1])
      .reshape([batch, nc, heads]) as tf.Tensor3D;
    const mode = options.interChunk ?? 'auto';
    const useMatrix = mode === 'matrix' || (mode === 'auto' && nc <= 128);
    let incoming = useMatrix
      ? incomingStatesMatrix(chunkStates, chunkDecay, heads, headDim, n)
      : incomingStatesLoop(chunkStates, chunkDecay, heads, headDim, n);
    if (initialState) {
      // The initial state reaches chunk c decayed by every chunk before it: exp(Σ_{j<c} a_j)·S₀.
      const before = tf.transpose(tf.cumsum(tf.transpose(chunkDecay, [0, 2, 1]), 2, true), [0, 2, 1]);
      const s0 = initialState.reshape([batch, 1, heads, headDim * n]);
      incoming = tf
        .add(incoming.reshape([batch, nc, heads, headDim * n]), tf.mul(tf.exp(before).expandDims(3), s0))
        .reshape([batch, nc, hp * n]);
    }

    // 4) Contribution of incoming states: y_off[t] = exp(cum[t]) · (S_in · C_t).
    const sIn = tf
      .transpose(incoming.reshape([batch * nc, heads, headDim, n]), [0, 3, 1, 2])
      .reshape([batch * nc, n, hp]);
    const yOff = tf.mul(
      tf.matMul(cc, sIn).reshape([batch, nc, q, heads, headDim]),
      tf.transpose(tf.exp(cum), [0, 1, 3, 2]).expandDims(4),
    );

    let y = tf.add(yDiag, yOff).reshape([batch, padded, heads, headDim]);
    if (padded !== len) y = tf.slice(y, [0, 0, 0, 0], [batch, len, heads, headDim]);
    if (!wantState) return { y: y as tf.Tensor4D };
    // After the last chunk (its padded tail decays by exp(0) and adds nothing): exp(a_last)·S_in[last] + S[last].
    const last = (t: tf.Tensor, width: number) =>
      tf.slice(t, [0, nc - 1, 0], [batch, 1, width]).reshape([batch, width]);
    const lastDecay = tf.exp(last(chunkDecay, heads)).reshape([batch, heads, 1]);
    const state = tf.add(
      tf.mul(last(incoming as tf.Tensor3D, hp * n).reshape([batch, heads, headDim * n]), lastDecay),
      last(chunkStates, hp * n).reshape([batch, heads, headDim * n]),
    );
    return { y: y as tf.Tensor4D, state: state.reshape([batch, heads, headDim, n]) as tf.Tensor4D };
  }
}

/**
 * S_in[c] = Σ_{c' < c} exp(Σ_{c' < j < c} a_j) S[c'] (a_j: chunk j's total log-decay), as one masked batched
 * matmul over chunks. `states [B, nc, H·P·N]`, `decay [B, nc, H]` → `[B, nc, H·P·N]`.
 */
function incomingStatesMatrix(
  states: tf.Tensor3D,
  decay: tf.Tensor3D,
  heads: number,
  headDim: number,
  n: number,
): tf.Tensor {
  const [batch, nc] = decay.shape;
  const dh = tf.transpose(decay, [0, 2, 1]); // [B, H, nc]
  // segT[c', c] = Σ_{c' < j < c} a_j: exclusive cumsum over c of a_c·[c > c'], valid where c' < c.
  const strictUpper = tf.sub(tf.linalg.bandPart(tf.ones([nc, nc]), 0, -1), tf.eye(nc)); // 1 where c' < c
  const segT = tf.cumsum(tf.mul(dh.expandDims(2), strictUpper), 3, true); // [B, H, nc(c'), nc(c)]
  const wT = tf.mul(tf.exp(segT), strictUpper).reshape([batch * heads, nc, nc]);
  const s = tf
    .transpose(states.reshape([batch, nc, heads, headDim * n]), [0, 2, 1, 3])
    .reshape([batch * heads, nc, headDim * n]);
  const sIn = tf.matMul(wT, s, true, false).reshape([batch, heads, nc, headDim * n]);
  return tf.transpose(sIn, [0, 2, 1, 3]).reshape([batch, nc, heads * headDim * n]);
}

/** The same as {@link incomingStatesMatrix}, one step per chunk: S_in[c+1] = exp(a_c)·S_in[c] + S[c]. */
function incomingStatesLoop(
  states: tf.Tensor3D,
  decay: tf.Tensor3D,
  heads: number,
  headDim: number,
  n: number,
): tf.Tensor {
  const [batch, nc] = decay.shape;
  const ss = tf.unstack(states.reshape([batch, nc, heads, headDim * n]), 1); // [B, H, P·N] each
  const factors = tf.unstack(tf.exp(decay).reshape([batch, nc, heads, 1]), 1); // [B, H, 1]
  let s: tf.Tensor = tf.zerosLike(ss[0]!);
  const out: tf.Tensor[] = [s];
  for (let c = 0; c + 1 < nc; c++) {
    s = tf.add(tf.mul(s, factors[c]!), ss[c]!);
    out.push(s);
  }
  return tf.stack(out, 1).reshape([batch, nc, heads * headDim * n]);
}
