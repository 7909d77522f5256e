import { Rng, tf } from '@rpg/core';
import { expect } from 'vitest';
import { syntheticPositions } from '../src/index.js';

export const positions = (tokens: number, perLayer = 7) => syntheticPositions(tokens, perLayer);

export function maxAbsDiff(a: tf.Tensor | Float32Array, b: tf.Tensor | Float32Array): number {
  const x = a instanceof Float32Array ? a : (a.dataSync() as Float32Array);
  const y = b instanceof Float32Array ? b : (b.dataSync() as Float32Array);
  if (x.length !== y.length) throw new Error(`length ${x.length} vs ${y.length}`);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

export function maxAbs(a: tf.Tensor | Float32Array): number {
  const x = a instanceof Float32Array ? a : (a.dataSync() as Float32Array);
  let m = 0;
  for (const v of x) m = Math.max(m, Math.abs(v));
  return m;
}

/** Values and the gradients, by every input, of a fixed random projection of `f`'s output. */
export function valueAndGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]) {
  return tf.tidy(() => {
    const value = f(...inputs);
    const probe = tf.randomNormal(value.shape, 0, 1, 'float32', 5);
    const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), probe)))(inputs);
    return [value, ...grads].map((t) => tf.keep(t));
  });
}

/** Every output of `fast` within `tol` (relative to the reference's largest value) of `reference`'s. */
export function expectClose(fast: tf.Tensor[], reference: tf.Tensor[], tol: number) {
  expect(fast.length).toBe(reference.length);
  fast.forEach((t, i) => {
    expect(t.shape).toEqual(reference[i]!.shape);
    expect(maxAbs(reference[i]!)).toBeGreaterThan(0);
    expect(maxAbsDiff(t, reference[i]!) / maxAbs(reference[i]!)).toBeLessThan(tol);
  });
  tf.dispose([...fast, ...reference]);
}

/** `fast` and `reference` give the same values and the same gradients by every input, within `tol` (relative). */
export function expectSameAsReference(
  fast: (...xs: tf.Tensor[]) => tf.Tensor,
  reference: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: tf.Tensor[],
  tol: number,
) {
  expectClose(valueAndGrads(fast, inputs), valueAndGrads(reference, inputs), tol);
}

export const normal = (shape: number[], seed: number, mean = 0, std = 1) =>
  tf.tensor(
    new Rng(seed).normalArray(
      shape.reduce((a, b) => a * b, 1),
      mean,
      std,
    ),
    shape,
  );
