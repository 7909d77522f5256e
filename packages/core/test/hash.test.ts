import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256File, sha256Hex, stableStringify } from '../src/hash.js';

describe('stableStringify', () => {
  it('sorts object keys recursively and keeps array order', () => {
    const a = { b: 1, a: { d: [3, 1, 2], c: 'x' } };
    const b = { a: { c: 'x', d: [3, 1, 2] }, b: 1 };
    expect(stableStringify(a)).toBe('{"a":{"c":"x","d":[3,1,2]},"b":1}');
    expect(stableStringify(b)).toBe(stableStringify(a));
    expect(stableStringify([2, 1])).not.toBe(stableStringify([1, 2]));
  });

  it('produces JSON that parses back to the same value', () => {
    const value = {
      s: 'quote " and \\ and \n and ü',
      n: -1.5e-7,
      z: 0,
      t: true,
      f: false,
      nul: null,
      e: [],
      o: {},
    };
    expect(JSON.parse(stableStringify(value))).toEqual(value);
  });

  it('drops undefined object properties', () => {
    expect(stableStringify({ a: 1, b: undefined })).toBe('{"a":1}');
  });

  it('applies toJSON like JSON.stringify (e.g. Date)', () => {
    const date = new Date('2024-01-02T03:04:05.000Z');
    expect(stableStringify({ date })).toBe('{"date":"2024-01-02T03:04:05.000Z"}');
  });

  it.each([
    ['undefined in an array', [1, undefined], /undefined array element at \$\[1\]/],
    ['top-level undefined', undefined, /undefined/],
    ['a function', { f: () => 1 }, /function at \$\.f/],
    ['NaN', { x: Number.NaN }, /non-finite number NaN at \$\.x/],
    ['Infinity', [Number.POSITIVE_INFINITY], /non-finite number Infinity/],
    ['a bigint', { n: 1n }, /bigint at \$\.n/],
    ['a symbol', { s: Symbol('s') }, /symbol/],
    ['a Map', { m: new Map() }, /Map at \$\.m/],
    ['a typed array', new Float32Array(2), /Float32Array/],
  ])('rejects %s with a clear error', (_name, value, message) => {
    expect(() => stableStringify(value)).toThrow(message);
  });

  it('rejects circular references but allows shared ones', () => {
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(() => stableStringify(loop)).toThrow(/circular reference at \$\.self/);
    const shared = { x: 1 };
    expect(stableStringify({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });
});

describe('sha256', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rpg-hash-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('matches known vectors for strings and bytes', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(new TextEncoder().encode('abc'))).toBe(sha256Hex('abc'));
  });

  it('hashes files by streaming, equal to hashing the bytes', async () => {
    // Larger than one read-stream chunk (64 KiB) so several chunks are combined.
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 31) % 251);
    const file = join(dir, 'big.bin');
    await writeFile(file, bytes);
    expect(await sha256File(file)).toBe(sha256Hex(bytes));

    const empty = join(dir, 'empty.bin');
    await writeFile(empty, '');
    expect(await sha256File(empty)).toBe(sha256Hex(''));
  });

  it('rejects a missing file', async () => {
    await expect(sha256File(join(dir, 'nope'))).rejects.toThrow(/ENOENT/);
  });
});
