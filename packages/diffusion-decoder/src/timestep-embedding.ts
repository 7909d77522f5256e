/** Size of the sinusoidal step embedding fed to each time MLP (as in the reference). */
export const TIME_EMBEDDING_SIZE = 256;

/** The sinusoidal step embedding: [cos(t·f_i), sin(t·f_i)], f_i = exp(−ln(10000)·i/128), i < 128. */
export function timestepEmbedding(steps: ArrayLike<number>, size = TIME_EMBEDDING_SIZE): Float32Array {
  const half = size / 2;
  const freqs = new Float64Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.exp((-Math.log(10000) * i) / half);
  const out = new Float32Array(steps.length * size);
  const cache = new Map<number, Float32Array>();
  for (let r = 0; r < steps.length; r++) {
    const t = steps[r]!;
    let row = cache.get(t);
    if (!row) {
      row = new Float32Array(size);
      for (let i = 0; i < half; i++) {
        row[i] = Math.cos(t * freqs[i]!);
        row[half + i] = Math.sin(t * freqs[i]!);
      }
      cache.set(t, row);
    }
    out.set(row, r * size);
  }
  return out;
}
