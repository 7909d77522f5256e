import {
  appendFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ArtifactError } from '../src/artifact-ref.js';
import { ArtifactStore, type PutOptions } from '../src/artifact-store.js';
import { sha256Hex } from '../src/hash.js';
import type { ArtifactRef } from '../src/manifest.js';

let base: string;
let root: string;
let store: ArtifactStore;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'rpg-store-'));
  root = join(base, 'store');
  store = new ArtifactStore(root);
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

/** A write callback that creates the given files (paths may contain subdirectories). */
function files(contents: Record<string, string>): (dir: string) => Promise<void> {
  return async (dir) => {
    for (const [rel, text] of Object.entries(contents)) {
      await mkdir(dirname(join(dir, rel)), { recursive: true });
      await writeFile(join(dir, rel), text);
    }
  };
}

const weights: PutOptions = { kind: 'weights', stage: 'train', config: { lr: 0.001, epochs: 3 }, inputs: [] };
const someFiles = files({ 'weights.bin': 'abcdefgh', 'sub/notes.txt': 'hello' });

/** The ArtifactError code a promise rejects with (fails the test if it resolves or throws something else). */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ArtifactError) return err.code;
    throw err;
  }
  throw new Error('expected an ArtifactError, but the call succeeded');
}

async function errorOf(promise: Promise<unknown>): Promise<ArtifactError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ArtifactError) return err;
    throw err;
  }
  throw new Error('expected an ArtifactError, but the call succeeded');
}

function fakeRef(uri: string, kind = 'a'): ArtifactRef {
  return { uri, sha256: '0'.repeat(64), bytes: 0, kind };
}

async function listOrEmpty(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

describe('put/get', () => {
  it('round-trips data files, config, inputs and meta', async () => {
    const input = await store.put(
      { kind: 'dataset', stage: 'harvest', config: { n: 1 }, inputs: [] },
      someFiles,
    );
    const ref = await store.put(
      { ...weights, inputs: [input], meta: { accuracy: 0.93 }, schemaVersion: 2 },
      files({ 'weights.bin': 'abcdefgh', 'sub/notes.txt': 'hello' }),
    );

    expect(ref.uri).toMatch(/^store:weights\/[0-9a-f]{32}$/);
    expect(ref.kind).toBe('weights');
    const { dir, manifest } = await store.get(ref);
    expect(dir).toBe(store.resolve(ref));
    expect(dir).toBe(join(root, 'weights', ref.uri.split('/')[1] ?? ''));
    expect(await readFile(join(dir, 'weights.bin'), 'utf8')).toBe('abcdefgh');
    expect(await readFile(join(dir, 'sub/notes.txt'), 'utf8')).toBe('hello');

    expect(manifest).toMatchObject({
      kind: 'weights',
      schemaVersion: 2,
      stage: 'train',
      config: { lr: 0.001, epochs: 3 },
      inputs: [input],
      meta: { accuracy: 0.93 },
    });
    expect(manifest.files.map((f) => [f.path, f.bytes])).toEqual([
      ['sub/notes.txt', 5],
      ['weights.bin', 8],
    ]);
    expect(manifest.files[1]?.sha256).toBe(sha256Hex('abcdefgh'));

    // The ref pins the manifest bytes, and counts every byte of the artifact.
    const manifestBytes = await readFile(join(dir, 'manifest.json'));
    expect(ref.sha256).toBe(sha256Hex(manifestBytes));
    expect(ref.bytes).toBe(manifestBytes.byteLength + 5 + 8);

    expect(await store.has(ref)).toBe(true);
    expect(await store.find('weights', manifest.key)).toEqual(ref);
    expect(await store.find('weights', '0'.repeat(32))).toBeUndefined();
  });

  it('stores an artifact with no data files', async () => {
    const ref = await store.put(weights, async () => {});
    expect((await store.get(ref)).manifest.files).toEqual([]);
  });

  it('is idempotent: the second put returns the same ref without calling write', async () => {
    const first = await store.put(weights, someFiles);
    const write = vi.fn(someFiles);
    // Same config with a different key order is the same run.
    const second = await store.put({ ...weights, config: { epochs: 3, lr: 0.001 } }, write);
    expect(write).not.toHaveBeenCalled();
    expect(second).toEqual(first);
    expect(await readdir(join(root, 'weights'))).toHaveLength(1);
  });

  it('rejects a write callback that creates manifest.json', async () => {
    expect(await codeOf(store.put(weights, files({ 'manifest.json': '{}' })))).toBe('RESERVED_FILE');
    expect(await listOrEmpty(join(root, '.tmp'))).toEqual([]);
  });

  it('rejects symlinks written by the write callback and leaves nothing behind', async () => {
    const code = await codeOf(store.put(weights, async (dir) => symlink('/etc/passwd', join(dir, 'link'))));
    expect(code).toBe('SYMLINK');
    expect(await listOrEmpty(join(root, 'weights'))).toEqual([]);
    expect(await listOrEmpty(join(root, '.tmp'))).toEqual([]);
  });
});

describe('keyFor', () => {
  const inputA = { uri: 'store:dataset/a', sha256: 'a'.repeat(64), bytes: 1, kind: 'dataset' };
  const inputB = { ...inputA, sha256: 'b'.repeat(64) };

  it('is 32 hex chars and independent of object key order', () => {
    const k1 = ArtifactStore.keyFor('train', { a: 1, nested: { x: [1, 2], y: 'z' } }, [inputA]);
    const k2 = ArtifactStore.keyFor('train', { nested: { y: 'z', x: [1, 2] }, a: 1 }, [inputA]);
    expect(k1).toMatch(/^[0-9a-f]{32}$/);
    expect(k2).toBe(k1);
  });

  it('changes when stage, config or inputs change', () => {
    const k = ArtifactStore.keyFor('train', { a: 1 }, [inputA]);
    expect(ArtifactStore.keyFor('eval', { a: 1 }, [inputA])).not.toBe(k);
    expect(ArtifactStore.keyFor('train', { a: 2 }, [inputA])).not.toBe(k);
    expect(ArtifactStore.keyFor('train', { a: 1 }, [inputB])).not.toBe(k);
    expect(ArtifactStore.keyFor('train', { a: 1 }, [inputA, inputB])).not.toBe(k);
    expect(ArtifactStore.keyFor('train', { a: 1 }, [])).not.toBe(k);
  });

  it('validates input refs', () => {
    const bad = { ...inputA, sha256: 'nope' };
    expect(() => ArtifactStore.keyFor('train', {}, [bad])).toThrow(/REF_INVALID.*sha256/);
  });
});

describe('verification on get', () => {
  let ref: ArtifactRef;
  let dir: string;
  beforeEach(async () => {
    ref = await store.put(weights, someFiles);
    dir = store.resolve(ref);
  });

  it('detects a corrupted file (same size) and names the artifact and file', async () => {
    await writeFile(join(dir, 'weights.bin'), 'abcdefgX');
    const err = await errorOf(store.get(ref));
    expect(err.code).toBe('FILE_HASH_MISMATCH');
    expect(err.message).toContain(ref.uri);
    expect(err.message).toContain('weights.bin');
    expect(await store.has(ref)).toBe(false);
    expect(await store.find('weights', dir.split('/').pop() ?? '')).toBeUndefined();
  });

  it('detects a file whose size changed', async () => {
    await appendFile(join(dir, 'weights.bin'), 'more');
    expect(await codeOf(store.get(ref))).toBe('FILE_SIZE_MISMATCH');
  });

  it('detects a deleted file', async () => {
    await unlink(join(dir, 'sub/notes.txt'));
    const err = await errorOf(store.get(ref));
    expect(err.code).toBe('FILE_MISSING');
    expect(err.file).toBe('sub/notes.txt');
  });

  it('detects an extra file, also in a subdirectory', async () => {
    await writeFile(join(dir, 'sub/extra.txt'), 'x');
    const err = await errorOf(store.get(ref));
    expect(err.code).toBe('UNLISTED_FILE');
    expect(err.file).toBe('sub/extra.txt');
  });

  it('detects a tampered manifest', async () => {
    const manifestPath = join(dir, 'manifest.json');
    const text = await readFile(manifestPath, 'utf8');
    await writeFile(manifestPath, text.replace('"epochs": 3', '"epochs": 4'));
    expect(await codeOf(store.get(ref))).toBe('MANIFEST_HASH_MISMATCH');
  });

  it('detects a deleted manifest', async () => {
    await unlink(join(dir, 'manifest.json'));
    expect(await codeOf(store.get(ref))).toBe('FILE_MISSING');
  });

  it('rejects a manifest that hashes right but is invalid (file path escaping the artifact)', async () => {
    const manifestPath = join(dir, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    manifest.files[0].path = '../../outside';
    const raw = JSON.stringify(manifest);
    await writeFile(manifestPath, raw);
    const err = await errorOf(store.get({ ...ref, sha256: sha256Hex(raw) }));
    expect(err.code).toBe('MANIFEST_INVALID');
    expect(err.message).toContain('files.0.path');
  });

  it('rejects a ref whose byte count is wrong', async () => {
    expect(await codeOf(store.get({ ...ref, bytes: ref.bytes + 1 }))).toBe('BYTES_MISMATCH');
  });

  it('rejects a symlink inside the artifact', async () => {
    await unlink(join(dir, 'weights.bin'));
    const target = join(base, 'outside.bin');
    await writeFile(target, 'abcdefgh');
    await symlink(target, join(dir, 'weights.bin'));
    expect(await codeOf(store.get(ref))).toBe('SYMLINK');
  });

  it('put rebuilds a corrupt artifact, moving the corrupt copy aside', async () => {
    await writeFile(join(dir, 'weights.bin'), 'garbage!');
    const write = vi.fn(someFiles);
    const rebuilt = await store.put(weights, write);
    expect(write).toHaveBeenCalledOnce();
    expect(rebuilt.uri).toBe(ref.uri);
    expect(await store.has(rebuilt)).toBe(true);
    expect(await store.cleanTmp()).toBe(1); // the quarantined copy
  });
});

describe('crash safety', () => {
  it('a write that throws leaves no visible artifact and no temp dir', async () => {
    const boom = new Error('boom');
    const write = async (dir: string) => {
      await writeFile(join(dir, 'half.bin'), 'partial');
      throw boom;
    };
    await expect(store.put(weights, write)).rejects.toBe(boom);
    const key = ArtifactStore.keyFor(weights.stage, weights.config, weights.inputs);
    expect(await store.find('weights', key)).toBeUndefined();
    expect(await listOrEmpty(join(root, 'weights'))).toEqual([]);
    expect(await listOrEmpty(join(root, '.tmp'))).toEqual([]);
  });

  it('a temp dir left by a crash is invisible to find/get and removed by cleanTmp', async () => {
    const key = ArtifactStore.keyFor(weights.stage, weights.config, weights.inputs);
    const leftover = join(root, '.tmp', `${key}-crashed`);
    await mkdir(leftover, { recursive: true });
    await writeFile(join(leftover, 'weights.bin'), 'half');
    await writeFile(join(leftover, 'manifest.json'), '{}');

    expect(await store.find('weights', key)).toBeUndefined();
    expect(await codeOf(store.get(fakeRef(`store:weights/${key}`, 'weights')))).toBe('NOT_FOUND');
    expect(await codeOf(store.get(fakeRef(`store:.tmp/${key}-crashed`, '.tmp')))).toBe('REF_INVALID');

    // put ignores the leftover and still works.
    const ref = await store.put(weights, someFiles);
    expect(await store.has(ref)).toBe(true);

    expect(await store.cleanTmp()).toBe(1);
    expect(await readdir(join(root, '.tmp'))).toEqual([]);
    expect(await store.has(ref)).toBe(true);
  });

  it('cleanTmp with olderThanMs spares recent temp dirs', async () => {
    await mkdir(join(root, '.tmp', 'recent'), { recursive: true });
    expect(await store.cleanTmp({ olderThanMs: 60_000 })).toBe(0);
    expect(await readdir(join(root, '.tmp'))).toEqual(['recent']);
  });

  it('cleanTmp on an empty store is a no-op', async () => {
    expect(await store.cleanTmp()).toBe(0);
  });
});

describe('concurrency', () => {
  it('concurrent puts of the same key yield one artifact and the same ref', async () => {
    const slowWrite = vi.fn(async (dir: string) => {
      await new Promise((resolve) => setTimeout(resolve, 20)); // make sure both are mid-write together
      await someFiles(dir);
    });
    const refs = await Promise.all([store.put(weights, slowWrite), store.put(weights, slowWrite)]);
    // Both wrote, so one of them lost the rename race and must have adopted the winner's artifact.
    expect(slowWrite).toHaveBeenCalledTimes(2);
    expect(refs[1]).toEqual(refs[0]);
    expect(await readdir(join(root, 'weights'))).toHaveLength(1);
    expect(await readdir(join(root, '.tmp'))).toEqual([]);
    expect(await store.has(refs[0] as ArtifactRef)).toBe(true);
  });
});

describe('ref safety', () => {
  it.each([
    ['store:../x/y', 'REF_ESCAPES_STORE'],
    ['store:a/../../etc', 'REF_ESCAPES_STORE'],
    ['/etc/passwd', 'REF_ESCAPES_STORE'],
    ['store:/abs/path', 'REF_ESCAPES_STORE'],
    ['store:a\\b', 'REF_ESCAPES_STORE'],
    ['store:a/b\0', 'REF_ESCAPES_STORE'],
    ['store:C:/x', 'REF_ESCAPES_STORE'],
    ['file:///x', 'REF_INVALID'],
    ['store:a//b', 'REF_INVALID'],
    ['store:a/b/c', 'REF_INVALID'],
    ['store:a', 'REF_INVALID'],
    ['store:a/.', 'REF_INVALID'],
  ])('rejects %j with %s in get, has and resolve', async (uri, code) => {
    const ref = fakeRef(uri);
    expect(await codeOf(store.get(ref))).toBe(code);
    expect(await codeOf(store.has(ref))).toBe(code);
    expect(await codeOf((async () => store.resolve(ref))())).toBe(code);
  });

  it.each([
    [{ uri: 'store:a/b', sha256: 'xyz', bytes: 0, kind: 'a' }, 'sha256'],
    [{ uri: 'store:a/b', sha256: '0'.repeat(64), bytes: -1, kind: 'a' }, 'bytes'],
    [{ uri: 'store:a/b', sha256: '0'.repeat(64), bytes: 0 }, 'kind'],
    [{ uri: 42, sha256: '0'.repeat(64), bytes: 0, kind: 'a' }, 'uri'],
    [{ uri: 'store:a/b', sha256: '0'.repeat(64), bytes: 0, kind: 'other' }, 'kind'],
  ])('rejects malformed ref %j with REF_INVALID naming %s', async (ref, field) => {
    const err = await errorOf(store.get(ref as ArtifactRef));
    expect(err.code).toBe('REF_INVALID');
    expect(err.message).toContain(`"${field}"`);
  });

  it('rejects a symlinked kind directory pointing outside the store', async () => {
    const ref = await store.put(weights, someFiles);
    const key = ref.uri.split('/')[1] ?? '';
    // Move the real artifact outside and point a kind dir at it.
    const outside = join(base, 'outside');
    await mkdir(outside);
    await rename(join(root, 'weights', key), join(outside, key));
    await rm(join(root, 'weights'), { recursive: true });
    await symlink(outside, join(root, 'weights'));

    expect(await codeOf(store.get(ref))).toBe('REF_ESCAPES_STORE');
    expect(await codeOf(store.has(ref))).toBe('REF_ESCAPES_STORE');
    expect(await codeOf(store.find('weights', key))).toBe('REF_ESCAPES_STORE');
  });

  it('rejects an artifact dir that is a symlink to another place inside the store', async () => {
    const ref = await store.put(weights, someFiles);
    const key = ref.uri.split('/')[1] ?? '';
    await symlink(join(root, 'weights', key), join(root, 'weights', 'f'.repeat(32)));
    expect(await codeOf(store.get({ ...ref, uri: `store:weights/${'f'.repeat(32)}` }))).toBe('SYMLINK');
  });

  it('find validates kind and key', async () => {
    expect(await codeOf(store.find('..', 'x'))).toBe('REF_INVALID');
    expect(await codeOf(store.find('weights', '../x'))).toBe('REF_INVALID');
  });

  it('put validates kind', async () => {
    expect(await codeOf(store.put({ ...weights, kind: '../evil' }, someFiles))).toBe('REF_INVALID');
    expect(await listOrEmpty(base)).toEqual([]);
  });

  it('never creates anything outside the store root', async () => {
    await store.put(weights, someFiles);
    expect(await readdir(base)).toEqual(['store']);
    expect((await stat(root)).isDirectory()).toBe(true);
  });
});
