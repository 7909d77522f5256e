import { join } from 'node:path';

/** Repository root (this file is infra/src/paths.ts). */
export const repoRoot = join(import.meta.dirname, '..', '..');
/** Project-local tool cache: the Python venv with the Temporal CLI, the tensorflow wheel. */
export const cacheDir = join(repoRoot, 'infra', '.cache');
