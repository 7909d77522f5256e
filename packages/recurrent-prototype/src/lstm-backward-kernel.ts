import { KERNEL_MAX_BYTES, kernelBytes, runKernel } from './wasm-kernels.js';

/**
 * The gate activations of every step of one LSTM layer, as TensorFlow's BlockLSTMV2 returns them: time-major
 * `[L, B, d]` each, σ and tanh already applied (`ci` = tanh of the cell input, `co` = tanh of the cell state `cs`).
 */
export interface LstmSteps {
  i: Float32Array;
  cs: Float32Array;
  f: Float32Array;
  o: Float32Array;
  ci: Float32Array;
  co: Float32Array;
}

/** The lengths of the arrays {@link lstmGateGradients} lays out. */
const layout = (len: number, batch: number, d: number) => {
  const n = len * batch * d;
  return [n, n, n, n, n, n, n, 4 * d * d, 4 * n, batch * d, batch * d];
};

/** Whether a layer of these sizes fits the kernel's memory. */
export function lstmKernelFits(len: number, batch: number, d: number): boolean {
  return kernelBytes(layout(len, batch, d)) <= KERNEL_MAX_BYTES;
}

/**
 * The backward recurrence of an LSTM layer: from the gradient `dy` `[B, L, d]` of the hidden states and the saved
 * {@link LstmSteps}, the gradient of every step's gate pre-activations, `[L, B, 4d]` in TensorFlow's gate order
 * (i, f, ci, o), from zero initial states. `wH` `[d, 4d]` holds the recurrent weights in that order. The weight
 * and input gradients follow from it in one matmul each (the caller's).
 *
 * It runs in WebAssembly (assembly/lstm-backward.ts): per step a `[B, 4d] × [4d, d]` product, four lanes wide,
 * and a few element-wise lines. TensorFlow's CPU gradient kernel spends several times as long per step in its
 * own small-kernel dispatch (and accumulates the weight gradients step by step). Float32, deterministic.
 */
export function lstmGateGradients(
  steps: LstmSteps,
  dy: Float32Array,
  wH: Float32Array,
  len: number,
  batch: number,
  d: number,
): Float32Array {
  const n = len * batch * d;
  const { i, cs, f, o, ci, co } = steps;
  const arrays = { i, cs, f, o, ci, co, dy, wH, dPre: 4 * n, dh: batch * d, dc: batch * d };
  return runKernel(arrays, ['dPre'], (k, at) =>
    k.gateGradients(
      len,
      batch,
      d,
      at.i,
      at.cs,
      at.f,
      at.o,
      at.ci,
      at.co,
      at.dy,
      at.wH,
      at.dPre,
      at.dh,
      at.dc,
    ),
  ).dPre;
}
