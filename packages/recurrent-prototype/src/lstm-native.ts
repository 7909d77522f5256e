import { int64Scalar, type NativeBackend, tf } from '@rpg/core';

/**
 * Our gate blocks (i, f, o, g) in the order of TensorFlow's BlockLSTMV2 (i, f, g, o), along the last axis; the
 * same swap maps back.
 */
function swapGateOrder(w: tf.Tensor): tf.Tensor {
  const [i, f, o, g] = tf.split(w, 4, w.rank - 1);
  return tf.concat([i!, f!, g!, o!], w.rank - 1);
}

/**
 * One LSTM layer (as {@link lstmLayer}) as TensorFlow's whole-sequence kernels, BlockLSTMV2 and its gradient
 * BlockLSTMGradV2: the time loop runs inside one native op each way, where the op-by-op formulation issues about
 * ten small tfjs ops per step forward and seven backward, each costing more in dispatch than in arithmetic.
 * The same equations (no peephole, no cell clip, zero initial states); outputs equal to float rounding.
 */
export function nativeLstmLayer(
  backend: NativeBackend,
  x: tf.Tensor3D,
  wIh: tf.Tensor2D,
  wHh: tf.Tensor2D,
  bias: tf.Tensor1D,
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
        const [xs, ws, bs, ...outs] = saved;
        const [dx, , , dw, , , , db] = backend.executeMultipleOutputs(
          'BlockLSTMGradV2',
          attrs,
          [
            ...inputs(xs!, ws!, bs!),
            ...outs,
            tf.zerosLike(outs[1]!), // ∂loss/∂cs: the cell states are not outputs
            tf.transpose(dy, [1, 0, 2]),
          ],
          8,
        );
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
