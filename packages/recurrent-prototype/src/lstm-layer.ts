import { nativeBackend, tf } from '@rpg/core';
import { dense } from './dense-and-norms.js';
import { nativeLstmLayer } from './lstm-native.js';

/**
 * One LSTM layer over a whole sequence as one differentiable op (gate columns i, f, o, g):
 * `[B, L, d] → [B, L, d]` hidden states, from zero initial states. On tfjs-node, TensorFlow's whole-sequence
 * LSTM kernel forward and, on the CPU build, a WebAssembly time loop backward ({@link nativeLstmLayer});
 * elsewhere {@link scanLstmLayer}.
 */
export function lstmLayer(
  x: tf.Tensor3D,
  wIh: tf.Tensor2D,
  wHh: tf.Tensor2D,
  bias: tf.Tensor1D,
): tf.Tensor3D {
  const backend = nativeBackend();
  return backend ? nativeLstmLayer(backend, x, wIh, wHh, bias) : scanLstmLayer(x, wIh, wHh, bias);
}

/**
 * {@link lstmLayer} as tfjs ops, step by step, with a hand-written gradient.
 *
 * Why a hand-written gradient: recorded op by op, each time step puts ~11 forward ops on the tape and its
 * backward pass takes ~35 more, including a weight-gradient matmul per step. Here the forward pass records
 * nothing per step (the same ops as the step-by-step formulation, so the same outputs bit for bit), and the
 * backward pass precomputes every gate derivative for all steps at once, leaves 7 small ops per step (the
 * recurrent `dGates @ W_hhᵀ` and the element-wise chain through the cell), then takes the weight and input
 * gradients of all steps in one matmul each.
 */
export function scanLstmLayer(
  x: tf.Tensor3D,
  wIh: tf.Tensor2D,
  wHh: tf.Tensor2D,
  bias: tf.Tensor1D,
): tf.Tensor3D {
  return lstmOp(x, wIh, wHh, bias) as tf.Tensor3D;
}

const lstmOp = tf.customGrad((...args) => {
  const [x, wIh, wHh, bias, save] = args as [
    tf.Tensor3D,
    tf.Tensor2D,
    tf.Tensor2D,
    tf.Tensor1D,
    tf.GradSaveFunc,
  ];
  const [batch, len] = x.shape;
  const d = wHh.shape[0];
  const pre = tf.unstack(dense(x, wIh, bias), 1);
  let h: tf.Tensor2D = tf.zeros([batch, d]);
  let c: tf.Tensor2D = tf.zeros([batch, d]);
  const hs: tf.Tensor2D[] = [];
  const cs: tf.Tensor2D[] = [];
  const sigmoids: tf.Tensor2D[] = [];
  const tanhGs: tf.Tensor2D[] = [];
  const tanhCs: tf.Tensor2D[] = [];
  for (let t = 0; t < len; t++) {
    const [ifo, g] = tf.split(tf.add(pre[t]!, tf.matMul(h, wHh)), [3 * d, d], 1);
    const s = tf.sigmoid(ifo!) as tf.Tensor2D;
    const [i, f, o] = tf.split(s, 3, 1);
    const tanhG = tf.tanh(g!) as tf.Tensor2D;
    c = tf.add(tf.mul(f!, c), tf.mul(i!, tanhG));
    const tanhC = tf.tanh(c);
    h = tf.mul(o!, tanhC);
    hs.push(h);
    cs.push(c);
    sigmoids.push(s);
    tanhGs.push(tanhG);
    tanhCs.push(tanhC);
  }
  // Saved time-major ([L, B, ·]) so the backward pass can slice one step with one unstack.
  save([x, wIh, wHh, ...[hs, cs, sigmoids, tanhGs, tanhCs].map((steps) => tf.stack(steps, 0))]);
  return {
    value: tf.stack(hs, 1) as tf.Tensor3D,
    gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) => backward(dy, saved as Saved),
  };
});

/** Inputs, then the time-major h, c, σ(i, f, o), tanh(g), tanh(c) of every step. */
type Saved = [
  tf.Tensor3D,
  tf.Tensor2D,
  tf.Tensor2D,
  tf.Tensor3D,
  tf.Tensor3D,
  tf.Tensor3D,
  tf.Tensor3D,
  tf.Tensor3D,
];

function backward(dy: tf.Tensor3D, saved: Saved): tf.Tensor[] {
  const [x, wIh, wHh, H, C, S, tanhG, tanhC] = saved;
  const [len, batch, d] = H.shape;
  const inDim = x.shape[2];
  // States before each step (zeros before the first).
  const shift = (s: tf.Tensor3D) => {
    const zero = tf.zeros([1, batch, d]);
    return len === 1 ? zero : tf.concat([zero, tf.slice(s, [0, 0, 0], [len - 1, batch, d])], 0);
  };
  const cPrev = shift(C);
  const [sI, sF, sO] = tf.split(S, 3, 2) as tf.Tensor3D[];
  const [dI, dF, dO] = tf.split(tf.mul(S, tf.sub(1, S)), 3, 2) as tf.Tensor3D[];
  // ∂pre-activation per unit of ∂c (for i, f, g) or of ∂h (for o), every step at once.
  const coef = tf.concat(
    [tf.mul(tanhG, dI!), tf.mul(cPrev, dF!), tf.mul(tanhC, dO!), tf.mul(sI!, tf.sub(1, tf.square(tanhG)))],
    2,
  );
  // ∂c_t gained from ∂h_t through h = o·tanh(c).
  const hToC = tf.mul(sO!, tf.sub(1, tf.square(tanhC)));
  const coefs = tf.unstack(coef, 0);
  const hToCs = tf.unstack(hToC, 0);
  const forgets = tf.unstack(sF!, 0);
  const dys = tf.unstack(dy, 1);
  const dGates: tf.Tensor[] = new Array(len);
  let dhNext: tf.Tensor | undefined;
  let dcNext: tf.Tensor | undefined;
  for (let t = len - 1; t >= 0; t--) {
    const dh = dhNext ? tf.add(dys[t]!, dhNext) : dys[t]!;
    const fromH = tf.mul(dh, hToCs[t]!);
    const dc = dcNext ? tf.add(dcNext, fromH) : fromH;
    const dg = tf.mul(tf.concat([dc, dc, dh, dc], 1), coefs[t]!);
    dGates[t] = dg;
    if (t > 0) {
      dcNext = tf.mul(dc, forgets[t]!);
      dhNext = tf.matMul(dg as tf.Tensor2D, wHh, false, true);
    }
  }
  const dPre = tf.reshape(tf.stack(dGates, 1), [batch * len, 4 * d]) as tf.Tensor2D;
  const hPrev = tf.reshape(tf.transpose(shift(H), [1, 0, 2]), [batch * len, d]) as tf.Tensor2D;
  return [
    tf.reshape(tf.matMul(dPre, wIh, false, true), [batch, len, inDim]),
    tf.matMul(tf.reshape(x, [batch * len, inDim]) as tf.Tensor2D, dPre, true, false),
    tf.matMul(hPrev, dPre, true, false),
    tf.sum(dPre, 0),
  ];
}
