// The one tfjs namespace every package uses. Backends (tfjs-node, wasm) register into this same engine,
// so import `tf` from here rather than from '@tensorflow/tfjs' directly.
import * as tf from '@tensorflow/tfjs';

export { tf };
export type Tensor = tf.Tensor;
