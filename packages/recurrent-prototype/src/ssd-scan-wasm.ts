import { currentBackend, tf } from '@rpg/core';
import type { ScanInputs } from './ssd-chunks.js';
import { KERNEL_MAX_BYTES, kernelBytes, runKernel } from './wasm-kernels.js';

/** Steps between the states the forward pass keeps for the backward pass (which recomputes the rest). */
const SEGMENT = 16;

/** Above this many state values per layer (B·L·H·P·N) TensorFlow's chunked scan, multi-threaded, is faster. */
export const WASM_SCAN_MAX_VALUES = 1 << 24;

/** The array lengths of one backward call (the larger of the two calls). */
function backwardLengths(batch: number, len: number, heads: number, p: number, n: number): number[] {
  const segments = Math.ceil(len / SEGMENT);
  const xs = batch * len * heads * p;
  const bs = batch * len * n;
  const dts = batch * len * heads;
  const states = batch * heads * segments * p * n;
  return [xs, dts, heads, bs, bs, states, xs, xs, dts, heads, bs, bs, p * n, (SEGMENT + 1) * p * n];
}

/**
 * Whether a layer's scan runs as {@link wasmScanOp}: on tfjs-node's CPU build, for a state width N that is a
 * multiple of 4 (the kernel's vectors), up to {@link WASM_SCAN_MAX_VALUES} and the kernel's memory.
 */
export function wasmScanFits({ x, bMat }: ScanInputs): boolean {
  const [batch, len, heads, p] = x.shape;
  const n = bMat.shape[2];
  return (
    currentBackend()?.choice === 'node' &&
    n % 4 === 0 &&
    batch * len * heads * p * n <= WASM_SCAN_MAX_VALUES &&
    kernelBytes(backwardLengths(batch, len, heads, p, n)) <= KERNEL_MAX_BYTES
  );
}

/**
 * The scan (from a zero state) as one differentiable op in WebAssembly (assembly/ssd-scan.ts): the recurrence
 * one step at a time, each sequence and head with its [P, N] state in cache, four lanes wide, forward and
 * backward. At a prototype model's sizes that is a few million multiply-adds per layer, which TensorFlow's
 * chunked form spreads over some two hundred kernels whose dispatch costs more than the arithmetic. The
 * backward pass recomputes the states from one kept every {@link SEGMENT} steps. Float32; deterministic.
 */
export function wasmScanOp(inputs: ScanInputs): tf.Tensor4D {
  const [batch, len, heads, p] = inputs.x.shape;
  const n = inputs.bMat.shape[2];
  const segments = Math.ceil(len / SEGMENT);
  const dims = [batch, len, heads, p, n, SEGMENT] as const;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, dt, a, bm, cm] = (args.slice(0, 5) as tf.Tensor[]).map((t) => t.dataSync() as Float32Array) as [
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    const arrays = {
      x,
      dt,
      a,
      bm,
      cm,
      y: x.length,
      checkpoints: batch * heads * segments * p * n,
      state: p * n,
    };
    const forward = runKernel(arrays, ['y', 'checkpoints'], (k, at) =>
      k.scanForward(...dims, at.x, at.dt, at.a, at.bm, at.cm, at.y, at.checkpoints, at.state),
    );
    return {
      value: tf.tensor4d(forward.y, [batch, len, heads, p]),
      // The inputs' values and the checkpoints live in this closure, not on the backend.
      gradFunc: (dy: tf.Tensor) => {
        const back = {
          x,
          dt,
          a,
          bm,
          cm,
          checkpoints: forward.checkpoints,
          dy: dy.dataSync() as Float32Array,
          dx: x.length,
          ddt: dt.length,
          da: heads,
          dbm: bm.length,
          dcm: cm.length,
          ds: p * n,
          scratch: (SEGMENT + 1) * p * n,
        };
        const g = runKernel(back, ['dx', 'ddt', 'da', 'dbm', 'dcm'], (k, at) =>
          k.scanBackward(
            ...dims,
            ...[at.x, at.dt, at.a, at.bm, at.cm, at.checkpoints, at.dy],
            ...[at.dx, at.ddt, at.da, at.dbm, at.dcm, at.ds, at.scratch],
          ),
        );
        return [
          tf.tensor4d(g.dx, [batch, len, heads, p]),
          tf.tensor3d(g.ddt, [batch, len, heads]),
          tf.tensor1d(g.da),
          tf.tensor3d(g.dbm, [batch, len, n]),
          tf.tensor3d(g.dcm, [batch, len, n]),
        ];
      },
    };
  });
  const { x, dt, a, bMat, cMat } = inputs;
  return op(x, dt, a, bMat, cMat) as tf.Tensor4D;
}
