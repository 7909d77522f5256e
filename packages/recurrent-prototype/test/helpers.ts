import type { tf } from '@rpg/core';
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
