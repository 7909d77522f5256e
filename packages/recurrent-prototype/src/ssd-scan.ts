import { tf } from '@rpg/core';

import { chunkForward, padToChunks, type ScanInputs } from './ssd-chunks.js';
import { chunkedScanOp } from './ssd-scan-grad.js';
import { wasmScanFits, wasmScanOp } from './ssd-scan-wasm.js';

export type { ScanInputs } from './ssd-chunks.js';

function checkShapes({ x, dt, a, bMat, cMat }: ScanInputs): void {
  const [B, L, H] = x.shape;
  const ok =
    dt.shape[0] === B &&
    dt.shape[1] === L &&
    dt.shape[2] === H &&
    a.shape[0] === H &&
    bMat.shape[0] === B &&
    bMat.shape[1] === L &&
    cMat.shape[0] === B &&
    cMat.shape[1] === L &&
    cMat.shape[2] === bMat.shape[2];
  if (!ok) {
    throw new Error(
      `scan shapes do not agree: x [${x.shape}], dt [${dt.shape}], A [${a.shape}], B [${bMat.shape}], C [${cMat.shape}]`,
    );
  }
}

/** Reference: the recurrence one time step at a time (slow: a few ops per token; for tests and tiny L). */
export function sequentialScan(inputs: ScanInputs): tf.Tensor4D {
  checkShapes(inputs);
  return tf.tidy(() => {
    const { x, dt, a, bMat, cMat } = inputs;
    const [batch, len, heads, headDim] = x.shape;
    const n = bMat.shape[2];
    const xs = tf.unstack(x, 1) as tf.Tensor3D[]; // [B, H, P]
    const dts = tf.unstack(dt, 1) as tf.Tensor2D[]; // [B, H]
    const bs = tf.unstack(bMat, 1) as tf.Tensor2D[]; // [B, N]
    const cs = tf.unstack(cMat, 1) as tf.Tensor2D[];
    let s: tf.Tensor = tf.zeros([batch, heads, headDim, n]);
    const ys: tf.Tensor[] = [];
    for (let t = 0; t < len; t++) {
      const dtT = dts[t]!;
      const decay = tf.exp(tf.mul(dtT, a)).reshape([batch, heads, 1, 1]);
      const input = tf.mul(
        tf.mul(xs[t]!, dtT.reshape([batch, heads, 1])).expandDims(3),
        bs[t]!.reshape([batch, 1, 1, n]),
      );
      s = tf.add(tf.mul(s, decay), input);
      ys.push(tf.sum(tf.mul(s, cs[t]!.reshape([batch, 1, 1, n])), 3));
    }
    return tf.stack(ys, 1) as tf.Tensor4D;
  });
}

export interface ChunkedScanOptions {
  /** Chunk length Q (default 64). */
  chunkSize?: number;
  /**
   * How states pass between chunks: 'matrix' (one masked matmul over chunks, O(#chunks²)), 'loop' (one short
   * step per chunk, O(#chunks)), or 'auto' (matrix up to 128 chunks).
   */
  interChunk?: 'auto' | 'matrix' | 'loop';
  /** 'auto' (default): the WebAssembly scan where it fits; 'tensorflow': always the chunked form. */
  kernel?: 'auto' | 'tensorflow';
}

/**
 * The same recurrence in the chunked "SSD" form (Mamba2's state-space duality; see {@link chunkForward}): a
 * handful of large ops instead of a loop over L. In the matrix form its gradients are written by hand
 * ({@link chunkedScanOp}); the loop form is differentiated op by op. On tfjs-node's CPU build, a layer small
 * enough runs instead as the step-by-step recurrence in WebAssembly ({@link wasmScanOp}; `options.kernel`
 * 'tensorflow' keeps the chunked form).
 */
export function chunkedScan(inputs: ScanInputs, options: ChunkedScanOptions = {}): tf.Tensor4D {
  checkShapes(inputs);
  const q = chunkSizeOf(options);
  if (options.kernel !== 'tensorflow' && wasmScanFits(inputs)) return wasmScanOp(inputs);
  return tf.tidy(() => {
    const { padded, nc } = padToChunks(inputs, q);
    const y = useMatrix(options, nc) ? chunkedScanOp(padded, q, nc) : chunkForward(padded, q, nc, false).y;
    return trim(y, inputs.x.shape[1]);
  });
}

/**
 * {@link chunkedScan} continuing from `initialState` `[B, H, P, N]` (the state before the first step; absent:
 * zeros), also returning the state after the last step: a sequence scanned block by block, each block starting
 * from the previous one's final state, gives the whole sequence's outputs.
 */
export function chunkedScanCarry(
  inputs: ScanInputs,
  options: ChunkedScanOptions = {},
  initialState?: tf.Tensor4D,
): { y: tf.Tensor4D; state: tf.Tensor4D } {
  checkShapes(inputs);
  const q = chunkSizeOf(options);
  return tf.tidy(() => {
    const { padded, nc } = padToChunks(inputs, q);
    const [batch, , heads, headDim] = inputs.x.shape;
    const n = inputs.bMat.shape[2];
    const hp = heads * headDim;
    const parts = chunkForward(padded, q, nc, useMatrix(options, nc), initialState);
    // After the last chunk (its padded tail decays by exp(0) and adds nothing): exp(a_last)·S_in[last] + S[last].
    const last = (t: tf.Tensor, width: number) =>
      tf.slice(t, [0, nc - 1, 0], [batch, 1, width]).reshape([batch, width]);
    const lastDecay = tf.exp(last(parts.chunkDecay, heads)).reshape([batch, heads, 1]);
    const state = tf.add(
      tf.mul(last(parts.incoming, hp * n).reshape([batch, heads, headDim * n]), lastDecay),
      last(parts.chunkStates, hp * n).reshape([batch, heads, headDim * n]),
    );
    return {
      y: trim(parts.y, inputs.x.shape[1]),
      state: state.reshape([batch, heads, headDim, n]) as tf.Tensor4D,
    };
  });
}

function chunkSizeOf(options: ChunkedScanOptions): number {
  const q = options.chunkSize ?? 64;
  if (!Number.isInteger(q) || q < 1) throw new Error(`chunkSize must be a positive integer, got ${q}`);
  return q;
}

const useMatrix = (options: ChunkedScanOptions, nc: number) => {
  const mode = options.interChunk ?? 'auto';
  return mode === 'matrix' || (mode === 'auto' && nc <= 128);
};

/** `y [B, nc·Q, H, P]` cut back to the sequence's `len` steps. */
function trim(y: tf.Tensor, len: number): tf.Tensor4D {
  const [batch, padded, heads, headDim] = y.shape as [number, number, number, number];
  return (padded === len ? y : tf.slice(y, [0, 0, 0, 0], [batch, len, heads, headDim])) as tf.Tensor4D;
}
