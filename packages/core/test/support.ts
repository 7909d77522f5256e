/**
 * Setup every package's tests share: the tfjs backend, loaded quietly once per file, and a temporary directory
 * per file that is removed after its tests. Exported as `@rpg/core/test-support` (test code only).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
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

/** What a CLI run in a child process gave. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a package's command line (`bin/cli.mjs` beside the test directory `testDir`, e.g. `import.meta.dirname`)
 * in a child process; resolves with its exit code and output, never rejects.
 */
export function packageCli(testDir: string, options: { timeout?: number } = {}) {
  const cli = join(testDir, '..', 'bin', 'cli.mjs');
  return (...args: string[]): Promise<CliResult> =>
    new Promise((resolve) => {
      execFile(process.execPath, [cli, ...args], options, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
}

/** The error `fn` throws, checked to be a `type`; the test fails when it throws nothing. */
export function thrownBy<E extends Error>(type: abstract new (...args: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return err as E;
  }
  throw new Error(`expected a ${type.name}, but nothing was thrown`);
}

/** The error `promise` rejects with, checked to be a `type`; the test fails when it resolves. */
export async function rejectionOf<E extends Error>(
  type: abstract new (...args: never[]) => E,
  promise: Promise<unknown>,
): Promise<E> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(type);
  return err as E;
}
