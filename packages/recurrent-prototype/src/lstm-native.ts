import { currentBackend, int64Scalar, type NativeBackend, tf } from '@rpg/core';
import { lstmGateGradients, lstmKernelFits } from './lstm-backward-kernel.js';

/**
 * Our gate blocks (i, f, o, g) in the order of TensorFlow's BlockLSTMV2 (i, f, g, o), along the last axis; the
 * same swap maps back.
 */
function swapGateOrder(w: tf.Tensor): tf.Tensor {
  const [i, f, o, g] = tf.split(w, 4, w.rank - 1);
  return tf.concat([i!, f!, g!, o!], w.rank - 1);
}

export type LstmBackward = 'native' | 'wasm';

/**
 * Where an LSTM layer's backward time loop runs: in WebAssembly ({@link lstmGateGradients}) on tfjs-node's CPU
 * build, where TensorFlow's gradient kernel spends about 0.2 ms per step (d 128, B 2 to 8) and more at larger d
 * in small-kernel dispatch. Forward + backward of 2 layers at L 201 on a 2-core Xeon: 35 against 182 ms at the
 * example's sizes (B 2, d 128), 108 against 253 at B 8, 118 against 541 at d 256, 485 against 3,165 at d 512. In
 * TensorFlow's kernel on a GPU (it runs there, and reading the activations back would cost more than it saves)
 * and for layers whose arrays would not fit the kernel's memory.
 */
export function lstmBackwardFor(len: number, batch: number, d: number): LstmBackward {
  return currentBackend()?.choice === 'node' && lstmKernelFits(len, batch, d) ? 'wasm' : 'native';
}

/**
 * ∂x (time-major), ∂w (`[in + d, 4d]`, TensorFlow's gate order) and ∂b of one layer from the gradient `dy` of
 * its outputs, what BlockLSTMGradV2 returns, with the time loop in WebAssembly and the weight and input
 * gradients as one matmul each over all steps.
 */
function kernelGradients(
  dy: tf.Tensor3D,
  xs: tf.Tensor3D,
  ws: tf.Tensor2D,
  outs: tf.Tensor3D[],
): tf.Tensor[] {
  const [len, batch, inDim] = xs.shape;
  const [i, cs, f, o, ci, co, h] = outs as [tf.Tensor3D, ...tf.Tensor3D[]];
  const d = i.shape[2];
  const read = (t: tf.Tensor) => t.dataSync() as Float32Array;
  const wH = tf.slice(ws, [inDim, 0], [d, 4 * d]);
  const steps = { i: read(i), cs: read(cs!), f: read(f!), o: read(o!), ci: read(ci!), co: read(co!) };
  const dPre = tf.tensor2d(lstmGateGradients(steps, read(dy), read(wH), len, batch, d), [len * batch, 4 * d]);
  // h before each step: zeros, then the outputs but the last.
  const zero = tf.zeros([1, batch, d]);
  const hPrev = len === 1 ? zero : tf.concat([zero, tf.slice(h!, [0, 0, 0], [len - 1, batch, d])], 0);
  const xh = tf.reshape(tf.concat([xs, hPrev], 2), [len * batch, inDim + d]) as tf.Tensor2D;
  const wX = tf.slice(ws, [0, 0], [inDim, 4 * d]);
  return [
    tf.reshape(tf.matMul(dPre, wX, false, true), [len, batch, inDim]),
    tf.matMul(xh, dPre, true, false),
    tf.sum(dPre, 0),
  ];
}

/**
 * One LSTM layer (as {@link lstmLayer}) as TensorFlow's whole-sequence kernels, BlockLSTMV2 and its gradient
 * BlockLSTMGradV2: the time loop runs inside one native op each way, where the op-by-op formulation issues about
 * ten small tfjs ops per step forward and seven backward, each costing more in dispatch than in arithmetic.
 * The same equations (no peephole, no cell clip, zero initial states); outputs equal to float rounding.
 * `backward` 'wasm' runs the gradient's time loop in WebAssembly instead ({@link lstmGateGradients}); the default
 * is {@link lstmBackwardFor}.
 */
export function nativeLstmLayer(
  backend: NativeBackend,
  x: tf.Tensor3D,
  wIh: tf.Tensor2D,
  wHh: tf.Tensor2D,
  bias: tf.Tensor1D,
  backward: LstmBackward = lstmBackwardFor(x.shape[1], x.shape[0], wHh.shape[0]),
): tf.Tensor3D {
  const b = backend.binding;
  const attrs = [
    { name: 'T', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
    { name: 'use_peephole', type: b.TF_ATTR_BOOL, value: false },
  ];
  const forwardAttrs = [...attrs, { name: 'cell_clip', type: b.TF_ATTR_FLOAT, value: 0 }];
  const [batch, len, inDim] = x.shape;
  const d = wHh.shape[0];
  // The op's inputs around x and the weights: zero initial states (c, h) and the unused peephole weights.
  const inputs = (xt: tf.Tensor, w: tf.Tensor, bt: tf.Tensor) => {
    const state = tf.zeros([batch, d]);
    const peephole = tf.zeros([d]);
    return [int64Scalar(len), xt, state, state, w, peephole, peephole, peephole, bt];
  };
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, wI, wH, bi, save] = args as [
      tf.Tensor3D,
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor1D,
      tf.GradSaveFunc,
    ];
    const xt = tf.transpose(xIn, [1, 0, 2]); // time-major [L, B, in]
    const w = swapGateOrder(tf.concat([wI, wH], 0)); // [in + d, 4d], rows for [x, h_prev]
    const bt = swapGateOrder(bi);
    // i, cs, f, o, ci, co, h: [L, B, d] each.
    const states = backend.executeMultipleOutputs('BlockLSTMV2', forwardAttrs, inputs(xt, w, bt), 7);
    save([xt, w, bt, ...states]);
    return {
      value: tf.transpose(states[6]!, [1, 0, 2]) as tf.Tensor3D,
      gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) => {
        const [xs, ws, bs, ...outs] = saved as [tf.Tensor3D, tf.Tensor2D, tf.Tensor, ...tf.Tensor3D[]];
        const [dx, dw, db] =
          backward === 'wasm'
            ? kernelGradients(dy, xs, ws, outs)
            : backend
                .executeMultipleOutputs(
                  'BlockLSTMGradV2',
                  attrs,
                  [
                    ...inputs(xs, ws, bs!),
                    ...outs,
                    tf.zerosLike(outs[1]!), // ∂loss/∂cs: the cell states are not outputs
                    tf.transpose(dy, [1, 0, 2]),
                  ],
                  8,
                )
                .filter((_, k) => k === 0 || k === 3 || k === 7);
        const dW = swapGateOrder(dw!);
        return [
          tf.transpose(dx!, [1, 0, 2]),
          tf.slice(dW, [0, 0], [inDim, 4 * d]),
          tf.slice(dW, [inDim, 0], [d, 4 * d]),
          swapGateOrder(db!),
        ];
      },
    };
  });
  return op(x, wIh, wHh, bias) as tf.Tensor3D;
}
