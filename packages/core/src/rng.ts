/**
 * Seeded random numbers (xoshiro128**), so every random choice in the product is reproducible and its state
 * can be saved into a resume checkpoint and restored exactly.
 */
/** Serializable state: the four generator words and the pending second Box–Muller value, if any. */
export interface RngState {
  words: [number, number, number, number];
  spareNormal: number | null;
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** FNV-1a over the label, so `fork('init')` and `fork('noise')` give unrelated streams. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export class Rng {
  private s: Uint32Array;
  private spareNormal: number | undefined;

  constructor(seed: number | RngState) {
    if (typeof seed === 'object') {
      const { words, spareNormal } = seed;
      if (words.length !== 4 || words.every((v) => v === 0))
        throw new Error('RNG state must be 4 words, not all 0');
      this.s = Uint32Array.from(words);
      this.spareNormal = spareNormal ?? undefined;
    } else {
      if (!Number.isSafeInteger(seed)) throw new Error(`RNG seed must be an integer, got ${seed}`);
      const next = splitmix32((seed ^ Math.floor(seed / 2 ** 32)) >>> 0);
      this.s = Uint32Array.from([next(), next(), next(), next()]);
    }
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new Error(`int(n) needs a positive integer, got ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const v = this.spareNormal;
      this.spareNormal = undefined;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * this.uniform();
    this.spareNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** Fills (or creates) a Float32Array with N(mean, std²) values. */
  normalArray(n: number, mean = 0, std = 1, out = new Float32Array(n)): Float32Array {
    for (let i = 0; i < n; i++) out[i] = mean + std * this.normal();
    return out;
  }

  uniformArray(n: number, lo = 0, hi = 1, out = new Float32Array(n)): Float32Array {
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.uniform();
    return out;
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }

  /** `k` distinct indices from [0, n), in random order. */
  sample(n: number, k: number): number[] {
    if (k > n) throw new Error(`cannot sample ${k} distinct values from ${n}`);
    return this.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, k);
  }

  /** A 31-bit seed for APIs that take a number (tfjs initialisers). */
  seed(): number {
    return this.nextUint32() >>> 1;
  }

  /** An independent stream derived from this one's current state and a label; does not advance this one. */
  fork(label: string): Rng {
    const mix = splitmix32((this.s[0]! ^ hashLabel(label) ^ Math.imul(this.s[2]!, 0x27d4eb2d)) >>> 0);
    const words = [mix() ^ this.s[1]!, mix() ^ this.s[3]!, mix(), mix() | 1].map((v) => v >>> 0);
    return new Rng({ words: words as RngState['words'], spareNormal: null });
  }

  /** The full state, for resume checkpoints: restoring it continues the exact same sequence. */
  state(): RngState {
    return { words: Array.from(this.s) as RngState['words'], spareNormal: this.spareNormal ?? null };
  }

  static fromState(state: RngState): Rng {
    return new Rng(state);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
