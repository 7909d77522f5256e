import { tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { triangleMask } from '../src/triangle-mask.js';

useBackend();

describe('triangleMask', () => {
  it('equals the band of ones tf.linalg.bandPart keeps, with the given inside and outside values', () => {
    for (const size of [1, 2, 5]) {
      const ones = tf.ones([size, size]);
      const cases = [
        [triangleMask(size, 'upper'), tf.linalg.bandPart(ones, 0, -1)],
        [triangleMask(size, 'strict-upper'), tf.sub(tf.linalg.bandPart(ones, 0, -1), tf.eye(size))],
        [triangleMask(size, 'lower'), tf.linalg.bandPart(ones, -1, 0)],
      ] as const;
      for (const [mask, band] of cases)
        expect(Array.from(mask.dataSync())).toEqual(Array.from(band.dataSync()));
      const bias = triangleMask(size, 'lower', 0, -1e9);
      const expected = tf.mul(tf.sub(1, tf.linalg.bandPart(ones, -1, 0)), -1e9);
      expect(Array.from(bias.dataSync())).toEqual(Array.from(expected.dataSync()).map((v) => v + 0));
      tf.dispose([ones, bias, expected, ...cases.flat()]);
    }
  });
});
