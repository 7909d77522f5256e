/** Timing of short repeated work, for the inspect commands and the benchmarks. */

/** The middle value of `xs` (the upper one of the two middles for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median milliseconds of `repeats` runs of `fn`, after one untimed warm-up run (kernels built, memory allocated). */
export function medianMs(fn: () => void, repeats: number): number {
  fn();
  const ms: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}
