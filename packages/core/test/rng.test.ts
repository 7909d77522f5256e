import { describe, expect, it } from 'vitest';
import { Rng } from '../src/rng.js';

describe('Rng', () => {
  it('gives the same sequence for the same seed and a different one for another seed', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const seqA = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(seqA);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(seqA);
  });

  it('restores its exact state, including a pending Box-Muller value', () => {
    const rng = new Rng(7);
    rng.normal(); // leaves the second value of the pair pending
    const saved = JSON.parse(JSON.stringify(rng.state()));
    const expected = [rng.normal(), rng.normal(), rng.uniform(), rng.int(1000)];
    const restored = Rng.fromState(saved);
    expect([restored.normal(), restored.normal(), restored.uniform(), restored.int(1000)]).toEqual(expected);
  });

  it('draws uniforms in [0,1) and normals with mean 0 and std 1', () => {
    const rng = new Rng(1);
    const u = rng.uniformArray(20000);
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    const n = rng.normalArray(20000);
    const mean = n.reduce((s, v) => s + v, 0) / n.length;
    const std = Math.sqrt(n.reduce((s, v) => s + (v - mean) ** 2, 0) / (n.length - 1));
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(std - 1)).toBeLessThan(0.03);
  });

  it('shuffles into a permutation and samples distinct indices', () => {
    const rng = new Rng(3);
    const perm = rng.shuffle(Array.from({ length: 50 }, (_, i) => i));
    expect([...perm].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(perm).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    const picked = rng.sample(10, 10);
    expect(new Set(picked).size).toBe(10);
    expect(() => rng.sample(3, 4)).toThrow(/cannot sample 4/);
  });

  it('forks independent streams without advancing the parent', () => {
    const rng = new Rng(5);
    const before = rng.state();
    const f1 = rng.fork('init');
    const f2 = rng.fork('noise');
    expect(rng.state()).toEqual(before);
    expect(f1.nextUint32()).not.toBe(f2.nextUint32());
    expect(new Rng(5).fork('init').nextUint32()).toBe(new Rng(5).fork('init').nextUint32());
  });

  it('rejects seeds that are not integers', () => {
    expect(() => new Rng(1.5)).toThrow(/integer/);
    expect(() => new Rng({ words: [0, 0, 0, 0], spareNormal: null })).toThrow(/not all 0/);
  });
});
