import { tf } from '@rpg/core';
import { triangleMask } from './triangle-mask.js';

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

/**
 * The inputs zero-padded to a whole number of chunks of `q` steps (`nc` of them). The tail only feeds later
 * (discarded) steps, and Δ = 0 there.
 */
export function padToChunks(inputs: ScanInputs, q: number): { padded: ScanInputs; nc: number } {
  const len = inputs.x.shape[1];
  const nc = Math.ceil(len / q);
  const extra = nc * q - len;
  if (extra === 0) return { padded: inputs, nc };
  const tail = (t: tf.Tensor) =>
    tf.pad(
      t,
      t.shape.map((_, i) => (i === 1 ? [0, extra] : [0, 0]) as [number, number]),
    );
  const { x, dt, a, bMat, cMat } = inputs;
  return {
    padded: {
      x: tail(x) as tf.Tensor4D,
      dt: tail(dt) as tf.Tensor3D,
      a,
      bMat: tail(bMat) as tf.Tensor3D,
      cMat: tail(cMat) as tf.Tensor3D,
    },
    nc,
  };
}

/** What the chunked forward computes on the way to `y`; the hand-written backward reuses these. */
export interface ChunkParts {
  /** `[B, nc·Q, H, P]`. */
  y: tf.Tensor;
  /** B and C per chunk, `[B·nc, Q, N]`. */
  bc: tf.Tensor3D;
  cc: tf.Tensor3D;
  /** Σ_{j ≤ t} ΔA_j within each chunk `[B, nc, H, Q]`. */
  cum: tf.Tensor;
  /** Intra-chunk decays and weights, transposed (`[s, t]`): M `[B, nc, H, Q, Q]`, B_s·C_t `[B, nc, 1, Q, Q]`. */
  mT: tf.Tensor;
  bcT: tf.Tensor;
  /** M ∘ (B·C) `[B·nc·H, Q, Q]`, and Δ·x laid out `[B·nc·H, Q, P]` for it. */
  wT: tf.Tensor3D;
  xh: tf.Tensor3D;
  /** exp(Σ_{t < j ≤ Q−1} ΔA_j) `[B, nc, Q, H]`, and Δ·x decayed to its chunk's end `[B·nc, Q, H·P]`. */
  decayToEnd: tf.Tensor;
  xd: tf.Tensor3D;
  /** Each chunk's own final state `[B, nc, H·P·N]` and total log-decay `[B, nc, H]`. */
  chunkStates: tf.Tensor3D;
  chunkDecay: tf.Tensor3D;
  /** The states entering each chunk `[B, nc, H·P·N]`, and the matrix form's weights and states (else absent). */
  incoming: tf.Tensor;
  inter?: { wT: tf.Tensor3D; states: tf.Tensor3D };
  /** S_in laid out `[B·nc, N, H·P]`, C·S_in `[B, nc, Q, H, P]` and exp(cum) `[B, nc, Q, H]`. */
  sIn: tf.Tensor3D;
  yOffRaw: tf.Tensor;
  expCum: tf.Tensor;
}

/**
 * The recurrence in the chunked "SSD" form (Mamba2's state-space duality) over inputs already padded to `nc`
 * chunks of `q`: inside each chunk the output is a masked quadratic form `y = (M ∘ C Bᵀ)(Δ·x)` with
 * `M[t,s] = exp(Σ_{s<j≤t} Δ_j A)` for `s ≤ t` (computed as the sum itself, for precision); each chunk's final
 * state is carried into the next, by one masked matmul over chunks (`matrix`) or a step per chunk (`loop`), from
 * `initialState` `[B, H, P, N]` when given. A handful of large ops instead of a loop over L.
 */
export function chunkForward(
  inputs: ScanInputs,
  q: number,
  nc: number,
  useMatrix: boolean,
  initialState?: tf.Tensor4D,
): ChunkParts {
  const { x, dt, bMat, cMat, a } = inputs;
  const [batch, padded, heads, headDim] = x.shape;
  const n = bMat.shape[2];
  const hp = heads * headDim;
  const dtc = dt.reshape([batch, nc, q, heads]);
  const xdt = tf.mul(x.reshape([batch, nc, q, heads, headDim]), dtc.expandDims(4)); // Δ·x [B, nc, Q, H, P]
  const bc = bMat.reshape([batch * nc, q, n]) as tf.Tensor3D;
  const cc = cMat.reshape([batch * nc, q, n]) as tf.Tensor3D;

  // Log-decays ΔA per step, laid out [B, nc, H, Q]. Every segment sum below is a direct (masked) cumsum of
  // ΔA, never a difference of two long cumsums, so precision does not degrade as decays accumulate. (cumsum runs
  // on the last axis only: tfjs 4.22's cumsum gradient is wrong for any other axis.)
  const dA = tf.transpose(tf.mul(dtc, a), [0, 1, 3, 2]);
  const cum = tf.cumsum(dA, 3); // Σ_{j ≤ t} ΔA_j                         [B, nc, H, Q]
  const toEnd = tf.cumsum(dA, 3, true, true); // Σ_{t < j ≤ Q−1} ΔA_j     [B, nc, H, Q]

  // 1) Intra-chunk (diagonal blocks): y[t] = Σ_{s ≤ t} M[t,s] (C_t·B_s) (Δ·x)_s, built transposed ([s, t]):
  //    segT[s, t] = Σ_{s < j ≤ t} ΔA_j = cumsum over t of ΔA_t·[t > s].
  const upper = triangleMask(q, 'upper'); // [s, t]: 1 where s ≤ t
  const strictUpper = triangleMask(q, 'strict-upper'); // 1 where s < t
  const segT = tf.cumsum(tf.mul(dA.expandDims(3), strictUpper), 4); // [B, nc, H, Q(s), Q(t)]
  const mT = tf.mul(tf.exp(segT), upper);
  const bcT = tf.matMul(bc, cc, false, true).reshape([batch, nc, 1, q, q]); // [s, t] = B_s·C_t
  const wT = tf.mul(mT, bcT).reshape([batch * nc * heads, q, q]) as tf.Tensor3D;
  const xh = tf.transpose(xdt, [0, 1, 3, 2, 4]).reshape([batch * nc * heads, q, headDim]) as tf.Tensor3D;
  const yDiag = tf.transpose(
    tf.matMul(wT, xh, true, false).reshape([batch, nc, heads, q, headDim]),
    [0, 1, 3, 2, 4],
  );

  // 2) Each chunk's own final state: S_c = Σ_s exp(Σ_{s<j≤Q−1} ΔA_j) (Δ·x)_s ⊗ B_s   → [B·nc, H·P, N].
  const decayToEnd = tf.transpose(tf.exp(toEnd), [0, 1, 3, 2]); // [B, nc, Q, H]
  const xd = tf.mul(xdt, decayToEnd.expandDims(4)).reshape([batch * nc, q, hp]) as tf.Tensor3D;
  const chunkStates = tf.matMul(xd, bc, true, false).reshape([batch, nc, hp * n]) as tf.Tensor3D;

  // 3) States entering each chunk.
  // Total log-decay of each chunk [B, nc, H].
  const chunkDecay = tf
    .slice(cum, [0, 0, 0, q - 1], [batch, nc, heads, 1])
    .reshape([batch, nc, heads]) as tf.Tensor3D;
  let inter: ChunkParts['inter'];
  let incoming: tf.Tensor;
  if (useMatrix) {
    inter = interChunkMatrix(chunkStates, chunkDecay, heads, headDim, n);
    incoming = tf
      .transpose(
        tf.matMul(inter.wT, inter.states, true, false).reshape([batch, heads, nc, headDim * n]),
        [0, 2, 1, 3],
      )
      .reshape([batch, nc, heads * headDim * n]);
  } else {
    incoming = incomingStatesLoop(chunkStates, chunkDecay, heads, headDim, n);
  }
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
    .reshape([batch * nc, n, hp]) as tf.Tensor3D;
  const yOffRaw = tf.matMul(cc, sIn).reshape([batch, nc, q, heads, headDim]);
  const expCum = tf.transpose(tf.exp(cum), [0, 1, 3, 2]);
  const yOff = tf.mul(yOffRaw, expCum.expandDims(4));

  const y = tf.add(yDiag, yOff).reshape([batch, padded, heads, headDim]);
  return {
    y,
    bc,
    cc,
    cum,
    mT,
    bcT,
    wT,
    xh,
    decayToEnd,
    xd,
    chunkStates,
    chunkDecay,
    incoming,
    ...(inter ? { inter } : {}),
    sIn,
    yOffRaw,
    expCum,
  };
}

/**
 * The weights and states of S_in[c] = Σ_{c' < c} exp(Σ_{c' < j < c} a_j) S[c'] (a_j: chunk j's total log-decay)
 * as one masked batched matmul over chunks: `wT [B·H, nc(c'), nc(c)]`, `states [B·H, nc, P·N]`, from
 * `states [B, nc, H·P·N]` and `decay [B, nc, H]`.
 */
function interChunkMatrix(
  states: tf.Tensor3D,
  decay: tf.Tensor3D,
  heads: number,
  headDim: number,
  n: number,
): { wT: tf.Tensor3D; states: tf.Tensor3D } {
  const [batch, nc] = decay.shape;
  const dh = tf.transpose(decay, [0, 2, 1]); // [B, H, nc]
  // segT[c', c] = Σ_{c' < j < c} a_j: exclusive cumsum over c of a_c·[c > c'], valid where c' < c.
  const strictUpper = triangleMask(nc, 'strict-upper'); // 1 where c' < c
  const segT = tf.cumsum(tf.mul(dh.expandDims(2), strictUpper), 3, true); // [B, H, nc(c'), nc(c)]
  return {
    wT: tf.mul(tf.exp(segT), strictUpper).reshape([batch * heads, nc, nc]) as tf.Tensor3D,
    states: tf
      .transpose(states.reshape([batch, nc, heads, headDim * n]), [0, 2, 1, 3])
      .reshape([batch * heads, nc, headDim * n]) as tf.Tensor3D,
  };
}

/** The same as the matrix form, one step per chunk: S_in[c+1] = exp(a_c)·S_in[c] + S[c]. */
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
