/**
 * Malformed checkpoint files and paths given to import: each is refused with a message naming the file and what is
 * wrong, and the destination is never created. Checkpoints are written here with core's safetensors writer.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type StateDict, writeSafetensorsFile } from '@rpg/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImportError, importCheckpoints } from '../src/index.js';

const CLI = join(import.meta.dirname, '..', 'bin', 'cli.mjs');
const SECRET = 'TOP-SECRET-TOKEN-1234';

let root = '';
let n = 0;
const tiny = (v: number): StateDict =>
  new Map([
    ['w', { dtype: 'F32', shape: [2, 2], data: new Float32Array([v, 1, 2, 3]) }],
    ['b', { dtype: 'F32', shape: [2], data: new Float32Array([0, v]) }],
  ]);

/** A fresh source directory holding good checkpoints a.safetensors, b.safetensors. */
async function sourceDir(): Promise<string> {
  const dir = join(root, `src-${n++}`);
  await mkdir(dir);
  await writeSafetensorsFile(join(dir, 'a.safetensors'), tiny(0.5));
  await writeSafetensorsFile(join(dir, 'b.safetensors'), tiny(0.25));
  return dir;
}

/** Imports and expects an ImportError; checks that the destination was not created. */
async function refused(paths: string[]): Promise<string> {
  const dest = join(root, `out-${n++}`);
  const err = await importCheckpoints(paths, dest).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImportError);
  expect(existsSync(dest)).toBe(false);
  return (err as Error).message;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rpg-malformed-import-'));
  await writeFile(join(root, 'secret.txt'), `${SECRET}\n`.repeat(10));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('import: file names and links', () => {
  it('a directory entry whose name is not UTF-8 is read by its real name', async () => {
    const dir = await sourceDir();
    const raw = Buffer.concat([
      Buffer.from(`${dir}/c-`),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('.safetensors'),
    ]);
    await writeSafetensorsFile(join(dir, 'tmp.safetensors'), tiny(0.75));
    await rename(join(dir, 'tmp.safetensors'), raw);
    const meta = await importCheckpoints([dir], join(root, `out-${n++}`));
    expect(meta.checkpoints).toHaveLength(3);
    expect(meta.runs[0]!.sources).toEqual(['a.safetensors', 'b.safetensors', 'c-\uFFFD\uFFFD.safetensors']);
  });

  it('a non-UTF-8 name given as an argument: says why it cannot be found', async () => {
    const dir = await sourceDir();
    const message = await refused([join(dir, 'c-\uFFFD.safetensors')]);
    expect(message).toContain(
      `${dir}/c-\uFFFD.safetensors: no such file or directory; its name holds bytes that are not UTF-8`,
    );
    expect(message).toContain('give the directory that holds it');
  });

  it('a symlink out of its directory is not followed, and the target is not echoed', async () => {
    const dir = await sourceDir();
    await symlink(join(root, 'secret.txt'), join(dir, 'c.safetensors'));
    const message = await refused([dir]);
    expect(message).toContain(`${dir}/c.safetensors: a symlink to a file outside ${dir}; it is not followed`);
    expect(message).not.toContain(SECRET);
    expect(message).not.toContain('secret.txt');
  });

  it('a symlink to a file in the same directory is followed', async () => {
    const dir = await sourceDir();
    await symlink('a.safetensors', join(dir, 'c.safetensors'));
    const meta = await importCheckpoints([dir], join(root, `out-${n++}`));
    expect(meta.checkpoints).toHaveLength(3);
  });

  it('a dangling symlink', async () => {
    const dir = await sourceDir();
    await symlink(join(root, 'nowhere'), join(dir, 'c.safetensors'));
    expect(await refused([dir])).toContain(`${dir}/c.safetensors: a symlink whose target does not exist`);
  });

  it('a directory named *.safetensors', async () => {
    const dir = await sourceDir();
    await mkdir(join(dir, 'c.safetensors'));
    expect(await refused([dir])).toContain(`${dir}/c.safetensors: not a regular file`);
  });

  it('a FIFO named *.safetensors is refused without blocking', async () => {
    const dir = await sourceDir();
    execFileSync('mkfifo', [join(dir, 'c.safetensors')]);
    expect(await refused([dir])).toContain(`${dir}/c.safetensors: not a regular file`);
    expect(await refused([join(dir, 'c.safetensors')])).toContain(
      `${dir}/c.safetensors: not a regular file or a directory`,
    );
  });

  it('a missing path, an empty directory and a file listed twice: all reported at once', async () => {
    const dir = await sourceDir();
    const empty = join(root, `empty-${n++}`);
    await mkdir(empty);
    const message = await refused([
      join(root, 'missing.safetensors'),
      empty,
      dir,
      join(dir, 'a.safetensors'),
    ]);
    expect(message).toContain(`${join(root, 'missing.safetensors')}: no such file or directory`);
    expect(message).toContain(`${empty}: directory holds no *.safetensors files`);
    expect(message).toContain(`${dir}/a.safetensors: listed twice (also as ${dir}/a.safetensors)`);
  });
});

describe('import: file contents', () => {
  const bad = async (name: string, bytes: Uint8Array): Promise<string> => {
    const dir = await sourceDir();
    await writeFile(join(dir, name), bytes);
    const message = await refused([dir]);
    expect(message).toContain(`${dir}/${name}`);
    expect(message).toContain('unreadable');
    return message;
  };

  it('a text file given directly: its bytes are not echoed', async () => {
    const dir = await sourceDir();
    const text = join(dir, 'notes.safetensors');
    // An 8-byte little-endian length small enough to pass, then text that is not JSON.
    const header = Buffer.alloc(8);
    header.writeBigUInt64LE(BigInt(SECRET.length));
    await writeFile(text, Buffer.concat([header, Buffer.from(SECRET)]));
    const message = await refused([text]);
    expect(message).toContain(
      `${text}: cannot read: its header is not valid JSON (is it a safetensors file?)`,
    );
    expect(message).not.toContain(SECRET);
    expect(message).not.toContain('TOP');
  });

  it('an empty file', async () => {
    expect(await bad('c.safetensors', new Uint8Array())).toMatch(
      /shorter than the 8-byte header length prefix/,
    );
  });

  it('a truncated file', async () => {
    const dir = await sourceDir();
    const whole = execFileSync('cat', [join(dir, 'a.safetensors')]);
    expect(await bad('c.safetensors', whole.subarray(0, whole.length - 3))).toMatch(/c\.safetensors/);
  });

  it('a header length far past the end', async () => {
    const header = Buffer.alloc(16);
    header.writeBigUInt64LE(1_000_000n);
    expect(await bad('c.safetensors', header)).toMatch(/header length/);
  });

  it('a header that is JSON but not an object', async () => {
    const body = Buffer.from('[1,2,3]');
    const header = Buffer.alloc(8);
    header.writeBigUInt64LE(BigInt(body.length));
    expect(await bad('c.safetensors', Buffer.concat([header, body]))).toMatch(/header must be a JSON object/);
  });

  it('a tensor of another shape than the others', async () => {
    const dir = await sourceDir();
    await writeSafetensorsFile(
      join(dir, 'c.safetensors'),
      new Map([
        ['w', { dtype: 'F32', shape: [4], data: new Float32Array(4) }],
        ['b', { dtype: 'F32', shape: [2], data: new Float32Array(2) }],
      ]),
    );
    const message = await refused([dir]);
    expect(message).toContain(`${dir}/c.safetensors`);
    expect(message).toMatch(/shape/);
  });

  it('a NaN value', async () => {
    const dir = await sourceDir();
    await writeSafetensorsFile(join(dir, 'c.safetensors'), tiny(Number.NaN));
    const message = await refused([dir]);
    expect(message).toContain(`${dir}/c.safetensors`);
    expect(message).toMatch(/NaN|non-finite/);
  });
});

describe('rpg-checkpoint-harvest import (the real CLI)', () => {
  const cli = (...args: string[]) =>
    new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, _out, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr });
      });
    });

  it('exit 1 naming the link, nothing written; out-of-range flags name the flag and the range', async () => {
    const dir = await sourceDir();
    await symlink(join(root, 'secret.txt'), join(dir, 'c.safetensors'));
    const out = join(root, 'cli-out');
    const [link, runs] = await Promise.all([
      cli('import', dir, '--out', out),
      cli('harvest', '--network', 'mlp', '--out', out, '--runs', '5000'),
    ]);
    expect(link.code).toBe(1);
    expect(link.stderr).toContain(`${dir}/c.safetensors: a symlink to a file outside`);
    expect(link.stderr).not.toContain(SECRET);
    expect(runs.code).toBe(1);
    expect(runs.stderr).toContain('--runs must be an integer in 1…1000, got "5000"');
    expect(existsSync(out)).toBe(false);
  });
});
