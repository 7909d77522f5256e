/**
 * Setup every package's tests share: the tfjs backend, loaded quietly once per file, and a temporary directory
 * per file that is removed after its tests. Exported as `@rpg/core/test-support` (test code only).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { loadBackend } from '../src/backend.js';

/** Loads the tfjs backend before this file's tests. */
export function useBackend(): void {
  beforeAll(async () => {
    await loadBackend({ log: null });
  });
}

/**
 * A fresh directory under the system's temporary one (its name starts with `prefix`) for this file's tests,
 * removed after them. The returned function gives its path inside tests and hooks.
 */
export function useTempDir(prefix: string): () => string {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  return () => {
    if (dir === undefined)
      throw new Error('the temporary directory exists only inside tests and their hooks');
    return dir;
  };
}
