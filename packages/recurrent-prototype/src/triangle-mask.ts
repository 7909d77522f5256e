import { tf } from '@rpg/core';

/**
 * A `[size, size]` mask: `inside` where (row, column) lies in the triangle — `upper` row ≤ column, `strict-upper`
 * row < column, `lower` row ≥ column — and `outside` elsewhere. Written from JavaScript: tf.linalg.bandPart of
 * ones takes about twenty small kernels every time it is built.
 */
export function triangleMask(
  size: number,
  which: 'upper' | 'strict-upper' | 'lower',
  inside = 1,
  outside = 0,
): tf.Tensor2D {
  const values = new Float32Array(size * size).fill(outside);
  for (let r = 0; r < size; r++) {
    const row = r * size;
    if (which === 'lower') values.fill(inside, row, row + r + 1);
    else values.fill(inside, row + r + (which === 'strict-upper' ? 1 : 0), row + size);
  }
  return tf.tensor2d(values, [size, size]);
}
