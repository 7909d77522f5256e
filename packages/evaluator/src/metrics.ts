/**
 * Pure evaluation math: accuracy statistics, misclassification sets and their IoU (the novelty measure of the
 * RPG paper), and L2 distances in parameter space. No tfjs here, so everything is exact and fast to test.
 */

/** Summary of a list of accuracies (percent). `std` is the population standard deviation. */
export interface AccuracyStats {
  max: number;
  avg: number;
  min: number;
  std: number;
  count: number;
}

export function accuracyStats(accs: readonly number[]): AccuracyStats {
  if (accs.length === 0) throw new Error('accuracyStats needs at least one accuracy');
  let max = Number.NEGATIVE_INFINITY;
  let min = Number.POSITIVE_INFINITY;
  let sum = 0;
  for (const a of accs) {
    if (!Number.isFinite(a)) throw new Error(`accuracyStats got a non-finite accuracy: ${a}`);
    if (a > max) max = a;
    if (a < min) min = a;
    sum += a;
  }
  const avg = sum / accs.length;
  let sq = 0;
  for (const a of accs) sq += (a - avg) * (a - avg);
  return { max, avg, min, std: Math.sqrt(sq / accs.length), count: accs.length };
}

/**
 * A misclassification set: the indices of the test samples a model gets wrong, strictly increasing.
 * Sorted index lists keep sets small (a good model misses a few percent of the test set) and make
 * intersection a linear merge.
 */
export type MissSet = Int32Array;

/** Indices `i` where `predictions[i] !== labels[i]`, ascending. */
export function misclassified(predictions: ArrayLike<number>, labels: ArrayLike<number>): MissSet {
  if (predictions.length !== labels.length) {
    throw new Error(`misclassified: ${predictions.length} predictions for ${labels.length} labels`);
  }
  let count = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] !== labels[i]) count++;
  const out = new Int32Array(count);
  let j = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] !== labels[i]) out[j++] = i;
  return out;
}

/** Accuracy in percent from a misclassification set over `n` samples. */
export function accuracyFromMisses(misses: MissSet, n: number): number {
  if (!(n > 0)) throw new Error(`accuracyFromMisses needs n > 0, got ${n}`);
  return (100 * (n - misses.length)) / n;
}

/** |A ∩ B| for two ascending index lists. */
export function intersectionSize(a: MissSet, b: MissSet): number {
  let i = 0;
  let j = 0;
  let count = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x === y) {
      count++;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  return count;
}

/**
 * Intersection over union of two misclassification sets, |A∩B| / |A∪B|.
 * Both empty (two models that make no mistakes) is defined as 1: their error sets are identical, so they are
 * indistinguishable by this measure — the conservative choice for a novelty check.
 */
export function iou(a: MissSet, b: MissSet): number {
  const inter = intersectionSize(a, b);
  const union = a.length + b.length - inter;
  return union === 0 ? 1 : inter / union;
}

/** Mean IoU over all unordered pairs; `null` when there are fewer than two sets (no pair exists). */
export function meanPairwiseIou(sets: readonly MissSet[]): number | null {
  if (sets.length < 2) return null;
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < sets.length; i++) {
    for (let j = i + 1; j < sets.length; j++) {
      sum += iou(sets[i]!, sets[j]!);
      pairs++;
    }
  }
  return sum / pairs;
}

/** The highest IoU of `set` to any reference set, and which reference gives it (first on ties). */
export function maxIouToReference(
  set: MissSet,
  refs: readonly MissSet[],
  exclude = -1,
): { iou: number; index: number } {
  let best = Number.NEGATIVE_INFINITY;
  let index = -1;
  for (let r = 0; r < refs.length; r++) {
    if (r === exclude) continue;
    const v = iou(set, refs[r]!);
    if (v > best) {
      best = v;
      index = r;
    }
  }
  if (index < 0) throw new Error('maxIouToReference needs at least one reference set');
  return { iou: best, index };
}

/** Euclidean distance, accumulated in float64. */
export function l2Distance(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`l2Distance: lengths differ (${a.length} vs ${b.length})`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    sum += d * d;
  }
  return Math.sqrt(sum);
}

/**
 * The index in 0 … count−1 (except `exclude`) of the least `distance`, and that distance (first on ties); index −1
 * when there is none (no candidate, or every distance is NaN).
 */
export function argNearest(
  count: number,
  exclude: number,
  distance: (i: number) => number,
): { index: number; distance: number } {
  let index = -1;
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < count; i++) {
    if (i === exclude) continue;
    const d = distance(i);
    if (d < best) {
      best = d;
      index = i;
    }
  }
  return { index, distance: best };
}

/** The original closest (L2) to `generated`, and that distance (first on ties). */
export function nearestOriginal(
  generated: Float32Array,
  originals: readonly Float32Array[],
  exclude = -1,
): { index: number; distance: number } {
  const nearest = argNearest(originals.length, exclude, (i) => l2Distance(generated, originals[i]!));
  if (nearest.index < 0) throw new Error('nearestOriginal needs at least one original');
  return nearest;
}

/** Mean of a non-empty list; `null` for an empty one. */
export function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}
