/**
 * PyTorch pickles (`torch.save`, `.pt` / `.pth`) where safetensors checkpoints are expected: converted by
 * `scripts/pytorch-to-safetensors.py` when the project's Python environment has torch, else refused with the
 * one-line conversion recipe.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PYTORCH_CONVERSION } from '@rpg/core';
import { ImportError } from './import.js';

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const CONVERTER = resolve(HERE, '../scripts/pytorch-to-safetensors.py');

/** The project's Python environment (`RPG_PYTHON` overrides it). */
export function projectPython(): string {
  return process.env.RPG_PYTHON ?? resolve(HERE, '../../../infra/.cache/venv/bin/python');
}

export const isPytorchFile = (name: string): boolean => /\.(pt|pth)$/i.test(name);

/** Whether `python` can import torch and safetensors. */
async function hasTorch(python: string): Promise<boolean> {
  if (!existsSync(python)) return false;
  try {
    await run(python, ['-c', 'import torch, safetensors.torch'], { timeout: 120_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Converts each PyTorch file into `outDir/<stem>.safetensors` and returns the new paths (in order). Without torch,
 * an {@link ImportError} names every such file and gives the recipe; nothing is converted.
 */
export async function convertPytorchFiles(files: readonly string[], outDir: string): Promise<string[]> {
  const python = projectPython();
  if (!(await hasTorch(python))) {
    throw new ImportError(
      `${files.length} PyTorch checkpoint${files.length === 1 ? '' : 's'} (torch.save), not safetensors: ` +
        `${files.map((f) => basename(f)).join(', ')}. Without torch in ${python} they cannot be converted here: ` +
        `install it (bash infra/scripts/setup-torch.sh), or convert each file with ${PYTORCH_CONVERSION}`,
    );
  }
  const out = files.map((f) => join(outDir, `${basename(f).replace(/\.(pt|pth)$/i, '')}.safetensors`));
  const args = files.flatMap((f, i) => [f, out[i]!]);
  try {
    await run(python, [CONVERTER, ...args], { timeout: 600_000, maxBuffer: 1 << 22 });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '')
      .trim()
      .split('\n')
      .slice(-5)
      .join('\n');
    throw new ImportError(`converting PyTorch checkpoints failed:\n${stderr || (err as Error).message}`);
  }
  return out;
}
