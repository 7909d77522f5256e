import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * Why `dir` cannot hold an artifact store (undefined: it can): it, or a part of its path, is a regular file, or it
 * is not writable. A missing directory is fine (the store creates it) when its nearest existing parent is a
 * writable directory. Checked before a backend loads or a server is contacted, so a typo fails at once.
 */
export async function storeDirProblem(dir: string): Promise<string | undefined> {
  let at = resolve(dir);
  for (;;) {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(at);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Missing, or under a file (ENOTDIR): look at the parent, which names the file in the way.
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(at) !== at) {
        at = dirname(at);
        continue;
      }
      return (err as Error).message;
    }
    if (!info.isDirectory()) {
      return at === resolve(dir)
        ? 'it is a file, not a directory'
        : `${at} is a file, not a directory, so the store cannot be created under it`;
    }
    try {
      await access(at, constants.W_OK | constants.X_OK);
    } catch {
      return `${at} is not writable`;
    }
    return undefined;
  }
}
