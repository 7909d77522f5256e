import { readFileSync } from 'node:fs';

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

/** Bytes of WebAssembly memory the kernel may use; larger layers take TensorFlow's gradient kernel. */
export const KERNEL_MAX_BYTES = 1 << 30;

/** Bytes {@link lstmGateGradients} lays out for a layer of these sizes. */
export function kernelBytes(len: number, batch: number, d: number): number {
  return 4 * (len * batch * d * 11 + d * 4 * d + 2 * batch * d);
}

/** The part of the WebAssembly API used here (the project's TypeScript libraries do not declare it). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: object };
};

interface Kernel {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  gateGradients(len: number, batch: number, d: number, ...offsets: number[]): void;
}
let kernel: Kernel | undefined;

/**
 * The backward recurrence of an LSTM layer: from the gradient `dy` `[B, L, d]` of the hidden states and the saved
 * {@link LstmSteps}, the gradient of every step's gate pre-activations, `[L, B, 4d]` in TensorFlow's gate order
 * (i, f, ci, o), from zero initial states. `wH` `[d, 4d]` holds the recurrent weights in that order. The weight
 * and input gradients follow from it in one matmul each (the caller's).
 *
 * It runs in WebAssembly (assembly/lstm-backward.ts, compiled to lstm-backward.wasm): per step a
 * `[B, 4d] × [4d, d]` product, four lanes wide, and a few element-wise lines. TensorFlow's CPU gradient kernel
 * spends several times as long per step in its own small-kernel dispatch (and accumulates the weight
 * gradients step by step). Float32, deterministic.
 */
export function lstmGateGradients(
  steps: LstmSteps,
  dy: Float32Array,
  wH: Float32Array,
  len: number,
  batch: number,
  d: number,
): Float32Array {
  const k = loadKernel();
  const n = len * batch * d;
  const bytes = kernelBytes(len, batch, d);
  if (bytes > k.memory.buffer.byteLength) {
    k.memory.grow(Math.ceil((bytes - k.memory.buffer.byteLength) / 65536));
  }
  const memory = new Float32Array(k.memory.buffer);
  // Inputs, then the output dPre (4n) and the two [B, d] scratch rows, back to back (offsets in floats).
  const inputs = [steps.i, steps.cs, steps.f, steps.o, steps.ci, steps.co, dy, wH];
  const offsets: number[] = [];
  let at = 0;
  for (const values of inputs) {
    memory.set(values, at);
    offsets.push(at);
    at += values.length;
  }
  const dPre = at;
  k.gateGradients(
    len,
    batch,
    d,
    ...offsets.map((o) => 4 * o),
    4 * dPre,
    4 * (dPre + 4 * n),
    4 * (dPre + 4 * n + batch * d),
  );
  return memory.slice(dPre, dPre + 4 * n);
}

function loadKernel(): Kernel {
  if (!kernel) {
    const bytes = readFileSync(new URL('./lstm-backward.wasm', import.meta.url));
    kernel = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Kernel;
  }
  return kernel;
}
