/**
 * Writes that are complete or absent: a file or a directory is written under a temporary sibling name, flushed,
 * then renamed into place, so a crash or an error never leaves a half-written one behind.
 *
 * Light on purpose (node's own modules only, no tfjs): `@rpg/core/durable-write` imports it alone.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/** A sibling name for a temporary file or directory of `path`: unique, so concurrent writers never collide. */
export function temporarySibling(path: string): string {
  return `${path}.tmp-${randomBytes(6).toString('hex')}`;
}

/** Writes `data` to `path` atomically: a flushed temporary sibling renamed over `path`. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = temporarySibling(path);
  try {
    await writeFile(tmp, data, { flush: true });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Replaces the directory `dir` (if any) with one `fill` writes: `fill` writes into a temporary sibling, which
 * then takes the place of `dir`. On error the temporary directory is removed and `dir` is left as it was.
 */
export async function replaceDirAtomically(
  dir: string,
  fill: (tmpDir: string) => Promise<void>,
): Promise<void> {
  const tmp = temporarySibling(dir);
  try {
    await fill(tmp);
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Checks that `dir` can receive a new collection: it does not exist, or it is an empty directory. Throws an
 * error naming the directory and what to do otherwise. Call it before long work, so a bad `--out` fails fast.
 */
export async function assertFreshOutDir(dir: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isDir) throw new Error(`output ${dir} exists and is not a directory; give a new directory`);
  const present = await readdir(dir);
  if (present.length > 0) {
    throw new Error(
      `output directory ${dir} is not empty (${present.length} entries, e.g. ${present[0]}); give a new or empty directory`,
    );
  }
}

/**
 * Fills a new directory so that nobody sees it half-written: `fill` writes into a sibling
 * `<dir>.tmp-<random>`, which is then renamed to `dir` (replacing `dir` only if it is an empty directory).
 * On any error the temporary directory is removed and `dir` is left as it was.
 */
export async function writeDirAtomically<T>(dir: string, fill: (tmpDir: string) => Promise<T>): Promise<T> {
  const target = resolve(dir);
  await assertFreshOutDir(target);
  await mkdir(dirname(target), { recursive: true });
  const tmp = temporarySibling(join(dirname(target), basename(target)));
  await mkdir(tmp);
  try {
    const result = await fill(tmp);
    await assertFreshOutDir(target); // it may have appeared meanwhile
    await rmdir(target).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await rename(tmp, target);
    return result;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
