import { tf } from '@rpg/core';
import { chunkForward, type ScanInputs } from './ssd-chunks.js';

/** The parts of the chunked forward the backward pass reads, in the order they are saved. */
const SAVED = ['bc', 'cc', 'mT', 'wT', 'xh', 'decayToEnd', 'xd', 'sIn', 'yOffRaw', 'expCum'] as const;

/**
 * The chunked scan (matrix form, from a zero state) over inputs padded to `nc` chunks of `q` as one
 * differentiable op: the forward is {@link chunkForward}'s, the gradients are written out by hand in about sixty
 * large ops instead of the few hundred small ones automatic differentiation records (most of a Mamba2 training
 * step's kernels). Segment sums are differentiated as differences of cumulative sums, `Σ_{s<j≤t} a_j =
 * cum[t] − cum[s]`, which is exact math; the forward keeps its direct sums for precision.
 */
export function chunkedScanOp(inputs: ScanInputs, q: number, nc: number): tf.Tensor4D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, dt, a, bMat, cMat, save] = args as [
      tf.Tensor4D,
      tf.Tensor3D,
      tf.Tensor1D,
      tf.Tensor3D,
      tf.Tensor3D,
      tf.GradSaveFunc,
    ];
    const parts = chunkForward({ x, dt, a, bMat, cMat }, q, nc, true);
    const inter = parts.inter!;
    save([x, dt, a, ...SAVED.map((k) => parts[k]), inter.wT, inter.states]);
    return {
      value: parts.y as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => scanGradients(dy, saved, q, nc),
    };
  });
  const { x, dt, a, bMat, cMat } = inputs;
  return op(x, dt, a, bMat, cMat) as tf.Tensor4D;
}

/** d/dx, d/dΔ, d/dA, d/dB, d/dC of Σ y ∘ dy, from the forward's saved tensors. */
function scanGradients(dy: tf.Tensor, saved: tf.Tensor[], q: number, nc: number): tf.Tensor[] {
  const [x, dt, a, ...rest] = saved as [tf.Tensor4D, tf.Tensor3D, tf.Tensor1D, ...tf.Tensor[]];
  const p = Object.fromEntries(SAVED.map((k, i) => [k, rest[i]!])) as Record<
    (typeof SAVED)[number],
    tf.Tensor
  >;
  const [interW, interStates] = rest.slice(SAVED.length) as [tf.Tensor3D, tf.Tensor3D];
  const [batch, padded, heads, headDim] = x.shape;
  const n = p.bc.shape[2]!;
  const hp = heads * headDim;
  const bnc = batch * nc;
  const dy5 = tf.reshape(dy, [batch, nc, q, heads, headDim]);
  const bc = p.bc as tf.Tensor3D;
  const cc = p.cc as tf.Tensor3D;

  // 4) y_off[t] = exp(cum[t]) · (C_t · S_in).
  const gOff = tf.mul(dy5, p.expCum.expandDims(4)); // [B, nc, Q, H, P]
  const dCumOff = tf.sum(tf.mul(gOff, p.yOffRaw), 4); // [B, nc, Q, H]
  const gOff3 = gOff.reshape([bnc, q, hp]) as tf.Tensor3D;
  let dcc = tf.matMul(gOff3, p.sIn as tf.Tensor3D, false, true); // [B·nc, Q, N]
  const dsIn = tf.matMul(cc, gOff3, true, false); // [B·nc, N, H·P]
  const dIncoming = tf.transpose(dsIn.reshape([bnc, n, heads, headDim]), [0, 2, 3, 1]); // [B·nc, H, P, N]

  // 3) S_in[c] = Σ_{c'} W[c', c] S[c'] with W[c', c] = exp(Σ_{c'<j<c} a_j), a_j = cum[Q−1] of chunk j.
  const dSInM = tf
    .transpose(dIncoming.reshape([batch, nc, heads, headDim * n]), [0, 2, 1, 3])
    .reshape([batch * heads, nc, headDim * n]) as tf.Tensor3D;
  const dStatesM = tf.matMul(interW, dSInM); // [B·H, nc, P·N]
  const dSegInter = tf
    .mul(tf.matMul(interStates, dSInM, false, true), interW)
    .reshape([batch, heads, nc, nc]);
  // Σ_{c'<j<c} a_j = (Σ_{j≤c} a_j − a_c) − Σ_{j≤c'} a_j: d/da_j = Σ_{c>j} col[c] − Σ_{c'≥j} row[c'].
  const col = tf.sum(dSegInter, 2); // [B, H, nc(c)]
  const row = tf.sum(dSegInter, 3); // [B, H, nc(c')]
  const dChunkDecay = tf.sub(tf.cumsum(tf.sub(col, row), 2, false, true), col); // [B, H, nc]
  const dStates = tf
    .transpose(dStatesM.reshape([batch, heads, nc, headDim * n]), [0, 2, 1, 3])
    .reshape([bnc, hp, n]) as tf.Tensor3D;

  // 2) S_c = Σ_s exp(toEnd[s]) (Δ·x)_s ⊗ B_s, toEnd[s] = cum[Q−1] − cum[s].
  const dxd = tf.matMul(bc, dStates, false, true).reshape([batch, nc, q, heads, headDim]);
  let dbc = tf.matMul(p.xd as tf.Tensor3D, dStates); // [B·nc, Q, N]
  let dxdt = tf.mul(dxd, p.decayToEnd.expandDims(4));
  const dToEnd = tf.sum(tf.mul(dxd, p.xd.reshape([batch, nc, q, heads, headDim])), 4); // [B, nc, Q, H]

  // 1) y_diag[t] = Σ_{s≤t} W[s, t] (Δ·x)_s with W = M ∘ (B_s·C_t), M[s, t] = exp(cum[t] − cum[s]).
  const dyd = tf.transpose(dy5, [0, 1, 3, 2, 4]).reshape([bnc * heads, q, headDim]) as tf.Tensor3D;
  const dxh = tf.matMul(p.wT as tf.Tensor3D, dyd); // [B·nc·H, Q(s), P]
  const dW = tf.matMul(p.xh as tf.Tensor3D, dyd, false, true).reshape([batch, nc, heads, q, q]);
  const dBC = tf.sum(tf.mul(dW, p.mT), 2).reshape([bnc, q, q]) as tf.Tensor3D; // [s, t]
  const dSeg = tf.mul(dW, p.wT.reshape([batch, nc, heads, q, q]));
  dbc = tf.add(dbc, tf.matMul(dBC, cc));
  dcc = tf.add(dcc, tf.matMul(dBC, bc, true, false));
  dxdt = tf.add(dxdt, tf.transpose(dxh.reshape([batch, nc, heads, q, headDim]), [0, 1, 3, 2, 4]));

  // Every path into cum [B, nc, H, Q], then ΔA_j reaches cum[t] for t ≥ j (a reverse cumulative sum).
  const atEnd = tf.add(tf.sum(dToEnd, 2), tf.transpose(dChunkDecay, [0, 2, 1])); // into cum[Q−1]: [B, nc, H]
  const dCum = tf.add(
    tf.add(tf.sub(tf.sum(dSeg, 3), tf.sum(dSeg, 4)), tf.transpose(tf.sub(dCumOff, dToEnd), [0, 1, 3, 2])),
    tf.pad(atEnd.expandDims(3), [
      [0, 0],
      [0, 0],
      [0, 0],
      [q - 1, 0],
    ]),
  );
  const ddA = tf.transpose(tf.cumsum(dCum, 3, false, true), [0, 1, 3, 2]); // d/d(Δ·A) [B, nc, Q, H]

  // Δ·A and Δ·x.
  const dtc = dt.reshape([batch, nc, q, heads]);
  const x5 = x.reshape([batch, nc, q, heads, headDim]);
  const ddt = tf.add(tf.mul(ddA, a), tf.sum(tf.mul(dxdt, x5), 4));
  return [
    tf.mul(dxdt, dtc.expandDims(4)).reshape([batch, padded, heads, headDim]),
    ddt.reshape([batch, padded, heads]),
    tf.sum(tf.mul(ddA, dtc), [0, 1, 2]),
    dbc.reshape([batch, padded, n]),
    dcc.reshape([batch, padded, n]),
  ];
}
