import { describe, expect, it } from 'vitest';
import {
  accuracyFromMisses,
  accuracyStats,
  intersectionSize,
  iou,
  l2Distance,
  maxIouToReference,
  mean,
  meanPairwiseIou,
  misclassified,
  nearestOriginal,
} from '../src/metrics.js';

const set = (...xs: number[]) => Int32Array.from(xs);

describe('accuracyStats', () => {
  it('gives max, avg, min and population std', () => {
    const s = accuracyStats([90, 92, 94, 96]);
    expect(s.max).toBe(96);
    expect(s.min).toBe(90);
    expect(s.avg).toBe(93);
    expect(s.std).toBeCloseTo(Math.sqrt(5), 12);
    expect(s.count).toBe(4);
  });
  it('handles one value and rejects none or NaN', () => {
    expect(accuracyStats([88.5])).toEqual({ max: 88.5, avg: 88.5, min: 88.5, std: 0, count: 1 });
    expect(() => accuracyStats([])).toThrow(/at least one/);
    expect(() => accuracyStats([1, Number.NaN])).toThrow(/non-finite/);
  });
});

describe('misclassification sets', () => {
  it('lists the wrong indices in order', () => {
    const pred = Int32Array.from([0, 1, 2, 3, 4, 5]);
    const labels = Int32Array.from([0, 9, 2, 9, 9, 5]);
    expect(Array.from(misclassified(pred, labels))).toEqual([1, 3, 4]);
    expect(accuracyFromMisses(misclassified(pred, labels), 6)).toBe(50);
  });
  it('rejects length mismatches', () => {
    expect(() => misclassified(Int32Array.from([1]), Int32Array.from([1, 2]))).toThrow(
      /1 predictions for 2 labels/,
    );
  });
});

describe('iou', () => {
  it('computes |A∩B|/|A∪B| on hand-made sets', () => {
    expect(intersectionSize(set(1, 3, 5, 7), set(3, 4, 5, 8))).toBe(2);
    expect(iou(set(1, 3, 5, 7), set(3, 4, 5, 8))).toBeCloseTo(2 / 6, 15);
    expect(iou(set(1, 2, 3), set(1, 2, 3))).toBe(1);
    expect(iou(set(1, 2), set(3, 4))).toBe(0);
    expect(iou(set(0, 10, 20, 30), set(10))).toBe(0.25);
  });
  it('defines both-empty as 1 and one-empty as 0', () => {
    expect(iou(set(), set())).toBe(1);
    expect(iou(set(), set(4))).toBe(0);
    expect(iou(set(4), set())).toBe(0);
  });
  it('is symmetric', () => {
    const a = set(0, 2, 4, 6, 8, 10);
    const b = set(1, 2, 3, 4, 11);
    expect(iou(a, b)).toBe(iou(b, a));
    expect(iou(a, b)).toBeCloseTo(2 / 9, 15);
  });
  it('averages over unordered pairs', () => {
    // pairs: (a,b)=1/3, (a,c)=0, (b,c)=1/3 → mean 2/9
    const a = set(1, 2);
    const b = set(2, 3);
    const c = set(3, 4);
    expect(meanPairwiseIou([a, b, c])).toBeCloseTo(2 / 9, 15);
    expect(meanPairwiseIou([a])).toBeNull();
    expect(meanPairwiseIou([])).toBeNull();
  });
  it('finds the max IoU to references, optionally excluding one', () => {
    const refs = [set(1, 2, 3), set(1, 2, 3, 4), set(9)];
    expect(maxIouToReference(set(1, 2, 3, 4), refs)).toEqual({ iou: 1, index: 1 });
    expect(maxIouToReference(set(1, 2, 3, 4), refs, 1)).toEqual({ iou: 0.75, index: 0 });
    expect(() => maxIouToReference(set(1), [])).toThrow(/at least one/);
  });
});

describe('distances', () => {
  it('l2Distance on hand-made vectors', () => {
    expect(l2Distance(Float32Array.from([0, 0, 0]), Float32Array.from([3, 4, 0]))).toBe(5);
    expect(l2Distance(Float32Array.from([1, 1]), Float32Array.from([1, 1]))).toBe(0);
    expect(() => l2Distance(new Float32Array(2), new Float32Array(3))).toThrow(/lengths differ/);
  });
  it('nearestOriginal picks the closest and reports its distance', () => {
    const originals = [Float32Array.from([0, 0]), Float32Array.from([10, 10]), Float32Array.from([1, 2])];
    expect(nearestOriginal(Float32Array.from([1, 1]), originals)).toEqual({ index: 2, distance: 1 });
    expect(nearestOriginal(Float32Array.from([9, 6]), originals)).toEqual({
      index: 1,
      distance: Math.sqrt(17),
    });
    // excluding itself: the nearest other original
    expect(nearestOriginal(originals[2]!, originals, 2)).toEqual({ index: 0, distance: Math.sqrt(5) });
  });
  it('mean of empty is null', () => {
    expect(mean([])).toBeNull();
    expect(mean([1, 2, 6])).toBe(3);
  });
});
