import { createRequire } from 'node:module';
import { currentBackend } from './backend.js';
import { tf } from './tf.js';

/**
 * The part of tfjs-node's kernel backend used to run TensorFlow ops tfjs has no kernel for (fused BatchNorm in
 * training mode, the whole-sequence LSTM): any op by name, with its attributes and inputs.
 */
export interface NativeBackend {
  binding: Record<string, number>;
  executeMultipleOutputs(name: string, attrs: unknown[], inputs: unknown[], outputs: number): tf.Tensor[];
}

/** tfjs-node's backend (CPU or GPU build), or undefined on the pure-JS backends. */
export function nativeBackend(): NativeBackend | undefined {
  if (tf.getBackend() !== 'tensorflow') return undefined;
  const backend = tf.backend() as unknown as Partial<NativeBackend>;
  return typeof backend.executeMultipleOutputs === 'function' && backend.binding
    ? (backend as NativeBackend)
    : undefined;
}

const require = createRequire(import.meta.url);
type Int64Scalar = new (value: number) => unknown;
let int64Class: Int64Scalar | undefined;

/**
 * An int64 scalar input for a native op that takes one (tfjs has no int64 tensors; tfjs-node passes this class
 * through as TensorFlow's int64). From the package of the loaded native backend, whose backend checks its class.
 */
export function int64Scalar(value: number): unknown {
  if (!int64Class) {
    const pkg =
      currentBackend()?.choice === 'node-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
    int64Class = (require(`${pkg}/dist/int64_tensors.js`) as { Int64Scalar: Int64Scalar }).Int64Scalar;
  }
  return new int64Class(value);
}
