import { readFileSync } from 'node:fs';

/** The part of the WebAssembly API used here (the project's TypeScript libraries do not declare it). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: object };
};

/** The scan kernels' signature: the sizes, the checkpoint interval, then the arrays' byte offsets. */
type ScanKernel = (
  batch: number,
  len: number,
  heads: number,
  p: number,
  n: number,
  seg: number,
  ...pointers: number[]
) => void;

/** The exports of kernels.wasm (compiled from assembly/index.ts); every pointer is a byte offset. */
export interface Kernels {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  /** The first byte past the module's static data. */
  heapBase: { value: number };
  gateGradients(len: number, batch: number, d: number, ...pointers: number[]): void;
  scanForward: ScanKernel;
  scanBackward: ScanKernel;
}

/** Bytes of WebAssembly memory a kernel call may use; larger work takes the TensorFlow path. */
export const KERNEL_MAX_BYTES = 1 << 30;

let kernels: Kernels | undefined;

function load(): Kernels {
  if (!kernels) {
    const bytes = readFileSync(new URL('./kernels.wasm', import.meta.url));
    kernels = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Kernels;
  }
  return kernels;
}

/**
 * One kernel call: `arrays` (inputs with values, outputs and scratch as lengths) laid out back to back in the
 * module's memory past its static data, `call` given their byte offsets; returns copies of the arrays named in
 * `outputs`. Calls are synchronous and copy their results out, so every call may use the same memory.
 */
export function runKernel<K extends string>(
  arrays: Record<K, Float32Array | number>,
  outputs: readonly NoInfer<K>[],
  call: (kernels: Kernels, at: Record<K, number>) => void,
): Record<K, Float32Array> {
  const k = load();
  const names = Object.keys(arrays) as K[];
  const lengths = names.map((name) => {
    const a = arrays[name];
    return typeof a === 'number' ? a : a.length;
  });
  const base = padded(Math.ceil(k.heapBase.value / 4)); // in floats
  const bytes = 4 * base + kernelBytes(lengths);
  if (bytes > KERNEL_MAX_BYTES) throw new Error(`kernel call needs ${bytes} bytes, over ${KERNEL_MAX_BYTES}`);
  const have = k.memory.buffer.byteLength;
  if (bytes > have) k.memory.grow(Math.ceil((bytes - have) / 65536));
  const memory = new Float32Array(k.memory.buffer);
  const at = {} as Record<K, number>;
  let offset = base;
  names.forEach((name, i) => {
    const a = arrays[name];
    if (typeof a === 'number') memory.fill(0, offset, offset + a);
    else memory.set(a, offset);
    at[name] = 4 * offset;
    offset += padded(lengths[i]!);
  });
  call(k, at);
  const out = {} as Record<K, Float32Array>;
  for (const name of outputs)
    out[name] = memory.slice(at[name] / 4, at[name] / 4 + lengths[names.indexOf(name)]!);
  return out;
}

/** Bytes {@link runKernel} lays out for arrays of these lengths (what a caller checks against the limit). */
export function kernelBytes(lengths: readonly number[]): number {
  return 4 * lengths.reduce((sum, n) => sum + padded(n), 0);
}

/** A length in floats rounded up to 4, so every array starts 16-byte aligned: the kernels load four floats at a time. */
function padded(floats: number): number {
  return Math.ceil(floats / 4) * 4;
}
