import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

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
  const tmp = join(dirname(target), `${basename(target)}.tmp-${randomBytes(6).toString('hex')}`);
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
