import { nativeBackend, tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { batchNormTrain } from '../src/batch-norm.js';
import { nativeConvLayerTrain } from '../src/native-conv-layer.js';

useBackend();

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!;
const maxAbs = (a: tf.Tensor) => tf.max(tf.abs(a)).dataSync()[0]!;

describe('nativeConvLayerTrain', () => {
  // t per token (training) and shared by all tokens (one step for the batch).
  it.each([6, 1])(
    'equals the layer op by op: output, batch statistics and gradients (t rows: %i)',
    (tRows) => {
      const backend = nativeBackend();
      expect(backend, 'these tests run on tfjs-node').toBeDefined();
      const [n, k, cin, cout, kernel] = [6, 20, 3, 5, 5];
      const x = tf.randomNormal([n, k, cin], 0, 1, 'float32', 1) as tf.Tensor3D;
      const c = tf.randomNormal([n, k, 1], 0, 1, 'float32', 2) as tf.Tensor3D;
      const t = tf.randomNormal([tRows, k, 1], 1, 0.5, 'float32', 3) as tf.Tensor3D;
      const weight = tf.randomNormal([kernel, cin, cout], 0, 0.4, 'float32', 4) as tf.Tensor3D;
      const gamma = tf.tensor1d([0.5, 1, 1.5, 2, -1]);
      const beta = tf.tensor1d([0, 0.1, -0.2, 0.3, 1]);
      const dy = tf.randomNormal([n, k, cout], 0, 1, 'float32', 5);
      const reference = (
        xx: tf.Tensor,
        cc: tf.Tensor,
        tt: tf.Tensor,
        w: tf.Tensor,
        g: tf.Tensor,
        b: tf.Tensor,
      ) => {
        const z = tf.conv1d(tf.mul(tf.add(xx, cc), tt) as tf.Tensor3D, w as tf.Tensor3D, 1, 'same');
        return batchNormTrain(z, g, b);
      };
      const got = nativeConvLayerTrain(backend!, { x, c, t, weight, gamma, beta }, 1e-5);
      const want = reference(x, c, t, weight, gamma, beta);
      expect(maxDiff(got.y, tf.elu(want.y))).toBeLessThan(1e-6);
      expect(maxDiff(got.mean, want.mean)).toBeLessThan(1e-6);
      expect(maxDiff(got.variance, want.variance)).toBeLessThan(1e-5);
      const inputs = [x, c, t, weight, gamma, beta];
      const nativeY = (...a: tf.Tensor[]) => {
        const [xx, cc, tt, w, g, b] = a as [
          tf.Tensor3D,
          tf.Tensor3D,
          tf.Tensor3D,
          tf.Tensor3D,
          tf.Tensor3D,
          tf.Tensor3D,
        ];
        const out = nativeConvLayerTrain(
          backend!,
          { x: xx, c: cc, t: tt, weight: w, gamma: g, beta: b },
          1e-5,
        );
        tf.dispose([out.mean, out.variance]);
        return out.y;
      };
      const gradsOf = (f: (...a: tf.Tensor[]) => tf.Tensor) =>
        tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), dy)))(inputs);
      const g = gradsOf(nativeY);
      const r = gradsOf((...a) => {
        const out = reference(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!);
        tf.dispose([out.mean, out.variance]);
        return tf.elu(out.y);
      });
      g.forEach((gi, i) => {
        expect(gi.shape).toEqual(inputs[i]!.shape);
        expect(maxAbs(r[i]!)).toBeGreaterThan(1e-3);
        expect(maxDiff(gi, r[i]!) / maxAbs(r[i]!)).toBeLessThan(1e-5);
      });
      tf.dispose([got.y, got.mean, got.variance, want.y, want.mean, want.variance, ...g, ...r]);
      // Forward and backward leave nothing behind but what they return.
      const before = tf.memory().numTensors;
      const grads = gradsOf(nativeY);
      tf.dispose(grads);
      expect(tf.memory().numTensors, 'no tensor left behind').toBe(before);
      tf.dispose([...inputs, dy]);
    },
  );
});
