import { tf } from '@rpg/core';
import { dense } from '../src/dense-and-norms.js';
import type { ParamStore } from '../src/index.js';

/**
 * The step-by-step LSTM layer whose every op is recorded for autodiff: the formulation `lstmLayer` replaces,
 * kept as the reference its outputs and gradients are checked against.
 */
export function tapedLstmLayer(
  x: tf.Tensor3D,
  wIh: tf.Tensor2D,
  wHh: tf.Tensor2D,
  bias: tf.Tensor1D,
): tf.Tensor3D {
  const [batch, len] = x.shape;
  const d = wHh.shape[0];
  // tfjs's gradient of unstack fails on a single slice (this formulation could not train on one token).
  const projected = dense(x, wIh, bias);
  const pre = len === 1 ? [tf.reshape(projected, [batch, 4 * d])] : tf.unstack(projected, 1);
  let h: tf.Tensor = tf.zeros([batch, d]);
  let c: tf.Tensor = tf.zeros([batch, d]);
  const outs: tf.Tensor[] = [];
  for (let t = 0; t < len; t++) {
    const gates = tf.add(pre[t]!, tf.matMul(h as tf.Tensor2D, wHh));
    const [ifo, g] = tf.split(gates, [3 * d, d], 1);
    const [i, f, o] = tf.split(tf.sigmoid(ifo!), 3, 1);
    c = tf.add(tf.mul(f!, c), tf.mul(i!, tf.tanh(g!)));
    h = tf.mul(o!, tf.tanh(c));
    outs.push(h);
  }
  return tf.stack(outs, 1) as tf.Tensor3D;
}

type LstmLayerFn = typeof tapedLstmLayer;

/**
 * A stack of `layers` LSTM layers (taped ones unless `layer` says) over the weights of an `LstmStack` in `store`
 * (`lstm.<l>.*`).
 */
export function tapedLstmStack(
  store: ParamStore,
  x: tf.Tensor3D,
  layers: number,
  layer: LstmLayerFn = tapedLstmLayer,
): tf.Tensor3D {
  let seq = x;
  for (let l = 0; l < layers; l++) {
    const w = (n: string) => store.get(`lstm.${l}.${n}`);
    seq = layer(seq, w('weight_ih') as tf.Tensor2D, w('weight_hh') as tf.Tensor2D, w('bias') as tf.Tensor1D);
  }
  return seq;
}
