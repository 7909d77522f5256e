/**
 * Malformed inputs at core's edges: JSON config files, zod issue lists, store directories and artifact refs. Every
 * case checks that the error names the input and what is wrong, and that nothing was written.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ArtifactError, parseStoreUri, validateRef } from '../src/artifact-ref.js';
import { ArtifactStore } from '../src/artifact-store.js';
import { JsonFileError, MAX_CONFIG_BYTES, readJsonFile } from '../src/json-file.js';
import { storeDirProblem } from '../src/store-path.js';
import { issueLines, MAX_LISTED_ISSUES } from '../src/zod-issues.js';
import { rejectionOf, thrownBy } from './support.js';

let root = '';
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rpg-malformed-core-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function jsonError(path: string, options?: { maxBytes?: number }): Promise<string> {
  return (await rejectionOf(JsonFileError, readJsonFile(path, options))).message;
}

describe('config files', () => {
  it('a missing file: names it and says so', async () => {
    const p = join(root, 'missing.json');
    expect(await jsonError(p)).toBe(`cannot read config ${p}: no such file`);
  });

  it('a directory', async () => {
    const p = join(root, 'a-dir.json');
    await mkdir(p);
    expect(await jsonError(p)).toBe(`config ${p} is a directory, not a JSON file`);
  });

  it('a path through a file', async () => {
    const f = join(root, 'plain');
    await writeFile(f, '{}');
    expect(await jsonError(join(f, 'x.json'))).toMatch(/not a directory/);
  });

  it('a FIFO is refused without blocking on it', async () => {
    const p = join(root, 'fifo.json');
    execFileSync('mkfifo', [p]);
    expect(await jsonError(p)).toBe(`config ${p} is not a regular file`);
  });

  it('not JSON: names the file and the parse error', async () => {
    const p = join(root, 'bad.json');
    await writeFile(p, '{"name": ');
    expect(await jsonError(p)).toMatch(new RegExp(`^config ${p} is not JSON: `));
  });

  it('not UTF-8', async () => {
    const p = join(root, 'latin1.json');
    await writeFile(p, Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d]));
    expect(await jsonError(p)).toBe(`cannot read config ${p}: it is not UTF-8 text`);
  });

  it('a 50 MB file is refused from its size, before it is read', async () => {
    const p = join(root, 'huge.json');
    await writeFile(p, '');
    await truncate(p, 50 * 1024 * 1024); // sparse: costs no disk
    const before = process.memoryUsage().rss;
    expect(await jsonError(p)).toBe(
      `config ${p} is 50.0 MB; a config file may be at most 1.0 MB (is it the right file?)`,
    );
    expect(process.memoryUsage().rss - before).toBeLessThan(20 * 1024 * 1024);
  });

  it('one byte over the limit', async () => {
    const p = join(root, 'limit.json');
    await writeFile(p, `"${'x'.repeat(MAX_CONFIG_BYTES - 1)}"`);
    expect(await jsonError(p)).toMatch(/is 1\.0 MB; a config file may be at most 1\.0 MB/);
  });

  it('the limit is the caller’s to choose, and the message says what the file is', async () => {
    const p = join(root, 'spec.json');
    await writeFile(p, JSON.stringify({ sizes: [1, 2, 3] }));
    const err = await readJsonFile(p, { what: 'network spec', maxBytes: 10 }).catch((e: Error) => e.message);
    expect(err).toBe(
      `network spec ${p} is 17 bytes; a network spec file may be at most 10 bytes (is it the right file?)`,
    );
  });

  it('a good file parses', async () => {
    const p = join(root, 'good.json');
    await writeFile(p, '{"a": [1, 2]}');
    expect(await readJsonFile(p)).toEqual({ a: [1, 2] });
  });
});

describe('issue lists', () => {
  it('a value with 300,000 bad entries gives a short message', () => {
    const schema = z.array(z.number().int());
    const r = schema.safeParse(Array.from({ length: 300_000 }, () => 0.5));
    const lines = issueLines(r.error!);
    expect(lines).toHaveLength(MAX_LISTED_ISSUES + 1);
    expect(lines[0]).toBe('0: Invalid input: expected int, received number');
    expect(lines.at(-1)).toBe(`… and ${300_000 - MAX_LISTED_ISSUES} more issues`);
  });

  it('a huge key or message is clipped', () => {
    const r = z
      .object({})
      .strict()
      .safeParse({ ['k'.repeat(100_000)]: 1 });
    const [line] = issueLines(r.error!);
    expect(line!.length).toBeLessThan(400);
    expect(line).toMatch(/… \(\d+ characters\)$/);
  });
});

describe('store directories', () => {
  it('a regular file', async () => {
    const f = join(root, 'store-file');
    await writeFile(f, 'x');
    expect(await storeDirProblem(f)).toBe('it is a file, not a directory');
  });

  it('under a regular file', async () => {
    const f = join(root, 'store-parent-file');
    await writeFile(f, 'x');
    expect(await storeDirProblem(join(f, 'store'))).toBe(
      `${f} is a file, not a directory, so the store cannot be created under it`,
    );
  });

  it.skipIf(process.getuid?.() === 0)('a read-only directory', async () => {
    const d = join(root, 'ro');
    await mkdir(d);
    await chmod(d, 0o500);
    expect(await storeDirProblem(join(d, 'store'))).toBe(`${d} is not writable`);
    await chmod(d, 0o700);
  });

  it('a missing directory under a writable one is fine, and is not created by the check', async () => {
    const d = join(root, 'fresh', 'store');
    expect(await storeDirProblem(d)).toBeUndefined();
    expect(await readdir(root)).not.toContain('fresh');
  });
});

describe('artifact refs', () => {
  const sha = 'a'.repeat(64);
  const refError = (fn: () => unknown) => thrownBy(ArtifactError, fn);

  it.each([
    ['store:tokens/../../etc', 'REF_ESCAPES_STORE', 'uri contains a ".." segment'],
    ['/etc/passwd', 'REF_ESCAPES_STORE', 'uri is an absolute path'],
    ['store:tokens\\abc', 'REF_ESCAPES_STORE', 'uri contains a backslash'],
    ['store:tokens/ab\0c', 'REF_ESCAPES_STORE', 'uri contains NUL'],
    ['tokens/abc', 'REF_INVALID', 'must look like store:<kind>/<key>'],
    ['store:tokens/abc/def', 'REF_INVALID', 'exactly two segments'],
    ['store:.tmp/abc', 'REF_INVALID', 'kind ".tmp" must match'],
  ])('uri %j: %s', (uri, code, why) => {
    const err = refError(() => parseStoreUri(uri));
    expect(err.code).toBe(code);
    expect(err.message).toContain(why);
  });

  it.each([
    [{ uri: 'store:tokens/abc', sha256: 'xyz', bytes: 1, kind: 'tokens' }, 'sha256'],
    [{ uri: 'store:tokens/abc', sha256: sha, bytes: -1, kind: 'tokens' }, 'bytes'],
    [{ uri: 'store:tokens/abc', sha256: sha, bytes: 1.5, kind: 'tokens' }, 'bytes'],
    [{ uri: 42, sha256: sha, bytes: 1, kind: 'tokens' }, 'uri'],
  ])('ref %j: names field %s', (ref, field) => {
    const err = refError(() => validateRef(ref));
    expect(err.code).toBe('REF_INVALID');
    expect(err.message).toContain(`field "${field}"`);
  });

  it('a ref whose kind disagrees with its uri, and a missing artifact: nothing is created', async () => {
    const dir = join(root, 'refs-store');
    const store = new ArtifactStore(dir);
    const kindErr = await store
      .get({ uri: 'store:tokens/abc', sha256: sha, bytes: 1, kind: 'generator' })
      .catch((e: ArtifactError) => e);
    expect((kindErr as ArtifactError).message).toContain(
      'field "kind" is "generator" but the uri says "tokens"',
    );
    const missing = await store
      .get({ uri: 'store:tokens/abc', sha256: sha, bytes: 1, kind: 'tokens' })
      .catch((e: ArtifactError) => e);
    expect((missing as ArtifactError).code).toBe('NOT_FOUND');
    expect((missing as ArtifactError).message).toContain('store:tokens/abc');
    expect(await readdir(root)).not.toContain('refs-store');
  });
});
